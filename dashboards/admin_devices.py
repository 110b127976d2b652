"""Administration of block alarm devices (/admin/dispositivos), for administrators only.

Register a device where it is mounted (placed in its zone and block), give it a new key (shown
once: only its hash is kept), retire it. The services are in security.alarms and security.auth,
and write the audit record.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlmodel import col, select

from dashboards.admin_home import (
    FormProblem,
    common_context,
    field_errors,
    form_text,
    missing,
    page_number,
    setup_section,
    signed_in_for,
    zone_names,
)
from dashboards.console import query_text
from dashboards.views import _db
from security import alarms
from security.auth import issue_device_key, viewer_of
from security.context import ronda
from security.errors import DomainError, NotFound
from security.models import AlarmDevice, User, parse_id
from zones.models import Block

admin_devices = Blueprint("admin_devices", __name__, template_folder="templates")
setup_section(admin_devices)

PAGE_SIZE = 50


def done_messages() -> dict[str, str]:
    """What the list says after an action (?hecho=...)."""
    return {
        "retirado": gettext("Dispositivo retirado: su clave dejó de funcionar."),
        "ya-retirado": gettext("Ese dispositivo ya estaba retirado."),
    }


def _block_names(devices: list[AlarmDevice]) -> dict[int, str]:
    ids = {d.block_id for d in devices if d.block_id is not None}
    if not ids:
        return {}
    rows = _db().exec(select(Block.id, Block.name).where(col(Block.id).in_(ids))).all()
    return {int(block_id or 0): name for block_id, name in rows}


def _device_rows(devices: list[AlarmDevice], zones: dict[int, str]) -> list[dict[str, Any]]:
    blocks = _block_names(devices)
    return [
        {
            "id": d.id,
            "name": d.name,
            "zone": zones.get(d.zone_id or 0, "—") if d.zone_id else "—",
            "block": blocks.get(d.block_id or 0, "—") if d.block_id else "—",
            "position": f"{d.lat:.5f}, {d.lon:.5f}",
            "has_key": bool(d.key_hash),
        }
        for d in devices
    ]


def _render_list(
    *, user: User, errors: dict[str, str] | None = None, form: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    """The devices in service, newest first, a page at a time, with the form of a new one (`errors` by its fields)."""
    session = _db()
    zones = zone_names(session)
    list_error = None
    rows: list[dict[str, Any]] = []
    zone_id = None
    page, total = page_number(), 0
    if query_text("zona"):
        zone_id = parse_id(query_text("zona"))
        if zone_id is None or zone_id not in zones:
            list_error, status, zone_id = gettext("Elija una zona de la lista."), max(status, 400), None
    if list_error is None:
        devices = alarms.list_devices(session=session, viewer=viewer_of(user), zone_id=zone_id)
        devices.sort(key=lambda d: -(d.id or 0))  # newest first: the one just registered is on top
        total = len(devices)
        rows = _device_rows(devices[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], zones)
    return render_template(
        "admin_devices.html",
        **common_context(user, "devices"),
        rows=rows,
        total=total,
        page=page,
        page_count=max(1, math.ceil(total / PAGE_SIZE)),
        filter_args={"zona": str(zone_id)} if zone_id else {},
        list_error=list_error,
        zones=zones,
        zone_id=zone_id,
        errors=errors or {},
        form=form or {},
        done=done_messages().get(request.args.get("hecho", "")),
    ), status


@admin_devices.get("/admin/dispositivos")
def devices_page() -> ResponseReturnValue:
    """The alarm devices in service (of a zone, or all), with their actions and the form of a new one."""
    user = signed_in_for("devices")
    if not isinstance(user, User):
        return user
    return _render_list(user=user)


def _degrees(name: str) -> float:
    text = form_text(name).replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FormProblem(name, gettext("Escriba un número en grados decimales, por ejemplo -12.1759."))
    return value


def _render_key(
    *, user: User, device: AlarmDevice, key: str, registered: bool, zones: dict[int, str]
) -> ResponseReturnValue:
    """A device's new key, shown on this answer and never again."""
    block = _block_names([device]).get(device.block_id or 0, "—")
    return render_template(
        "admin_code.html",
        **common_context(user, "devices"),
        kind="device",
        device=device,
        code=key,
        registered=registered,
        zone=zones.get(device.zone_id or 0, "—"),
        block=block,
        back=url_for("admin_devices.devices_page"),
    )


@admin_devices.post("/admin/dispositivos")
def register_device_form() -> ResponseReturnValue:
    """Register a device at its position and give it its first key (shown once)."""
    user = signed_in_for("devices", form=True)
    if not isinstance(user, User):
        return user
    session = _db()
    form = {name: form_text(name) for name in ("name", "lat", "lon")}
    try:
        lat, lon = _degrees("lat"), _degrees("lon")
        device = alarms.register_device(
            session=session, actor=user, name=form["name"], lat=lat, lon=lon, index=ronda().index
        )
        # A device without a key could never raise its alarm: it gets one at once.
        key = issue_device_key(session=session, device=device, actor=user)
    except (DomainError, FormProblem) as error:
        session.rollback()
        return _render_list(user=user, errors=field_errors(error), form=form, status=error.status)
    session.commit()
    return _render_key(user=user, device=device, key=key, registered=True, zones=zone_names(session))


def _device(device_id: str, *, retired_too: bool = False) -> AlarmDevice | None:
    number = parse_id(device_id)
    if number is None:
        return None
    try:
        device = alarms.get_device(session=_db(), device_id=number)
    except NotFound:
        return None
    return device if device.active or retired_too else None


@admin_devices.post("/admin/dispositivos/<device_id>/clave")
def rotate_key(device_id: str) -> ResponseReturnValue:
    """A new key for a device (shown once); the old one stops working at once."""
    user = signed_in_for("devices", form=True)
    if not isinstance(user, User):
        return user
    device = _device(device_id)
    if device is None:
        return missing(user)
    session = _db()
    key = issue_device_key(session=session, device=device, actor=user)
    session.commit()
    return _render_key(user=user, device=device, key=key, registered=False, zones=zone_names(session))


@admin_devices.post("/admin/dispositivos/<device_id>/retirar")
def retire(device_id: str) -> ResponseReturnValue:
    """Take a device out of service: its key stops working."""
    user = signed_in_for("devices", form=True)
    if not isinstance(user, User):
        return user
    device = _device(device_id, retired_too=True)
    if device is None:
        return missing(user)
    session = _db()
    try:
        retired = alarms.retire_device(session=session, actor=user, device=device)
    except DomainError as error:
        session.rollback()
        return _render_list(user=user, errors=field_errors(error), status=error.status)
    session.commit()
    return redirect(url_for("admin_devices.devices_page", hecho="retirado" if retired else "ya-retirado"))
