"""Set-up commands: `flask --app app zones import`, `users create|list|deactivate|activate|set-role|
reset-password|end-sessions`, `devices key|register|retire`, `incidents import`, `demo history`,
`committees create|add-member|list`, `patrols tracker`.

The `users` and `devices` commands speak Spanish like the screens (an operator at the server
scripts them: lists are tab-separated, a one-time code or key alone on stdout); they act as
nobody (`actor` None), and the audit record says so.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlmodel import Session, select

from security import accounts
from security.alarms import get_device, locate_devices, register_device, retire_device
from security.auth import UserError, Viewer, create_user, issue_device_key
from security.committees import add_member, create_committee, drop_unused_committees, list_committees, member_ids
from security.context import ronda
from security.errors import DomainError
from security.history import count_rows, import_incidents_csv, synthetic_history
from security.models import ROLES, AlarmDevice, Committee, CommitteeCreate, User
from security.patrols import register_tracker
from zones.geometry import BoundaryFileError, read_boundaries
from zones.service import build_index, replace_district

zones_cli = AppGroup("zones", help="The district's zones and blocks.")
users_cli = AppGroup("users", help="Cuentas de las personas que usan Ronda.")
devices_cli = AppGroup("devices", help="Dispositivos de alarma vecinal de las manzanas.")
incidents_cli = AppGroup("incidents", help="Incident history.")
demo_cli = AppGroup("demo", help="The demo district.")
committees_cli = AppGroup("committees", help="Local citizen-security committees.")
patrols_cli = AppGroup("patrols", help="Patrols and their GPS trackers.")


@zones_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--blocks", "blocks_file", type=click.Path(dir_okay=False, path_type=Path), help="Urban blocks file.")
@click.option("--name-column", help="Column with the zone names (default: name, nombre, distrito...).")
@click.option("--block-name-column", help="Column with the block names.")
@click.option("--block-zone-column", help="Column of the blocks file naming their zone (default: by position).")
@click.option("--layer", help="Layer to read from a multi-layer file (GeoPackage).")
def import_zones(
    file: Path,
    blocks_file: Path | None,
    name_column: str | None,
    block_name_column: str | None,
    block_zone_column: str | None,
    layer: str | None,
) -> None:
    """Replace the district's zones (and blocks) from a GeoJSON, shapefile or GeoPackage."""
    try:
        zones = read_boundaries(path=file, name_column=name_column, layer=layer)
        blocks = read_boundaries(path=blocks_file, name_column=block_name_column) if blocks_file else None
        state = ronda()
        with Session(state.engine, expire_on_commit=False) as session:
            drop_unused_committees(session=session, keep_zone_names={z.name for z in zones})
            summary = replace_district(
                session=session, zones=zones, blocks=blocks, block_zone_property=block_zone_column
            )
            session.flush()
            state.index = build_index(session=session)
            moved = locate_devices(session=session, index=state.index)
            session.commit()
    except BoundaryFileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Imported {summary.zones} zones ({summary.zones_kept} kept their id), {summary.blocks} blocks"
        + (f", {summary.blocks_skipped} blocks outside every zone skipped" if summary.blocks_skipped else "")
        + f"; {moved} alarm devices re-placed. Restart running servers to use the new geometry."
    )


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Rol de la cuenta.")
@click.option("--zone", "zone_id", type=int, help="N.º de zona (obligatorio para volunteer, coordinator y neighbor).")
@click.option("--display-name", default="", help="Nombre y apellido que ven la policía y la administración.")
@click.password_option(
    "--password",
    prompt="Contraseña",
    confirmation_prompt="Repita la contraseña",
    help="Se pide dos veces si no se indica.",
)
def create_user_command(username: str, role: str, zone_id: int | None, display_name: str, password: str) -> None:
    """Crea una cuenta que puede entrar a la API, al teléfono y a las páginas."""
    with Session(ronda().engine) as session:
        try:
            user = create_user(
                session=session,
                username=username,
                password=password,
                role=role,
                zone_id=zone_id,
                display_name=display_name,
            )
        except UserError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
        zone = f", zona {user.zone_id}" if user.zone_id else ""
        click.echo(f"Cuenta creada: «{user.username}», {user.role} (id {user.id}{zone}).")


