"""Every message a person can see has an English translation (Spanish is the source)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from zones.database import OUT_OF_RANGE

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {
    "N_": None,
    "gettext": None,
    "_": None,
    "lazy_gettext": None,
    "ValidationProblem": (2,),
    "UserError": (2,),
    "Unknown": (2,),
    "Hidden": None,
    "Forbidden": None,
    "NotFound": None,
    "Conflict": None,
}


def test_every_message_has_an_english_translation():
    with (ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    translated = {m.id for m in catalog if m.id and m.string}
    found = {OUT_OF_RANGE}
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    for package in ("security", "zones", "dashboards"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map=method_map, keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    missing = sorted(found - translated)
    assert not missing, f"add these to translations/en/LC_MESSAGES/messages.po: {missing}"
    assert len(found) > 40
