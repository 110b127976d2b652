"""The committee's monthly report: a printable A4 PDF of one zone (or the district) for one month.

Laid out with reportlab; the charts and the map are drawn with matplotlib's Agg canvas and
embedded as PNG at 150 dpi. Nothing is fetched from the network (the map is the zone
polygons themselves, no web tiles) and the same figures always give the same bytes.
Text comes from a `labels` dict (Spanish msgids translated by the caller), so this module
never imports Flask and is tested without an app.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib
from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable
from shapely.geometry import shape
from sqlmodel import Session, col, select

from dashboards.livemap import KIND_COLOURS
from dashboards.trends import Month, compute_trends
from security.errors import N_
from security.kinds import KINDS
from zones.geometry import geojson_dict
from zones.models import Block
from zones.service import zones_feature_collection

HISTORY_MONTHS = 6
DPI = 150
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 15 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN

# The report's words, keyed for the layout; the values are Spanish msgids, translated by
# `report_labels` with whatever gettext the caller has (flask_babel's in the app and CLI).
LABELS: dict[str, str] = {
    "title": N_("Informe mensual del comité"),
    "district": N_("Todo el distrito"),
    "subtitle": N_("Seguridad ciudadana · Villa María del Triunfo"),
    "page": N_("Página %(page)s"),
    "figures": N_("Cifras del mes"),
    "figure": N_("Cifra"),
    "change": N_("Cambio"),
    "incidents": N_("Incidentes"),
    "resolved": N_("Incidentes resueltos"),
    "alarms_raised": N_("Alarmas activadas"),
    "alarms_real": N_("Alarmas reales"),
    "alarms_false": N_("Falsas alarmas"),
    "alarms_open": N_("Alarmas sin cerrar"),
    "alarm_response": N_("Respuesta a alarmas"),
    "incident_response": N_("Respuesta a incidentes"),
    "patrols": N_("Rondas de patrullaje"),
    "patrol_hours": N_("Horas de patrullaje"),
    "patrol_km": N_("Kilómetros patrullados"),
    "median": N_("mediana"),
    "p90": N_("percentil 90"),
    "points": N_("p. p."),
    "no_data": N_("sin datos"),
    "response_note": N_(
        "Tiempo de respuesta: minutos desde la activación de la alarma o el reporte del incidente "
        "hasta que alguien lo atiende."
    ),
    "comparison": N_("Comparación de incidentes"),
    "previous_month": N_("Mes anterior"),
    "year_before": N_("Mismo mes del año anterior"),
    "by_kind": N_("Incidentes por tipo"),
    "kind": N_("Tipo"),
    "share": N_("Parte"),
    "no_incidents": N_("No hubo incidentes en el mes."),
    "history_chart": N_("Incidentes por tipo, últimos %(count)s meses"),
    "alarms_chart": N_("Alarmas reales y falsas"),
    "real": N_("Reales"),
    "false": N_("Falsas"),
    "map": N_("Mapa del mes"),
    "map_zone": N_("Zona del informe"),
    "map_other_zones": N_("Otras zonas"),
    "map_blocks": N_("Manzanas con más incidentes (número = puesto)"),
    "top_blocks": N_("Las diez manzanas con más incidentes"),
    "block": N_("Manzana"),
    "zone": N_("Zona"),
    "no_blocks": N_("Ningún incidente del mes está ubicado en una manzana."),
}

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#5f6b76")
RULE = colors.HexColor("#c9d1d9")
BAND = colors.HexColor("#f1f4f7")
ACCENT = "#1f5f99"
BETTER, WORSE = colors.HexColor("#1a7f37"), colors.HexColor("#b42318")


def report_labels(*, translate: Callable[[str], str]) -> dict[str, str]:
    """The report's labels in the caller's language (`translate` is a gettext)."""
    return {key: translate(message) for key, message in LABELS.items()}


# --- gathering the figures --------------------------------------------------------------


def block_features(*, session: Session, block_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The given blocks as GeoJSON Features (EPSG:4326) with `id`, `name` and `zone_id`."""
    ids = list(block_ids)
    if not ids:
        return []
    rows = session.exec(select(Block).where(col(Block.id).in_(ids)).order_by(col(Block.id))).all()
    return [
        {
            "type": "Feature",
            "id": row.id,
            "geometry": geojson_dict(text=row.geometry),
            "properties": {"id": row.id, "name": row.name, "zone_id": row.zone_id},
        }
        for row in rows
    ]


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, read from the store; rendering it needs no database."""

    trends: dict[str, Any]
    previous: dict[str, Any]
    history: dict[str, Any]
    zones: dict[str, Any]
    top_blocks_geo: list[dict[str, Any]]

    def render(self, *, locale: str, labels: dict[str, str]) -> bytes:
        """The PDF of these figures (see `build_committee_report`)."""
        return build_committee_report(
            trends=self.trends,
            previous=self.previous,
            history=self.history,
            zones=self.zones,
            top_blocks_geo=self.top_blocks_geo,
            locale=locale,
            labels=labels,
        )


def report_data(*, session: Session, zone_id: int | None, month: Month) -> ReportData:
    """The figures of a zone (or the district) for `month`, the month before and the six months
    up to it; TrendsError when the zone does not exist."""
    trends = compute_trends(session=session, zone_id=zone_id, first=month, last=month)
    previous = compute_trends(session=session, zone_id=zone_id, first=month.shift(-1), last=month.shift(-1))
    history = compute_trends(session=session, zone_id=zone_id, first=month.shift(1 - HISTORY_MONTHS), last=month)
    top_ids = [b["block_id"] for b in trends["incidents"]["top_blocks"]]
    return ReportData(
        trends=trends,
        previous=previous,
        history=history,
        zones=zones_feature_collection(session=session),
        top_blocks_geo=block_features(session=session, block_ids=top_ids),
    )


def committee_report(
    *, session: Session, zone_id: int | None, month: Month, locale: str, labels: dict[str, str]
) -> bytes:
    """The PDF report of a zone (or the district) for `month`; TrendsError for a missing zone."""
    return report_data(session=session, zone_id=zone_id, month=month).render(locale=locale, labels=labels)


# --- the PDF ----------------------------------------------------------------------------


def build_committee_report(
    *,
    trends: dict[str, Any],
    previous: dict[str, Any],
    zones: dict[str, Any],
    top_blocks_geo: list[dict[str, Any]] | None = None,
    locale: str,
    labels: dict[str, str],
    history: dict[str, Any] | None = None,
) -> bytes:
    """Lay out the committee's monthly report as A4 PDF bytes.

    Args:
        trends: `compute_trends` of the reported month alone (first == last); its figures,
            top blocks and `comparison` (previous month, same month a year before) are shown.
        previous: `compute_trends` of the month before, for the figure-by-figure comparison.
        zones: the district's zones as a FeatureCollection in EPSG:4326 (`zones_feature_collection`);
            the report's zone is highlighted on the map.
        top_blocks_geo: Features (EPSG:4326) of the month's top blocks, matched to
            `trends["incidents"]["top_blocks"]` by `id`; those without one are listed but not drawn.
        locale: "es" (default language) or "en"; month names and numbers follow it.
        labels: `report_labels(...)` in that language.
        history: `compute_trends` of the months up to the reported one (usually six), for the
            incidents-by-kind chart; without it the chart shows the reported month only.

    Returns:
        The PDF. The same arguments give the same bytes (no timestamps, no random ids).

    Raises:
        ValueError: `trends` covers more than one month.
    """
    if trends["from"] != trends["to"]:
        raise ValueError("trends must cover exactly the reported month (from == to)")
    _register_fonts()
    labels = {**LABELS, **labels}  # a label the caller lacks is shown in Spanish, the source language
    month = Month.parse(trends["to"])
    text = _Text(locale=locale, labels=labels)
    place = trends["zone_name"] or labels["district"]
    month_name = text.month_long(month)
    styles = _styles()

    story: list[Flowable] = [
        Paragraph(_esc(labels["title"]).upper(), styles["kicker"]),
        Paragraph(_esc(place), styles["title"]),
        Paragraph(_esc(month_name), styles["month"]),
        Paragraph(_esc(labels["subtitle"]), styles["muted"]),
        Spacer(0, 5 * mm),
        _cards(trends=trends, text=text, styles=styles),
        Spacer(0, 6 * mm),
        Paragraph(_esc(labels["figures"]), styles["h2"]),
        _figures_table(trends=trends, previous=previous, month=month, text=text, styles=styles),
        Paragraph(_esc(labels["response_note"]), styles["note"]),
        Spacer(0, 4 * mm),
        KeepTogether(
            [
                Paragraph(_esc(labels["comparison"]), styles["h2"]),
                _comparison_table(comparison=trends["comparison"], text=text, styles=styles),
            ]
        ),
        Spacer(0, 4 * mm),
        KeepTogether(
            [
                Paragraph(_esc(labels["by_kind"]), styles["h2"]),
                _kinds_and_alarms(trends=trends, previous=previous, month=month, text=text, styles=styles),
            ]
        ),
        CondPageBreak(90 * mm),
        KeepTogether(
            [
                Paragraph(_esc(text.label("history_chart", count=len((history or trends)["months"]))), styles["h2"]),
                _png(_history_chart(history=history or trends, text=text), width=CONTENT_WIDTH),
            ]
        ),
        CondPageBreak(125 * mm),
        KeepTogether(
            [
                Paragraph(_esc(labels["map"]), styles["h2"]),
                _map_and_blocks(trends=trends, zones=zones, blocks=top_blocks_geo or [], text=text, styles=styles),
            ]
        ),
    ]

    out = io.BytesIO()
    footer = f"Ronda · {place} · {month_name}"

    def on_page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 9 * mm, footer)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, 9 * mm, text.label("page", page=doc.page))
        canvas.restoreState()

    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=f"{labels['title']} · {place} · {month_name}",
        author="Ronda",
        subject=labels["subtitle"],
        lang=locale,
        invariant=True,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()


class _Text:
    """Labels and locale-aware numbers, months and durations for one report."""

    def __init__(self, *, locale: str, labels: dict[str, str]) -> None:
        self.locale = locale
        self.labels = labels

    def label(self, key: str, **params: Any) -> str:
        return self.labels[key] % params if params else self.labels[key]

    def kind(self, code: str) -> str:
        kind = KINDS.get(code)
        return kind.label(self.locale) if kind else code

    def month_long(self, month: Month) -> str:
        return format_skeleton("yMMMM", date(month.year, month.month, 1), locale=self.locale)

    def month_short(self, month: Month | str) -> str:
        m = Month.parse(month) if isinstance(month, str) else month
        return format_skeleton("yMMM", date(m.year, m.month, 1), locale=self.locale)

    def number(self, value: float | int | None) -> str:
        return self.labels["no_data"] if value is None else format_decimal(value, locale=self.locale)

    def share(self, value: float | None) -> str:
        return self.labels["no_data"] if value is None else format_percent(value, locale=self.locale)

    def minutes(self, seconds: float | None) -> str:
        if seconds is None:
            return self.labels["no_data"]
        return format_decimal(seconds / 60, format="#,##0.0", locale=self.locale) + " min"

    def signed(self, value: float, *, pattern: str = "#,##0") -> str:
        sign = "+" if value > 0 else "−" if value < 0 else "±"
        return sign + format_decimal(abs(value), format=pattern, locale=self.locale)

    def count_change(self, change: int, pct: float | None) -> str:
        if pct is None:
            return self.signed(change)
        sign = "+" if pct > 0 else "−" if pct < 0 else "±"
        return f"{self.signed(change)} ({sign}{format_percent(abs(pct) / 100, locale=self.locale)})"


def _register_fonts() -> None:
    # DejaVu ships with matplotlib: one font for text and charts, with every accent and ñ.
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(_FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_FONT_DIR / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=12, textColor=INK)
    return {
        "base": base,
        "kicker": ParagraphStyle("kicker", parent=base, fontSize=8.5, textColor=MUTED, spaceAfter=2),
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=22, leading=26),
        "month": ParagraphStyle("month", parent=base, fontSize=15, leading=20, textColor=colors.HexColor(ACCENT)),
        "muted": ParagraphStyle("muted", parent=base, fontSize=8.5, textColor=MUTED),
        "note": ParagraphStyle("note", parent=base, fontSize=7.5, leading=10, textColor=MUTED, spaceBefore=3),
        "h3": ParagraphStyle("h3", parent=base, fontName=FONT_BOLD, fontSize=9.5, leading=12, spaceAfter=3),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=FONT_BOLD, fontSize=11.5, leading=15, spaceBefore=4, spaceAfter=5
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "cell_right": ParagraphStyle("cell_right", parent=base, fontSize=8.5, leading=11, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", parent=base, fontName=FONT_BOLD, fontSize=8, leading=10, textColor=MUTED),
        "head_right": ParagraphStyle(
            "head_right", parent=base, fontName=FONT_BOLD, fontSize=8, leading=10, textColor=MUTED, alignment=TA_RIGHT
        ),
        "card_value": ParagraphStyle("card_value", parent=base, fontName=FONT_BOLD, fontSize=17, leading=21),
        "card_label": ParagraphStyle("card_label", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED),
    }


def _esc(value: object) -> str:
    """Text for a reportlab Paragraph, which reads a small XML markup."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table_style(*, header: bool = True, right_from: int = 1) -> TableStyle:
    commands: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (right_from, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        commands += [
            ("FONTNAME", (0, 0), (-1, 0), FONT_BOLD),
            ("TEXTCOLOR", (0, 0), (-1, 0), MUTED),
            ("FONTSIZE", (0, 0), (-1, 0), 8),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
        ]
    return TableStyle(commands)


def _cards(*, trends: dict[str, Any], text: _Text, styles: dict[str, ParagraphStyle]) -> Table:
    incidents, alarms = trends["incidents"], trends["alarms"]
    alarm_times = trends["response_times"]["alarm_to_acknowledgement"]
    cards = [
        (text.number(incidents["total"]), text.label("incidents")),
        (text.share(incidents["resolved_share"]), text.label("resolved")),
        (text.number(alarms["raised"]), text.label("alarms_raised")),
        (text.share(alarms["false_alarm_share"]), text.label("alarms_false")),
        (text.minutes(alarm_times["median_s"]), f"{text.label('alarm_response')} ({text.label('median')})"),
    ]
    cells = [
        [Paragraph(_esc(value), styles["card_value"]), Paragraph(_esc(label), styles["card_label"])]
        for value, label in cards
    ]
    width = CONTENT_WIDTH / len(cards)
    table = Table([cells], colWidths=[width] * len(cards))
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, -1), BAND),
                ("LINEBEFORE", (1, 0), (-1, -1), 2, colors.white),
                ("LEFTPADDING", (0, 0), (-1, -1), 7),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
            ]
        )
    )
    return table


