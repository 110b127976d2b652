"""The `flask users ...` and `flask devices ...` verbs an operator scripts at the server: Spanish
help and messages, tab-separated lists, a one-time code or key alone on stdout, a non-zero exit
on error, and every change on the audit record (made by nobody: the server's operator)."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlmodel import Session, select

from security.models import AlarmDevice, AuditEntry, User
from tests.conftest import OUTSIDE, PASSWORD, ZONE_POINTS


def lines_of(session: Session, action: str) -> list[AuditEntry]:
    session.rollback()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


def account(session: Session, username: str) -> User:
    session.rollback()
    session.expire_all()
    return session.exec(select(User).where(User.username == username)).one()


def signs_in(client, username: str, password: str = PASSWORD) -> int:
    return client.post("/api/v1/auth/token", json={"username": username, "password": password}).status_code


@pytest.fixture
def people(make_person):
    return {
        "juan": make_person("volunteer", zone_id=3, username="juan"),
        "rosa": make_person("coordinator", zone_id=3, username="rosa"),
        "ana": make_person("neighbor", zone_id=2, username="ana"),
        "jefa": make_person("admin", username="jefa"),
    }


def test_the_help_is_in_spanish(runner):
    group = runner.invoke(args=["users", "--help"])
    assert group.exit_code == 0
    for text in ("Cuentas de las personas", "Lista las cuentas", "Desactiva una cuenta", "Reemplaza la contraseña"):
        assert text in group.output
    assert "Se pide dos veces" in runner.invoke(args=["users", "create", "--help"]).output
    assert "Registra un dispositivo" in runner.invoke(args=["devices", "--help"]).output
    assert "Solo las cuentas desactivadas" in runner.invoke(args=["users", "list", "--help"]).output


def test_users_list_is_tab_separated_and_filtered(runner, people, session):
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(row) == 6 for row in rows)
    by_name = {row[1]: row for row in rows}
    assert by_name["juan"] == [str(people["juan"].user.id), "juan", "volunteer", "3", "activa", "Nombre de juan"]
    assert by_name["jefa"][3] == "-"

    zone3 = runner.invoke(args=["users", "list", "--zona", "3"]).stdout
    assert {line.split("\t")[1] for line in zone3.splitlines()} == {"juan", "rosa"}
    assert runner.invoke(args=["users", "list", "--rol", "coordinator"]).stdout.split("\t")[1] == "rosa"
    assert runner.invoke(args=["users", "list", "--buscar", "ROS"]).stdout.split("\t")[1] == "rosa"

    assert runner.invoke(args=["users", "deactivate", "ana"]).exit_code == 0
    assert "ana" not in runner.invoke(args=["users", "list"]).stdout
    inactive = runner.invoke(args=["users", "list", "--inactivos"]).stdout.splitlines()
    assert [line.split("\t")[1:5:3] for line in inactive] == [["ana", "desactivada"]]
    assert "ana" in runner.invoke(args=["users", "list", "--todos"]).stdout
    assert runner.invoke(args=["users", "list", "--rol", "alcalde"]).exit_code != 0


def test_deactivate_and_activate(runner, client, people, session):
    result = runner.invoke(args=["users", "deactivate", "juan"])
    assert result.exit_code == 0 and "Cuenta «juan» desactivada" in result.output
    assert not account(session, "juan").active and signs_in(client, "juan") == 401
    assert client.get("/api/v1/me", headers=people["juan"].headers).status_code == 401
    again = runner.invoke(args=["users", "deactivate", "juan"])
    assert again.exit_code == 0 and "ya estaba desactivada" in again.output

    back = runner.invoke(args=["users", "activate", "juan"])
    assert back.exit_code == 0 and "Cuenta «juan» reactivada." in back.output and signs_in(client, "juan") == 200
    assert "ya estaba activa" in runner.invoke(args=["users", "activate", "juan"]).output
    (off,) = lines_of(session, "user.deactivated")
    (on,) = lines_of(session, "user.activated")
    assert off.actor_id is None and on.actor_id is None and off.object_id == str(people["juan"].user.id)

    missing = runner.invoke(args=["users", "deactivate", "nadie"])
    assert missing.exit_code != 0 and "No existe la cuenta «nadie»." in missing.output


def test_the_last_admin_cannot_be_deactivated(runner, people):
    result = runner.invoke(args=["users", "deactivate", "jefa"])
    assert result.exit_code != 0 and "No se puede desactivar al último administrador activo." in result.output


def test_set_role(runner, client, people, session):
    result = runner.invoke(args=["users", "set-role", "juan", "coordinator", "--zone", "2"])
    assert result.exit_code == 0, result.output
    assert "Cuenta «juan»: coordinator, zona 2. Sus sesiones se cerraron." in result.output
    juan = account(session, "juan")
    assert (juan.role, juan.zone_id) == ("coordinator", 2)
    assert client.get("/api/v1/me", headers=people["juan"].headers).status_code == 401
    (line,) = lines_of(session, "user.updated")
    assert line.actor_id is None and '"zone_id": {"from": 3, "to": 2}' in line.detail

    renamed = runner.invoke(
        args=["users", "set-role", "juan", "coordinator", "--zone", "2", "--display-name", "Juan Pérez"]
    )
    assert renamed.exit_code == 0 and "nombre «Juan Pérez»" in renamed.output
    same = runner.invoke(args=["users", "set-role", "juan", "coordinator", "--zona", "2"])
    assert same.exit_code == 0 and "nada que cambiar" in same.output

    no_zone = runner.invoke(args=["users", "set-role", "ana", "volunteer"])
    assert no_zone.exit_code != 0 and "Este rol pertenece a una zona: indique la zona." in no_zone.output
    bad_zone = runner.invoke(args=["users", "set-role", "ana", "volunteer", "--zone", "99"])
    assert bad_zone.exit_code != 0 and "No existe la zona 99." in bad_zone.output
    assert runner.invoke(args=["users", "set-role", "ana", "alcalde"]).exit_code != 0
    police = runner.invoke(args=["users", "set-role", "ana", "police", "--zone", "2"])
    assert police.exit_code == 0 and account(session, "ana").zone_id is None  # police work every zone
    last = runner.invoke(args=["users", "set-role", "jefa", "police"])
    assert last.exit_code != 0 and "último administrador" in last.output


def test_reset_password_prints_only_the_code(runner, client, people, session):
    result = runner.invoke(args=["users", "reset-password", "juan"])
    assert result.exit_code == 0
    code = result.stdout.strip()
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", code), result.stdout
    assert "no se vuelve a mostrar" in result.stderr
    assert account(session, "juan").must_change_password
    assert signs_in(client, "juan") == 401
    refused = client.post("/api/v1/auth/token", json={"username": "juan", "password": code})
    assert refused.status_code == 403 and refused.get_json()["error"] == "password_change_required"
    (line,) = lines_of(session, "user.password_reset")
    assert line.actor_id is None and code not in (line.detail or "")


def test_end_sessions(runner, client, people, session):
    result = runner.invoke(args=["users", "end-sessions", "rosa"])
    assert result.exit_code == 0 and "Se cerraron todas las sesiones de «rosa»." in result.output
    assert client.get("/api/v1/me", headers=people["rosa"].headers).status_code == 401
    assert signs_in(client, "rosa") == 200  # the password did not change
    (line,) = lines_of(session, "user.sessions_ended")
    assert line.actor_id is None and line.object_id == str(people["rosa"].user.id)


def test_users_create_speaks_spanish(runner, session):
    result = runner.invoke(
        args=["users", "create", "carmen", "--role", "coordinator", "--zone", "4", "--password", "una-clave-larga"]
    )
    assert result.exit_code == 0 and "Cuenta creada: «carmen», coordinator" in result.output
    taken = runner.invoke(args=["users", "create", "carmen", "--role", "police", "--password", "una-clave-larga"])
    assert taken.exit_code != 0 and "Ese nombre de usuario ya está en uso." in taken.output
    short = runner.invoke(args=["users", "create", "luz", "--role", "police", "--password", "123"])
    assert short.exit_code != 0 and "al menos 8 caracteres" in short.output
    prompted = runner.invoke(
        args=["users", "create", "jefe", "--role", "police"], input="clave-policial-1\nclave-policial-1\n"
    )
    assert prompted.exit_code == 0 and "Contraseña" in prompted.output and "Repita la contraseña" in prompted.output


def test_devices_register_key_and_retire(runner, client, session):
    lat, lon = ZONE_POINTS[4]
    result = runner.invoke(args=["devices", "register", "Alarma Mz. K", "--lat", str(lat), "--lon", str(lon)])
    assert result.exit_code == 0, result.output
    device_id = int(result.stdout.strip())
    assert f"devices key {device_id}" in result.stderr
    session.rollback()
    device = session.get(AlarmDevice, device_id)
    assert device.zone_id == 4 and device.block_id is not None and device.key_hash is None
    key = runner.invoke(args=["devices", "key", str(device_id)]).stdout.strip()
    body = {"client_id": str(uuid.uuid4()), "source": "device"}
    assert client.post("/api/v1/alarms", json=body, headers={"X-Device-Key": key}).status_code == 201

    retired = runner.invoke(args=["devices", "retire", str(device_id)])
    assert retired.exit_code == 0 and f"Dispositivo {device_id} retirado" in retired.output
    body = {"client_id": str(uuid.uuid4()), "source": "device"}
    assert client.post("/api/v1/alarms", json=body, headers={"X-Device-Key": key}).status_code == 401
    assert "ya estaba retirado" in runner.invoke(args=["devices", "retire", str(device_id)]).output
    again = runner.invoke(args=["devices", "key", str(device_id)])
    assert again.exit_code != 0 and "está retirado" in again.output
    assert [e.actor_id for e in lines_of(session, "device.registered")] == [None]
    assert [e.object_id for e in lines_of(session, "device.retired")] == [str(device_id)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["devices", "register", "Fuera", "--lat", str(OUTSIDE[0]), "--lon", str(OUTSIDE[1])], "fuera del distrito"),
        (["devices", "register", " ", "--lat", "-12.17", "--lon", "-76.92"], "El nombre está vacío."),
        (["devices", "retire", "999999"], "No existe el dispositivo 999999."),
        (["devices", "key", "999999"], "No existe el dispositivo 999999."),
    ],
)
def test_devices_refuse_bad_input(runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and message in result.output
