"""Dashboard commands: `flask --app app trends report --zone 1 --month 2026-03 --out informe.pdf`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import force_locale, gettext
from sqlmodel import Session

from dashboards.report import committee_report, report_labels
from dashboards.trends import Month, TrendsError
from security.context import ronda

trends_cli = AppGroup("trends", help="Committee trends.")


@trends_cli.command("report")
@click.option("--zone", "zone_id", type=click.IntRange(min=1), help="Zone id (default: the whole district).")
@click.option("--month", required=True, help="The month to report, YYYY-MM (Lima time).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PDF file to write (default: informe-zona-ZONE-MONTH.pdf or informe-distrito-MONTH.pdf).",
)
@click.option("--lang", type=click.Choice(["es", "en"]), default="es", show_default=True, help="Report language.")
def report(zone_id: int | None, month: str, out: Path | None, lang: str) -> None:
    """Write the committee's monthly report of a zone (or the district) as a printable PDF."""
    try:
        chosen = Month.parse(month)
    except TrendsError as exc:
        raise click.ClickException(f"--month: {exc}, e.g. 2026-03") from exc
    if out is None:
        out = Path(f"informe-{'zona-' + str(zone_id) if zone_id is not None else 'distrito'}-{chosen}.pdf")
    if not out.parent.is_dir():
        raise click.ClickException(f"--out: the folder {out.parent} does not exist")
    try:
        with Session(ronda().engine) as session, force_locale(lang):
            pdf = committee_report(
                session=session, zone_id=zone_id, month=chosen, locale=lang, labels=report_labels(translate=gettext)
            )
    except TrendsError as exc:
        raise click.ClickException(f"--zone: {exc}") from exc
    try:
        out.write_bytes(pdf)
    except OSError as exc:
        raise click.ClickException(f"--out: cannot write {out}: {exc.strerror}") from exc
    click.echo(f"Wrote {out} ({len(pdf) / 1024:.0f} KiB)")


def init_app(app: Flask) -> None:
    """Register the dashboards' command group."""
    app.cli.add_command(trends_cli)