def _change_cell(
    text: _Text,
    styles: dict[str, ParagraphStyle],
    current: float | None,
    before: float | None,
    *,
    kind: str,
    lower_is_better: bool | None,
) -> Paragraph:
    if current is None or before is None:
        return Paragraph("—", styles["cell_right"])
    diff = current - before
    if kind == "share":
        shown = f"{text.signed(diff * 100, pattern='#,##0.#')} {text.label('points')}"
    elif kind == "minutes":
        shown = text.signed(diff / 60, pattern="#,##0.0") + " min"
    elif kind == "decimal":
        shown = text.signed(diff, pattern="#,##0.0")
    else:
        shown = text.signed(diff)
    # Green for a change for the better, red for the worse; alarm counts stay neutral (more
    # alarms may mean more neighbours using them, not more crime).
    colour = MUTED if diff == 0 or lower_is_better is None else (BETTER if (diff < 0) == lower_is_better else WORSE)
    return Paragraph(f'<font color="#{colour.hexval()[2:]}">{_esc(shown)}</font>', styles["cell_right"])


def _figures_table(
    *, trends: dict[str, Any], previous: dict[str, Any], month: Month, text: _Text, styles: dict[str, ParagraphStyle]
) -> Table:
    def figures(t: dict[str, Any]) -> list[tuple[str, float | None, str, bool | None]]:
        """(label, value, kind of value, lower is better) for each row."""
        inc, al, times = t["incidents"], t["alarms"], t["response_times"]
        alarm_t, incident_t = times["alarm_to_acknowledgement"], times["incident_to_acknowledgement"]
        return [
            (text.label("incidents"), inc["total"], "count", True),
            (text.label("resolved"), inc["resolved_share"], "share", False),
            (text.label("alarms_raised"), al["raised"], "count", None),
            (text.label("alarms_real"), al["real"], "count", None),
            (text.label("alarms_false"), al["false_alarm_share"], "share", True),
            (text.label("alarms_open"), al["open"], "count", True),
            (f"{text.label('alarm_response')}, {text.label('median')}", alarm_t["median_s"], "minutes", True),
            (f"{text.label('alarm_response')}, {text.label('p90')}", alarm_t["p90_s"], "minutes", True),
            (f"{text.label('incident_response')}, {text.label('median')}", incident_t["median_s"], "minutes", True),
            (f"{text.label('incident_response')}, {text.label('p90')}", incident_t["p90_s"], "minutes", True),
            (text.label("patrols"), t["patrols"]["patrols"], "count", False),
            (text.label("patrol_hours"), t["patrols"]["hours"], "decimal", False),
            (text.label("patrol_km"), t["patrols"]["distance_km"], "decimal", False),
        ]

    def shown(value: float | None, kind: str) -> str:
        if kind == "share":
            return text.share(value)
        if kind == "minutes":
            return text.minutes(value)
        if kind == "decimal" and value is not None:
            return format_decimal(value, format="#,##0.0", locale=text.locale)
        return text.number(value)

    rows: list[list[Any]] = [
        [
            Paragraph(_esc(text.label("figure")), styles["head"]),
            Paragraph(_esc(text.month_short(month)), styles["head_right"]),
            Paragraph(
                _esc(f"{text.label('previous_month')} ({text.month_short(month.shift(-1))})"), styles["head_right"]
            ),
            Paragraph(_esc(text.label("change")), styles["head_right"]),
        ]
    ]
    for (label, value, kind, lower), (_, before, _, _) in zip(figures(trends), figures(previous), strict=True):
        rows.append(
            [
                Paragraph(_esc(label), styles["cell"]),
                Paragraph(_esc(shown(value, kind)), styles["cell_right"]),
                Paragraph(_esc(shown(before, kind)), styles["cell_right"]),
                _change_cell(text, styles, value, before, kind=kind, lower_is_better=lower),
            ]
        )
    table = Table(rows, colWidths=[CONTENT_WIDTH * f for f in (0.42, 0.17, 0.24, 0.17)], repeatRows=1)
    table.setStyle(_table_style())
    return table


