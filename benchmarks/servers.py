"""The servers under test: Ronda and the bare baseline, each started in its own process group.

Both benchmarks (`push_latency.py`, `ingest.py`) drive the two servers through the same URLs
(`/api/v1/auth/token`, `/api/v1/incidents`, `/api/v1/zones`), so one set of load clients
measures both. Everything listens on 127.0.0.1 only, on a free port picked at start.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
PYTHON = ROOT / ".venv" / "bin" / "python"
FLASK = ROOT / ".venv" / "bin" / "flask"
HOST = "127.0.0.1"
PASSWORD = "benchmark-pass-123"
# Points inside the demo district (police may report anywhere in it).
ZONE_POINTS: dict[int, tuple[float, float]] = {1: (-12.1398, -76.9281), 3: (-12.1759, -76.9260)}


class ServerError(RuntimeError):
    """A server under test did not start, or a set-up step failed."""


@dataclass
class Server:
    """One running server under test: its name, base URL, process and log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (from /proc)."""
        return process_cpu_seconds(self.pid)

    def stop(self, timeout: float = 8.0) -> None:
        """Stop the server's whole process group: SIGTERM, then SIGKILL after `timeout`."""
        stop_group(self.process, timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log (for error messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def raise_fd_limit(wanted: int = 20_000) -> int:
    """Raise this process's open-file limit towards `wanted` (capped at the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (0.0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    # After the command name: state is field 0, utime field 11, stime field 12.
    return (int(fields[11]) + int(fields[12])) / ticks


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes], *, timeout: float = 8.0) -> None:
    """Terminate the process group led by `process` (started with start_new_session=True)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def exit_on_signals() -> None:
    """Turn SIGTERM (and SIGHUP) into SystemExit so `finally` blocks stop the servers."""

    def _raise(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGHUP, _raise)


def http_json(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    """One JSON request with urllib (set-up only; the load clients use their own connections)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_ready(server: Server, *, timeout: float = 90.0) -> None:
    """Poll GET /api/v1/zones until it answers 200; ServerError if the server dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/v1/zones", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise ServerError(f"{server.name} not ready after {timeout:.0f} s:\n{server.log_tail()}")


def token_for(server: Server, username: str, password: str = PASSWORD) -> str:
    """A bearer token from POST /api/v1/auth/token."""
    answer = http_json("POST", f"{server.url}/api/v1/auth/token", {"username": username, "password": password})
    return str(answer["access_token"])


def _spawn(name: str, argv: list[str], *, env: dict[str, str], workdir: Path, port: int) -> Server:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop_group() reaches its children
        )
    return Server(name=name, url=f"http://{HOST}:{port}", process=process, log_path=log_path, env=env)


def ronda_env(workdir: Path) -> dict[str, str]:
    """Environment for a Ronda with a fresh SQLite database and instance folder in `workdir`."""
    instance = workdir / "ronda-instance"
    instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'ronda.db'}",
        SECRET_KEY=secrets.token_urlsafe(32),
        RONDA_INSTANCE_PATH=str(instance),
        PYTHONUNBUFFERED="1",
    )
    env.pop("RONDA_DEBUG", None)
    env.pop("SOCKETIO_MESSAGE_QUEUE", None)
    return env


def create_ronda_user(env: dict[str, str], username: str, *, role: str, zone_id: int | None = None) -> None:
    """`flask --app app users create` against the benchmark's database (migrates it on first use)."""
    argv = [str(FLASK), "--app", "app", "users", "create", username, "--role", role, "--password", PASSWORD]
    if zone_id is not None:
        argv += ["--zone", str(zone_id)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ServerError(f"creating user {username} failed:\n{done.stdout}\n{done.stderr}")


def start_ronda(workdir: Path, *, users: list[tuple[str, str, int | None]]) -> Server:
    """Create `users` (name, role, zone) in a fresh database, then start `app.py` with gevent."""
    env = ronda_env(workdir)
    for username, role, zone_id in users:
        create_ronda_user(env, username, role=role, zone_id=zone_id)
    port = free_port()
    argv = [str(PYTHON), str(ROOT / "app.py"), "--host", HOST, "--port", str(port)]
    server = _spawn("ronda", argv, env=env, workdir=workdir, port=port)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def start_bare(workdir: Path) -> Server:
    """Start `bare_push_server.py` (the minimal Flask-SocketIO + SQLModel baseline)."""
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    argv = [
        str(PYTHON),
        str(BENCHMARKS / "bare_push_server.py"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--db",
        str(workdir / "bare.db"),
    ]
    server = _spawn("bare", argv, env=env, workdir=workdir, port=port)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server