@users_cli.command("list")
@click.option("--rol", "--role", "role", type=click.Choice(ROLES), help="Solo las cuentas de este rol.")
@click.option("--zona", "--zone", "zone_id", type=int, help="Solo las cuentas de esta zona (n.º).")
@click.option("--buscar", "text", help="Texto en el usuario o en el nombre.")
@click.option("--inactivos", "state", flag_value="inactive", help="Solo las cuentas desactivadas.")
@click.option("--todos", "state", flag_value="all", help="Activas y desactivadas.")
def list_users_command(role: str | None, zone_id: int | None, text: str | None, state: str | None) -> None:
    """Lista las cuentas (activas, salvo --inactivos o --todos), una por línea separada por tabuladores:
    n.º, usuario, rol, zona, estado, nombre."""
    active = {"inactive": False, "all": None}.get(state or "", True)
    filters = accounts.UserFilter(text=text or None, role=role, zone_id=zone_id, active=active)
    with Session(ronda().engine) as session:
        offset = 0
        while True:
            people, total = accounts.list_users(session=session, filters=filters, limit=500, offset=offset)
            for person in people:
                zone = str(person.zone_id) if person.zone_id is not None else "-"
                status = "activa" if person.active else "desactivada"
                name = " ".join(person.display_name.split())  # one line per account, whatever the name holds
                click.echo(f"{person.id}\t{person.username}\t{person.role}\t{zone}\t{status}\t{name}")
            offset += len(people)
            if not people or offset >= total:
                return


@users_cli.command("deactivate")
@click.argument("username")
def deactivate_user_command(username: str) -> None:
    """Desactiva una cuenta: ya no puede entrar y sus sesiones se cierran ahora."""
    with Session(ronda().engine, expire_on_commit=False) as session:
        user = _account(session, username)
        try:
            changed = accounts.deactivate(session=session, actor=None, user=user)
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
    if not changed:
        click.echo(f"La cuenta «{username}» ya estaba desactivada.")
        return
    click.echo(f"Cuenta «{username}» desactivada: ya no puede entrar y sus sesiones se cerraron.")


@users_cli.command("activate")
@click.argument("username")
def activate_user_command(username: str) -> None:
    """Reactiva una cuenta desactivada: puede volver a entrar con su contraseña."""
    with Session(ronda().engine) as session:
        user = _account(session, username)
        try:
            changed = accounts.activate(session=session, actor=None, user=user)
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
    if changed:
        click.echo(f"Cuenta «{username}» reactivada.")
    else:
        click.echo(f"La cuenta «{username}» ya estaba activa.")


@users_cli.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.option(
    "--zone", "--zona", "zone_id", type=int, help="N.º de zona (obligatorio para volunteer, coordinator y neighbor)."
)
@click.option("--display-name", help="Nombre y apellido nuevos (por omisión, el de siempre).")
def set_role_command(username: str, role: str, zone_id: int | None, display_name: str | None) -> None:
    """Cambia el rol, la zona o el nombre de una cuenta; un rol o una zona nuevos cierran sus sesiones."""
    with Session(ronda().engine, expire_on_commit=False) as session:
        user = _account(session, username)
        version = user.session_version
        try:
            changed = accounts.change_role(
                session=session, actor=None, user=user, role=role, zone_id=zone_id, display_name=display_name
            )
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
        ended = user.session_version != version
    if not changed:
        click.echo(f"La cuenta «{username}» ya tenía ese rol, esa zona y ese nombre: nada que cambiar.")
        return
    zone = f", zona {user.zone_id}" if user.zone_id is not None else ""
    if ended:
        click.echo(f"Cuenta «{username}»: {user.role}{zone}. Sus sesiones se cerraron.")
    else:
        click.echo(f"Cuenta «{username}»: {user.role}{zone}, nombre «{user.display_name}».")