def _comparison_table(*, comparison: dict[str, Any], text: _Text, styles: dict[str, ParagraphStyle]) -> Table:
    month = Month.parse(comparison["month"])
    rows: list[list[Any]] = [
        [
            Paragraph("", styles["head"]),
            Paragraph(_esc(text.label("incidents")), styles["head_right"]),
            Paragraph(_esc(f"{text.label('change')} → {text.month_short(month)}"), styles["head_right"]),
        ],
        [
            Paragraph(_esc(text.month_long(month)), styles["cell"]),
            Paragraph(_esc(text.number(comparison["incidents"])), styles["cell_right"]),
            Paragraph("", styles["cell_right"]),
        ],
    ]
    for key in ("previous_month", "year_before"):
        other = comparison[key]
        label = f"{text.label(key)} ({text.month_long(Month.parse(other['month']))})"
        rows.append(
            [
                Paragraph(_esc(label), styles["cell"]),
                Paragraph(_esc(text.number(other["incidents"])), styles["cell_right"]),
                Paragraph(_esc(text.count_change(other["change"], other["change_pct"])), styles["cell_right"]),
            ]
        )
    table = Table(rows, colWidths=[CONTENT_WIDTH * f for f in (0.56, 0.16, 0.28)])
    table.setStyle(_table_style())
    return table


