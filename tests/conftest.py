"""Fixtures: a fresh database per test (a copy of a migrated demo template), app, client,
runner, users with tokens, and a live server in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlmodel import Session

from app import create_app
from security.auth import create_user, issue_token
from security.models import User

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET = "test-secret-key-not-for-production"
PASSWORD = "clave-segura-123"
PG_URL = os.environ.get("RONDA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("RONDA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Points inside demo zones (zone ids follow the order of data/vmt_zones.geojson).
ZONE_POINTS = {
    1: (-12.1398, -76.9281),  # Nueva Esperanza
    2: (-12.1657, -76.9424),  # Cercado
    3: (-12.1759, -76.9260),  # Inca Pachacútec
    4: (-12.1731, -76.9006),  # José Carlos Mariátegui
}
OUTSIDE = (-12.05, -77.03)  # central Lima, outside Villa María del Triunfo
CHROMIUM = os.environ.get("RONDA_CHROMIUM", "/usr/bin/chromium")
# The flags the machine's notes ask for: no background connections to a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_or_skip(kind: str, check: Callable[[], None]) -> None:
    """Skip (or, under CI=true, fail) when a deployment service is not reachable."""
    try:
        check()
    except Exception as exc:  # any connection failure means "not here"
        message = f"{kind} not reachable ({exc.__class__.__name__}: {exc}); start it to run this test"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)


def _checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the demo district, made once and copied for every test."""
    path = tmp_path_factory.mktemp("template") / "ronda.db"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True, "SECRET_KEY": TEST_SECRET})
    app.extensions["ronda"].engine.dispose()
    _checkpoint(path)
    return path


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    path = tmp_path / "ronda.db"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra configuration for the `app` fixture (override in a test module)."""
    return {}


@pytest.fixture
def app(db_url: str, tmp_path: Path, app_config: dict[str, Any]) -> Iterator[Flask]:
    config = {
        "DATABASE_URL": db_url,
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "SOCKETIO_MESSAGE_QUEUE": None,
    }
    config.update(app_config)
    application = create_app(config)
    yield application
    application.extensions["ronda"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with Session(app.extensions["ronda"].engine, expire_on_commit=False) as s:
        yield s


@dataclass
class Person:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_person(app: Flask) -> Callable[..., Person]:
    """Create a user of a role (and zone) and a valid token for them."""
    counter = iter(range(1, 10_000))

    def make(role: str, zone_id: int | None = None, username: str | None = None) -> Person:
        name = username or f"{role}{next(counter)}"
        with Session(app.extensions["ronda"].engine, expire_on_commit=False) as s:
            user = create_user(
                session=s,
                username=name,
                password=PASSWORD,
                role=role,
                zone_id=zone_id,
                display_name=f"Nombre de {name}",
            )
            s.commit()
        return Person(user=user, token=issue_token(user=user, secret_key=app.config["SECRET_KEY"]))

    return make


def incident_body(zone_id: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid report inside a demo zone."""
    import uuid

    lat, lon = ZONE_POINTS[zone_id]
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "kind": "robbery",
        "lat": lat,
        "lon": lon,
        "description": "Dos sujetos en moto arrebataron un celular",
        "severity": 2,
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (skipped without it, failing under CI=true)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


# --- a live server in a subprocess ---------------------------------------------------


@dataclass
class LiveServer:
    url: str
    port: int
    db_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def token(self, username: str) -> str:
        response = requests.post(
            f"{self.url}/api/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=10
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    *, db_url: str, tmp_path: Path, port: int | None = None, extra_env: dict[str, str] | None = None
) -> LiveServer:
    """Start `python app.py` on a free port and wait until it answers."""
    port = port or free_port()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            "SECRET_KEY": TEST_SECRET,
            "RONDA_INSTANCE_PATH": str(tmp_path / "instance"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("SOCKETIO_MESSAGE_QUEUE", None)
    env.update(extra_env or {})
    log_path = tmp_path / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", port=port, db_url=db_url, env=env, process=process, log_path=log_path
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if requests.get(f"{server.url}/api/v1/zones", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    server.stop(kill=True)
    raise RuntimeError(f"server did not answer within 60 s:\n{server.log()}")


@pytest.fixture
def live_server(app: Flask, db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The app served by `python app.py` on the test's database (users made with make_person
    before or during the test are visible to it)."""
    server = start_server(db_url=db_url, tmp_path=tmp_path, extra_env={"ALARM_ESCALATION_SECONDS": "2"})
    yield server
    server.stop()


@pytest.fixture
def make_committee(app: Flask) -> Callable[..., int]:
    """Create a committee of a zone with these people as members; its id."""
    from security.committees import add_member, create_committee
    from security.models import CommitteeCreate

    counter = iter(range(1, 10_000))

    def make(zone_id: int, members: list[Person], name: str | None = None) -> int:
        with Session(app.extensions["ronda"].engine, expire_on_commit=False) as s:
            committee = create_committee(
                session=s,
                actor=None,
                data=CommitteeCreate(name=name or f"Comité de prueba {next(counter)}", zone_id=zone_id),
            )
            for member in members:
                add_member(session=s, actor=None, committee=committee, user=member.user)
            s.commit()
            return int(committee.id)  # type: ignore[arg-type]

    return make


def patrol_body(committee_id: int, members: list[Person] | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid patrol start."""
    import uuid

    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "committee_id": committee_id,
        "members": [m.user.id for m in members or []],
    }
    body.update(overrides)
    return body