@users_cli.command("reset-password")
@click.argument("username")
def reset_password_command(username: str) -> None:
    """Reemplaza la contraseña por un código de un solo uso (solo el código sale por stdout); con él la
    persona entra una vez y elige una contraseña nueva. Sus sesiones se cierran."""
    with Session(ronda().engine, expire_on_commit=False) as session:
        user = _account(session, username)
        try:
            code = accounts.reset_password(session=session, actor=None, user=user)
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
    click.echo(code)
    click.echo(
        f"Código de un solo uso de «{username}» (no se vuelve a mostrar): al entrar con él, Ronda le pide "
        "elegir una contraseña nueva.",
        err=True,
    )


@users_cli.command("end-sessions")
@click.argument("username")
def end_sessions_command(username: str) -> None:
    """Cierra todas las sesiones de una cuenta (teléfonos y navegadores); su contraseña no cambia."""
    with Session(ronda().engine, expire_on_commit=False) as session:
        user = _account(session, username)
        try:
            accounts.end_all_sessions(session=session, user=user, actor=None)
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
    click.echo(f"Se cerraron todas las sesiones de «{username}».")


@devices_cli.command("key")
@click.argument("device_id", type=int)
def device_key_command(device_id: int) -> None:
    """Emite una clave nueva para un dispositivo (se muestra una sola vez; la anterior deja de funcionar)."""
    with Session(ronda().engine) as session:
        device = session.get(AlarmDevice, device_id)
        if device is None:
            raise click.ClickException(f"No existe el dispositivo {device_id}.")
        if not device.active:
            raise click.ClickException(f"El dispositivo {device_id} está retirado.")
        key = issue_device_key(session=session, device=device)
        session.commit()
    click.echo(key)


@devices_cli.command("register")
@click.argument("name")
@click.option("--lat", type=float, required=True, help="Latitud en grados decimales (WGS84), p. ej. -12.1759.")
@click.option("--lon", type=float, required=True, help="Longitud en grados decimales (WGS84), p. ej. -76.9260.")
def device_register_command(name: str, lat: float, lon: float) -> None:
    """Registra un dispositivo donde está instalado (ubicado en su zona y manzana); imprime su n.º."""
    state = ronda()
    with Session(state.engine) as session:
        try:
            device = register_device(session=session, actor=None, name=name, lat=lat, lon=lon, index=state.index)
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
        click.echo(device.id)
        click.echo(
            f"Dispositivo {device.id} registrado en la zona {device.zone_id}, manzana {device.block_id}. "
            f"Emita su clave con: flask --app app devices key {device.id}",
            err=True,
        )


@devices_cli.command("retire")
@click.argument("device_id", type=int)
def device_retire_command(device_id: int) -> None:
    """Retira un dispositivo: su clave deja de funcionar y sale de las listas."""
    with Session(ronda().engine) as session:
        try:
            device = get_device(session=session, device_id=device_id)
            retired = retire_device(session=session, actor=None, device=device)
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
    if retired:
        click.echo(f"Dispositivo {device_id} retirado: su clave dejó de funcionar.")
    else:
        click.echo(f"El dispositivo {device_id} ya estaba retirado.")


@incidents_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path), help="Write every refused row here (CSV).")
def import_incidents_command(file: Path, rejects: Path | None) -> None:
    """Load historical incidents from a CSV (columns: kind, lat, lon, occurred_at, status, ...)."""
    total = count_rows(file)
    with (
        Session(ronda().engine, expire_on_commit=False) as session,
        click.progressbar(length=total, label=f"Importing {total:,} rows", file=sys.stderr) as bar,
    ):
        try:
            report = import_incidents_csv(session=session, path=file, progress=bar.update)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Read {report.read:,} rows: {report.added:,} added, {report.already_present:,} already present, "
        f"{len(report.refused):,} refused."
    )
    for line, reason in report.refused[:100]:
        click.echo(f"  line {line}: {reason}", err=True)
    if len(report.refused) > 100:
        click.echo(f"  ... and {len(report.refused) - 100:,} more (use --rejects FILE for all)", err=True)
    if rejects is not None:
        with rejects.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "reason"])
            writer.writerows(report.refused)