def _kinds_and_alarms(
    *, trends: dict[str, Any], previous: dict[str, Any], month: Month, text: _Text, styles: dict[str, ParagraphStyle]
) -> Table:
    by_kind: dict[str, int] = trends["incidents"]["by_kind"]
    total = trends["incidents"]["total"]
    left_width = CONTENT_WIDTH * 0.5
    left: Flowable
    if by_kind:
        rows: list[list[Any]] = [
            [
                Paragraph(_esc(text.label("kind")), styles["head"]),
                Paragraph(_esc(text.label("incidents")), styles["head_right"]),
                Paragraph(_esc(text.label("share")), styles["head_right"]),
            ]
        ]
        for code, n in by_kind.items():
            swatch = f'<font color="{KIND_COLOURS.get(code, "#636363")}">■</font> '
            rows.append(
                [
                    Paragraph(swatch + _esc(text.kind(code)), styles["cell"]),
                    Paragraph(_esc(text.number(n)), styles["cell_right"]),
                    Paragraph(_esc(text.share(n / total)), styles["cell_right"]),
                ]
            )
        left = Table(rows, colWidths=[left_width * f for f in (0.56, 0.25, 0.19)])
        left.setStyle(_table_style())
    else:
        left = Paragraph(_esc(text.label("no_incidents")), styles["cell"])
    right_width = CONTENT_WIDTH - left_width - 6 * mm
    chart = _png(_alarms_chart(trends=trends, previous=previous, month=month, text=text), width=right_width)
    outer = Table([[left, "", chart]], colWidths=[left_width, 6 * mm, right_width])
    outer.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return outer


