"""The running application's shared state: the engine and the zone index."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy.engine import Engine

from security.throttle import SignInThrottle
from zones.geometry import ZoneIndex


@dataclass
class Ronda:
    """What routes, socket handlers and commands share within one process."""

    engine: Engine
    index: ZoneIndex
    throttle: SignInThrottle


def ronda() -> Ronda:
    """The state of the current Flask application."""
    state: Ronda = current_app.extensions["ronda"]
    return state
