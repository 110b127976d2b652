"""The OsmAnd protocol, as the free Traccar Client app speaks it: one position per HTTP request.

Two forms: query or form parameters (`id` or `deviceid`, `lat`, `lon`, `timestamp`, `speed`
in knots, `bearing`, `accuracy` in metres, `batt` in per cent, `valid`), and the JSON body of
Traccar Client 9 and later (`device_id`, `location.timestamp`, `location.coords.latitude`...,
speed in m/s, `location.battery.level` from 0 to 1). See https://www.traccar.org/osmand/.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from security.errors import N_, ValidationProblem
from security.models import CONTROL_CHARACTERS, NOT_UNICODE, PositionIn, has_surrogate, no_control
from zones.database import utcnow

KNOT_MS = 0.514444  # metres per second in a knot
BAD_NUMBER = N_("Debe ser un número.")


@dataclass(frozen=True)
class OsmandFix:
    """One position report of a tracker app."""

    device_id: str
    valid: bool
    position: PositionIn


def _number(values: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        raw = values.get(name)
        if raw is None or raw == "":
            continue
        if isinstance(raw, bool):  # JSON true is not a coordinate
            raise ValidationProblem(name, BAD_NUMBER)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValidationProblem(name, BAD_NUMBER) from None
        if not math.isfinite(value):
            raise ValidationProblem(name, BAD_NUMBER)
        return value
    return None


def parse_timestamp(raw: Any) -> datetime:
    """Unix seconds (or milliseconds), ISO 8601, or "YYYY-MM-DD HH:MM:SS" (UTC); now when absent."""
    if raw is None or raw == "":
        return utcnow()
    text = str(raw).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    try:
        if number is not None:
            if not math.isfinite(number):
                raise ValueError(text)
            return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ValidationProblem("timestamp", "Debe ser segundos Unix o una fecha y hora ISO 8601.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_fix(*, params: Mapping[str, Any], body: Any) -> OsmandFix:
    """The fix carried by a request's parameters or by its JSON body; ValidationProblem if none."""
    if isinstance(body, dict) and isinstance(body.get("location"), dict):
        location = body["location"]
        coords = location.get("coords") if isinstance(location.get("coords"), dict) else {}
        battery = location.get("battery") if isinstance(location.get("battery"), dict) else {}
        device_id = body.get("device_id") or params.get("id") or params.get("deviceid")
        level = _number(battery, "level")
        fields: dict[str, Any] = {
            "t": parse_timestamp(location.get("timestamp")),
            "lat": _number(coords, "latitude"),
            "lon": _number(coords, "longitude"),
            "accuracy": _number(coords, "accuracy"),
            "speed": _number(coords, "speed"),
            "bearing": _number(coords, "heading"),
            "battery": round(level * 100, 1) if level is not None and 0 <= level <= 1 else None,
        }
        valid = True
    else:
        device_id = params.get("id") or params.get("deviceid")
        speed = _number(params, "speed")
        fields = {
            "t": parse_timestamp(params.get("timestamp")),
            "lat": _number(params, "lat"),
            "lon": _number(params, "lon"),
            "accuracy": _number(params, "accuracy", "hdop"),
            "speed": round(speed * KNOT_MS, 2) if speed is not None else None,
            "bearing": _number(params, "bearing", "heading"),
            "battery": _number(params, "batt"),
        }
        valid = str(params.get("valid", "true")).lower() not in ("false", "0")
    if not isinstance(device_id, (str, int)) or not str(device_id).strip():
        raise ValidationProblem("id", "Falta el identificador del dispositivo (id).")
    try:
        no_control(str(device_id))
    except ValueError as exc:
        raise ValidationProblem("id", CONTROL_CHARACTERS) from exc
    if has_surrogate(str(device_id)):  # a JSON body's "\ud800": not text any database can look up
        raise ValidationProblem("id", NOT_UNICODE)
    for name in ("lat", "lon"):
        if fields[name] is None:
            raise ValidationProblem(name, "Campo obligatorio.")
    if fields["bearing"] is not None:
        fields["bearing"] = fields["bearing"] % 360
    try:
        position = PositionIn.model_validate(fields)
    except ValidationError as exc:
        names = tuple("timestamp" if e["loc"][0] == "t" else str(e["loc"][0]) for e in exc.errors())
        raise ValidationProblem(names, "El valor está fuera de rango.") from exc
    return OsmandFix(device_id=str(device_id).strip()[:100], valid=valid, position=position)