def _map_and_blocks(
    *,
    trends: dict[str, Any],
    zones: dict[str, Any],
    blocks: list[dict[str, Any]],
    text: _Text,
    styles: dict[str, ParagraphStyle],
) -> Table:
    """The month's map on the left, the top-10 blocks (numbered as on the map) on the right."""
    map_width = CONTENT_WIDTH * 0.52
    gap = 5 * mm
    table_width = CONTENT_WIDTH - map_width - gap
    chart = _map_chart(
        zones=zones, zone_id=trends["zone_id"], trends=trends, blocks=blocks, text=text, width_mm=map_width / mm
    )
    right = [
        Paragraph(_esc(text.label("top_blocks")), styles["h3"]),
        _top_blocks_table(trends=trends, zones=zones, text=text, styles=styles, width=table_width),
    ]
    swatch = '<font color="{}">■</font> {}'
    legend = [swatch.format("#d7191c", _esc(text.label("map_blocks")))]
    if trends["zone_id"] is not None:
        legend = [
            swatch.format("#e6c34a", _esc(text.label("map_zone"))),
            swatch.format("#c5ccd3", _esc(text.label("map_other_zones"))),
            *legend,
        ]
    left = [_png(chart, width=map_width), Paragraph(" &nbsp; ".join(legend), styles["note"])]
    outer = Table([[left, "", right]], colWidths=[map_width, gap, table_width])
    outer.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return outer