@demo_cli.command("history")
@click.option("--months", type=click.IntRange(1, 60), default=24, show_default=True)
@click.option("--per-month", type=click.IntRange(1, 100_000), default=900, show_default=True, help="Mean incidents.")
@click.option("--seed", type=int, default=2024, show_default=True)
def demo_history_command(months: int, per_month: int, seed: int) -> None:
    """Fill the demo district with clearly synthetic history (for the trends to mean something)."""
    with Session(ronda().engine, expire_on_commit=False) as session:
        incidents, alarms, patrols = synthetic_history(session=session, months=months, per_month=per_month, seed=seed)
    click.echo(
        f"Added {incidents:,} synthetic incidents, {alarms:,} synthetic alarms and {patrols:,} synthetic patrols "
        f"over {months} months."
    )


def _user_named(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise click.ClickException(f"there is no user '{username}'")
    return user


def _account(session: Session, username: str) -> User:
    """The account a `users` verb is about (those verbs answer in Spanish)."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise click.ClickException(f"No existe la cuenta «{username}».")
    return user


def _domain_message(exc: DomainError) -> str:
    return exc.message % exc.params if exc.params else exc.message


@committees_cli.command("create")
@click.argument("name")
@click.option("--zone", "zone_id", type=int, required=True, help="Zone id (see GET /api/v1/zones).")
@click.option("--member", "members", multiple=True, help="Username of a volunteer or coordinator (repeatable).")
def create_committee_command(name: str, zone_id: int, members: tuple[str, ...]) -> None:
    """Create a committee of a zone, with its first members."""
    with Session(ronda().engine) as session:
        try:
            committee = create_committee(session=session, actor=None, data=CommitteeCreate(name=name, zone_id=zone_id))
            for username in members:
                add_member(session=session, actor=None, committee=committee, user=_user_named(session, username))
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
        click.echo(f"Created committee '{committee.name}' (id {committee.id}, zone {zone_id}, {len(members)} members)")


@committees_cli.command("add-member")
@click.argument("committee_id", type=int)
@click.argument("usernames", nargs=-1, required=True)
def add_member_command(committee_id: int, usernames: tuple[str, ...]) -> None:
    """Add volunteers or coordinators to a committee."""
    with Session(ronda().engine) as session:
        committee = session.get(Committee, committee_id)
        if committee is None:
            raise click.ClickException(f"there is no committee {committee_id}")
        try:
            added = [u for u in usernames if add_member(session=session, actor=None, committee=committee,
                                                        user=_user_named(session, u))]  # fmt: skip
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
    click.echo(f"Added {len(added)} members to committee {committee_id}")


@committees_cli.command("list")
@click.option("--zone", "zone_id", type=int, help="Only this zone.")
def list_committees_command(zone_id: int | None) -> None:
    """List the committees with their number of members."""
    with Session(ronda().engine) as session:
        everyone = Viewer(user_id=None, role="admin", zone_id=None)
        for committee in list_committees(session=session, viewer=everyone, zone_id=zone_id):
            members = len(member_ids(session=session, committee_id=committee.id))  # type: ignore[arg-type]
            click.echo(f"{committee.id}\tzone {committee.zone_id}\t{committee.name}\t{members} members")


@patrols_cli.command("tracker")
@click.argument("device_id", required=False)
@click.option("--user", "username", required=True, help="The volunteer who carries the phone.")
def register_tracker_command(device_id: str | None, username: str) -> None:
    """Register a Traccar Client device id (OsmAnd protocol at /osmand) to a volunteer; without
    DEVICE_ID a new one is made (type it into Traccar Client as its device identifier)."""
    with Session(ronda().engine) as session:
        try:
            tracker = register_tracker(
                session=session, device_id=device_id, user=_user_named(session, username), actor=None
            )
        except DomainError as exc:
            raise click.ClickException(_domain_message(exc)) from exc
        session.commit()
        click.echo(f"Tracker '{tracker.device_id}' now reports for '{username}' while they are on patrol")


def init_app(app: Flask) -> None:
    """Register the command groups."""
    for group in (zones_cli, users_cli, devices_cli, incidents_cli, demo_cli, committees_cli, patrols_cli):
        app.cli.add_command(group)