def _top_blocks_table(
    *, trends: dict[str, Any], zones: dict[str, Any], text: _Text, styles: dict[str, ParagraphStyle], width: float
) -> Flowable:
    top = trends["incidents"]["top_blocks"]
    if not top:
        return Paragraph(_esc(text.label("no_blocks")), styles["cell"])
    zone_names = {f["id"]: f["properties"]["name"] for f in zones["features"]}
    total = trends["incidents"]["total"]
    with_zone = trends["zone_id"] is None  # a district report names each block's zone
    rows: list[list[Any]] = [
        [
            Paragraph("#", styles["head"]),
            Paragraph(_esc(text.label("block")), styles["head"]),
            Paragraph(_esc(text.label("incidents")), styles["head_right"]),
            Paragraph(_esc(text.label("share")), styles["head_right"]),
        ]
    ]
    for rank, block in enumerate(top, start=1):
        name = _esc(block["block_name"])
        if with_zone:
            zone_name = _esc(zone_names.get(block["zone_id"], ""))
            name += f'<br/><font size="7" color="#{MUTED.hexval()[2:]}">{zone_name}</font>'
        rows.append(
            [
                Paragraph(str(rank), styles["cell"]),
                Paragraph(name, styles["cell"]),
                Paragraph(_esc(text.number(block["total"])), styles["cell_right"]),
                Paragraph(_esc(text.share(block["total"] / total if total else None)), styles["cell_right"]),
            ]
        )
    fixed = [9 * mm, 22 * mm, 14 * mm]
    table = Table(rows, colWidths=[fixed[0], width - sum(fixed), fixed[1], fixed[2]], repeatRows=1)
    table.setStyle(_table_style(right_from=2))
    return table


# --- charts (matplotlib, Agg canvas, PNG) -----------------------------------------------


def _new_figure(width_mm: float, height_mm: float) -> Figure:
    figure = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _to_png(figure: Figure) -> bytes:
    out = io.BytesIO()
    # No "Software" stamp: the same figures give the same bytes.
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return out.getvalue()


class _Png:
    """A rendered chart and the size (mm) it was drawn for."""

    def __init__(self, data: bytes, width_mm: float, height_mm: float) -> None:
        self.data, self.width_mm, self.height_mm = data, width_mm, height_mm


def _png(chart: _Png, *, width: float) -> Image:
    """Place a chart at `width` points, keeping its proportions (and so its font sizes)."""
    height = width * chart.height_mm / chart.width_mm
    return Image(io.BytesIO(chart.data), width=width, height=height)


def _style_axes(axes: Any) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color("#8a96a3")
    axes.tick_params(colors="#3d4852", labelsize=7.5)
    axes.yaxis.grid(True, color="#e3e8ed", linewidth=0.6)
    axes.set_axisbelow(True)


def _history_chart(*, history: dict[str, Any], text: _Text) -> _Png:
    width, height = CONTENT_WIDTH / mm, 62.0
    figure = _new_figure(width, height)
    axes = figure.add_axes((0.06, 0.14, 0.66, 0.8))
    months = history["incidents"]["by_month"]
    order = list(history["incidents"]["by_kind"])  # most frequent first, at the bottom of each bar
    xs = list(range(len(months)))
    bottoms = [0] * len(months)
    for code in order:
        heights = [m["by_kind"].get(code, 0) for m in months]
        axes.bar(
            xs,
            heights,
            bottom=bottoms,
            width=0.62,
            color=KIND_COLOURS.get(code, "#636363"),
            label=text.kind(code),
            edgecolor="white",
            linewidth=0.5,
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for x, total in zip(xs, bottoms, strict=True):
        axes.text(x, total, text.number(total), ha="center", va="bottom", fontsize=7.5, color="#1f2933")
    axes.set_xticks(xs, [text.month_short(m["month"]) for m in months])
    axes.set_ylim(0, max([*bottoms, 1]) * 1.18)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    _style_axes(axes)
    if order:
        handles, names = axes.get_legend_handles_labels()
        # Listed top to bottom as the kinds are stacked in the bars.
        axes.legend(
            handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=7.5
        )
    else:
        axes.text(
            0.5,
            0.5,
            text.label("no_incidents"),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="#5f6b76",
        )
    return _Png(_to_png(figure), width, height)


def _alarms_chart(*, trends: dict[str, Any], previous: dict[str, Any], month: Month, text: _Text) -> _Png:
    width, height = 84.0, 52.0
    figure = _new_figure(width, height)
    axes = figure.add_axes((0.12, 0.2, 0.84, 0.66))
    figure.suptitle(text.label("alarms_chart"), fontsize=8.5, x=0.12, ha="left", y=0.97, color="#1f2933")
    groups = [(text.month_short(month.shift(-1)), previous["alarms"]), (text.month_short(month), trends["alarms"])]
    step = 0.36
    for i, (_, alarms) in enumerate(groups):
        for j, (key, colour) in enumerate((("real", "#b42318"), ("false_alarm", "#98a2b3"))):
            x = i + (j - 0.5) * step
            value = alarms[key]
            axes.bar([x], [value], width=step * 0.92, color=colour)
            axes.text(x, value, text.number(value), ha="center", va="bottom", fontsize=7.5, color="#1f2933")
    axes.set_xticks(range(len(groups)), [g[0] for g in groups])
    peak = max(max(a["real"], a["false_alarm"]) for _, a in groups)
    axes.set_ylim(0, max(peak, 1) * 1.25)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    _style_axes(axes)
    axes.legend(
        handles=[Patch(color="#b42318", label=text.label("real")), Patch(color="#98a2b3", label=text.label("false"))],
        loc="upper left",
        frameon=False,
        fontsize=7,
        ncols=2,
        bbox_to_anchor=(0.0, 1.06),
    )
    return _Png(_to_png(figure), width, height)


def _rings(geometry: dict[str, Any]) -> MplPath:
    """A matplotlib path of a GeoJSON (Multi)Polygon in EPSG:4326 (x = lon, y = lat), holes included."""
    polygons: Sequence[Any]
    if geometry["type"] == "Polygon":
        polygons = [geometry["coordinates"]]
    elif geometry["type"] == "MultiPolygon":
        polygons = geometry["coordinates"]
    else:
        raise ValueError(f"not a polygon: {geometry['type']}")
    vertices: list[tuple[float, float]] = []
    codes: list[int] = []
    for polygon in polygons:
        for ring in polygon:
            points = [(float(p[0]), float(p[1])) for p in ring]
            vertices += points
            codes += [int(MplPath.MOVETO)] + [int(MplPath.LINETO)] * (len(points) - 2) + [int(MplPath.CLOSEPOLY)]
    return MplPath(vertices, codes)


def _map_chart(
    *,
    zones: dict[str, Any],
    zone_id: int | None,
    trends: dict[str, Any],
    blocks: list[dict[str, Any]],
    text: _Text,
    width_mm: float,
) -> _Png:
    """The zones (the report's one highlighted) and the month's top blocks, numbered by rank."""
    features = [f for f in zones["features"] if f.get("geometry")]
    focus = [f for f in features if zone_id is None or f["id"] == zone_id] or features
    shapes = [shape(f["geometry"]) for f in focus]
    if shapes:
        west = min(s.bounds[0] for s in shapes)
        south = min(s.bounds[1] for s in shapes)
        east = max(s.bounds[2] for s in shapes)
        north = max(s.bounds[3] for s in shapes)
    else:
        west, south, east, north = -77.0, -12.2, -76.9, -12.1
    # Degrees of longitude are shorter than degrees of latitude away from the equator.
    stretch = 1 / max(math.cos(math.radians((south + north) / 2)), 0.1)
    pad = 0.08 * max(east - west, north - south, 1e-4)
    west, east, south, north = west - pad, east + pad, south - pad, north + pad
    span_x, span_y = east - west, (north - south) * stretch
    width = width_mm
    height = min(max(width * span_y / span_x, 60.0), 125.0)
    # Widen the view so the frame's proportions match the drawing's (no distortion).
    if span_y / span_x < height / width:
        grow = (height / width * span_x - span_y) / stretch / 2
        south, north = south - grow, north + grow
    else:
        grow = (span_y * width / height - span_x) / 2
        west, east = west - grow, east + grow

    figure = _new_figure(width, height)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(west, east)
    axes.set_ylim(south, north)
    axes.set_aspect(stretch)
    axes.set_axis_off()
    axes.add_patch(
        PathPatch(
            MplPath([(west, south), (east, south), (east, north), (west, north), (west, south)]),
            facecolor="#f7f9fb",
            edgecolor="none",
        )
    )
    highlighted = zone_id is not None
    for feature in features:
        mine = highlighted and feature["id"] == zone_id
        axes.add_patch(
            PathPatch(
                _rings(feature["geometry"]),
                facecolor="#fff4cc" if mine else ("#eef1f4" if highlighted else "#e8f0f8"),
                edgecolor="#1f2933" if mine else "#8a96a3",
                linewidth=1.6 if mine else 0.7,
                zorder=3 if mine else 2,
            )
        )
        point = shape(feature["geometry"]).representative_point()
        if west < point.x < east and south < point.y < north:
            axes.text(
                point.x,
                point.y,
                feature["properties"]["name"],
                ha="center",
                va="center",
                zorder=6,
                fontsize=9 if mine or not highlighted else 7.5,
                fontweight="bold" if mine else "normal",
                color="#1f2933" if mine else "#5f6b76",
                bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "none", "alpha": 0.75},
            )
    ranks = {b["block_id"]: rank for rank, b in enumerate(trends["incidents"]["top_blocks"], start=1)}
    drawn = sorted((b for b in blocks if b["id"] in ranks and b.get("geometry")), key=lambda b: ranks[b["id"]])
    for block in drawn:
        axes.add_patch(
            PathPatch(
                _rings(block["geometry"]), facecolor="#d7191c", edgecolor="#7a0c0e", linewidth=0.6, alpha=0.9, zorder=7
            )
        )
    axes.apply_aspect()
    to_points = axes.transData + figure.dpi_scale_trans.inverted()  # data -> inches
    placed: list[tuple[float, float]] = []
    for block in drawn:
        point = shape(block["geometry"]).representative_point()
        x_in, y_in = to_points.transform((point.x, point.y))
        dx, dy = _free_offset(x=x_in * 72, y=y_in * 72, taken=placed)
        placed.append((x_in * 72 + dx, y_in * 72 + dy))
        axes.annotate(
            str(ranks[block["id"]]),
            (point.x, point.y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=7,
            fontweight="bold",
            color="white",
            zorder=9,
            bbox={"boxstyle": "circle,pad=0.2", "facecolor": "#b42318", "edgecolor": "white", "linewidth": 0.8},
            arrowprops={"arrowstyle": "-", "color": "#7a0c0e", "linewidth": 0.7, "shrinkA": 0, "shrinkB": 0},
        )
    _scale_bar(axes, west=west, east=east, south=south, north=north)
    return _Png(_to_png(figure), width, height)


def _free_offset(*, x: float, y: float, taken: list[tuple[float, float]]) -> tuple[float, float]:
    """An offset (points) from (x, y) where a rank marker overlaps none already placed.

    Markers are tried on rings of growing radius around the block, starting straight up, so
    neighbouring blocks get markers fanned out around them instead of stacked on each other.
    """
    clearance = 14.0
    for radius in (10.0, 19.0, 28.0, 37.0, 46.0):
        for step in range(12):
            angle = math.pi / 2 + step * math.pi / 6
            dx, dy = radius * math.cos(angle), radius * math.sin(angle)
            if all(math.hypot(x + dx - tx, y + dy - ty) >= clearance for tx, ty in taken):
                return dx, dy
    return 0.0, 10.0


def _scale_bar(axes: Any, *, west: float, east: float, south: float, north: float) -> None:
    """A scale bar in metres, bottom right (distances measured along the parallel)."""
    metres_per_degree = 111_320 * math.cos(math.radians((south + north) / 2))
    target = (east - west) * metres_per_degree / 5
    length = max(n for n in (50, 100, 200, 250, 500, 1000, 2000, 5000, 10000) if n <= max(target, 50))
    x1 = east - (east - west) * 0.04
    x0 = x1 - length / metres_per_degree
    y = south + (north - south) * 0.05
    axes.plot([x0, x1], [y, y], color="#1f2933", linewidth=2.2, solid_capstyle="butt", zorder=10)
    label = f"{length // 1000} km" if length >= 1000 else f"{length} m"
    axes.text((x0 + x1) / 2, y + (north - south) * 0.012, label, ha="center", va="bottom", fontsize=7, zorder=10)
