"""Web administration (/admin): accounts, committees and alarm devices, per role; each action on the
audit record; one-time codes and keys shown once; CSRF; bad input answered with a readable message."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from sqlmodel import Session, select

from security.models import AlarmDevice, AuditEntry, Committee, CommitteeMember, User
from tests.conftest import OUTSIDE, PASSWORD, ZONE_POINTS

CODE = re.compile(r'id="one-time-code"[^>]*>([^<]+)<')
CODE_SHAPE = re.compile(r"^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$")


def csrf(client) -> str:
    with client.session_transaction() as web_session:
        return str(web_session["csrf"])


def sign_in(client, username: str, password: str = PASSWORD):
    """Sign this test client in; the answer of the sign-in form."""
    client.get("/entrar")
    response = client.post("/entrar", data={"username": username, "password": password, "csrf": csrf(client)})
    client.get("/entrar")  # a fresh form token for the signed-in session
    return response


def post(client, url: str, **form: str):
    return client.post(url, data={"csrf": csrf(client), **form})


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def problems(response) -> dict[str, str]:
    """The message next to each field the page marks as refused."""
    found = re.findall(r'<span class="field-problem" id="err-(\w+)">([^<]+)</span>', response.get_data(as_text=True))
    return {field: html.unescape(message) for field, message in found}


def entries(session: Session, **where: object) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)  # type: ignore[arg-type]
    for name, value in where.items():
        query = query.where(getattr(AuditEntry, name) == value)
    session.rollback()
    return list(session.exec(query).all())


def fresh(session: Session, model, object_id: int):
    session.rollback()
    session.expire_all()
    return session.get(model, object_id)


def same_page(one, other) -> bool:
    """Two answers are the same page: only the language switch differs (it links back to the address asked)."""

    def strip(response) -> bytes:
        return re.sub(rb'href="/idioma/(es|en)[^"]*"', b"", response.data)

    return one.status_code == other.status_code and strip(one) == strip(other)


def token_works(client, person) -> bool:
    return client.get("/api/v1/me", headers=person.headers).status_code == 200


@pytest.fixture
def admin(client, make_person):
    person = make_person("admin", username="jefa")
    sign_in(client, "jefa")
    return person


# --- who may use what -------------------------------------------------------------------------


def test_the_front_page_offers_each_role_its_sections(client, make_person):
    make_person("admin", username="jefa")
    make_person("coordinator", zone_id=3, username="rosa")
    anonymous = client.get("/admin")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/entrar?next=")

    sign_in(client, "jefa")
    page = client.get("/admin")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert all(f'id="section-{s}"' in text(page) for s in ("users", "committees", "devices", "audit"))
    assert 'id="nav-admin"' in text(client.get("/mapa"))

    client.post("/salir", data={"csrf": csrf(client)})
    sign_in(client, "rosa")
    page = text(client.get("/admin"))
    assert 'id="section-committees"' in page
    assert not any(f'id="section-{s}"' in page for s in ("users", "devices", "audit"))
    assert "Inca Pachacútec" in page  # their zone, named


@pytest.mark.parametrize("role", ["volunteer", "neighbor", "police", "serenazgo"])
def test_everybody_else_is_refused_and_the_refusal_is_on_the_record(client, make_person, session, role):
    person = make_person(role, zone_id=3 if role in ("volunteer", "neighbor") else None)
    sign_in(client, person.user.username)
    for url in ("/admin", "/admin/usuarios", "/admin/comites", "/admin/dispositivos", "/admin/usuarios/1"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "La administración es solo para administradores y coordinadores de comité." in text(response)
    assert post(client, "/admin/usuarios/1/clave").status_code == 403
    assert 'id="nav-admin"' not in text(client.get("/mapa"))
    denied = entries(session, action="access.denied", actor_id=person.user.id)
    assert len(denied) == 6 and all(e.outcome == "denied" for e in denied)
    assert entries(session, action="user.password_reset") == []


def test_a_coordinator_probing_other_sections_gets_the_missing_page(client, make_person, session):
    make_person("coordinator", zone_id=3, username="rosa")
    juan = make_person("volunteer", zone_id=3, username="juan")
    sign_in(client, "rosa")
    missing = client.get("/admin/usuarios/999999")
    assert missing.status_code == 404
    for url in ("/admin/usuarios", f"/admin/usuarios/{juan.user.id}", "/admin/dispositivos"):
        response = client.get(url)
        assert response.status_code == 404 and same_page(response, missing), url
    answer = post(client, f"/admin/usuarios/{juan.user.id}/clave")
    assert answer.status_code == 404 and same_page(answer, missing)
    assert not fresh(session, User, juan.user.id).must_change_password
    # The missing id too: the whole section is refused to coordinators, whatever the id.
    assert len(entries(session, action="access.denied", actor_username="rosa")) == 5


def test_a_form_without_the_session_token_is_refused(client, admin, make_person, session):
    juan = make_person("volunteer", zone_id=3, username="juan")
    for data in ({}, {"csrf": "not-the-token"}):
        response = client.post(f"/admin/usuarios/{juan.user.id}/desactivar", data=data)
        assert response.status_code == 400
        assert "El formulario caducó; vuelva a intentarlo." in text(response)
    assert fresh(session, User, juan.user.id).active
    assert client.post("/admin/usuarios", data={"username": "x", "role": "police"}).status_code == 400
    assert session.exec(select(User).where(User.username == "x")).first() is None


# --- accounts ---------------------------------------------------------------------------------


def test_the_list_searches_filters_and_pages(client, admin, make_person, session):
    for n in range(55):
        session.add(User(username=f"vecino{n:02d}", display_name=f"Vecino {n}", password_hash="-", role="neighbor",
                         zone_id=2, active=n % 10 != 0))  # fmt: skip
    session.add(User(username="rquispe", display_name="Rosa Quispe", password_hash="-", role="coordinator", zone_id=3))
    session.commit()

    page = text(client.get("/admin/usuarios?buscar=QUISPE"))
    assert "rquispe" in page and "vecino01" not in page and "Cuentas encontradas: 1" in page
    first = text(client.get("/admin/usuarios?rol=neighbor&zona=2"))
    assert "Cuentas encontradas: 55" in first and "Página 1 de 2" in first and 'id="next-page"' in first
    second = text(client.get("/admin/usuarios?rol=neighbor&zona=2&pagina=2"))
    shown = set(re.findall(r'data-username="(vecino\d\d)"', first)) | set(
        re.findall(r'data-username="(vecino\d\d)"', second)
    )
    assert len(shown) == 55
    inactive = text(client.get("/admin/usuarios?estado=inactivos&rol=neighbor"))
    assert "Cuentas encontradas: 6" in inactive and "Desactivada" in inactive

    bad = client.get("/admin/usuarios?rol=alcalde")
    assert bad.status_code == 400 and "Elija un rol de la lista." in text(bad)
    assert client.get("/admin/usuarios?zona=99").status_code == 400
    assert client.get("/admin/usuarios?buscar=" + "x" * 101).status_code == 400
    assert client.get("/admin/usuarios?buscar=%00").status_code == 200  # control characters are dropped


def test_a_new_account_gets_a_one_time_code_shown_once_that_forces_a_new_password(client, admin, session):
    answer = post(client, "/admin/usuarios", username="juan", display_name="Juan Pérez", role="volunteer", zone_id="3")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    (code,) = CODE.findall(answer.get_data(as_text=True))
    assert CODE_SHAPE.match(code)
    page = text(answer)
    assert "Este código se muestra solo esta vez." in page and "«juan»" in page and "Juan Pérez" in page

    juan = session.exec(select(User).where(User.username == "juan")).one()
    assert juan.role == "volunteer" and juan.zone_id == 3 and juan.must_change_password
    lines = entries(session, object_type="user", object_id=str(juan.id))
    assert [(e.action, e.actor_username) for e in lines] == [("user.created", "jefa")]  # one line, one hash
    assert code not in str([e.detail for e in lines])
    assert code not in text(client.get(f"/admin/usuarios/{juan.id}"))  # never shown again

    # The code opens nothing but the page that sets a new password.
    refused = client.post("/api/v1/auth/token", json={"username": "juan", "password": code})
    assert refused.status_code == 403 and refused.get_json()["error"] == "password_change_required"
    person = client.application.test_client()
    entered = sign_in(person, "juan", code)
    assert entered.status_code == 302 and "/cuenta/clave-nueva" in entered.headers["Location"]
    new_page = person.get(entered.headers["Location"])
    assert new_page.status_code == 200
    chosen = person.post(
        entered.headers["Location"],
        data={"csrf": csrf(person), "new_password": "mi-clave-propia-9", "repeat_password": "mi-clave-propia-9"},
    )
    assert chosen.status_code == 302
    token = client.post("/api/v1/auth/token", json={"username": "juan", "password": "mi-clave-propia-9"})
    assert token.status_code == 200
    assert client.post("/api/v1/auth/token", json={"username": "juan", "password": code}).status_code == 401


def test_a_new_account_with_a_typed_password(client, admin, session):
    answer = post(
        client, "/admin/usuarios", username="comisaria", role="police", zone_id="3", password="patrulla-norte-2026"
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("hecho=creada")
    police = session.exec(select(User).where(User.username == "comisaria")).one()
    assert police.zone_id is None and not police.must_change_password  # police work every zone
    page = text(client.get(answer.headers["Location"]))
    assert "La cuenta se creó con la contraseña que usted escribió." in page
    token = client.post("/api/v1/auth/token", json={"username": "comisaria", "password": "patrulla-norte-2026"})
    assert token.status_code == 200


@pytest.mark.parametrize(
    ("form", "field", "message", "status"),
    [
        ({"username": "jefa", "role": "police"}, "username", "Ese nombre de usuario ya está en uso.", 422),
        ({"username": "ana maria", "role": "police"}, "username", "sin espacios", 422),
        ({"username": "ana\x00", "role": "police"}, "username", "caracteres de control", 422),
        ({"username": "", "role": "police"}, "username", "El nombre de usuario está vacío.", 422),
        ({"username": "ana", "role": "volunteer"}, "zone_id", "Este rol pertenece a una zona", 422),
        ({"username": "ana", "role": "volunteer", "zone_id": "99"}, "zone_id", "Elija una zona de la lista.", 422),
        ({"username": "ana", "role": "volunteer", "zone_id": "tres"}, "zone_id", "Elija una zona de la lista.", 422),
        ({"username": "ana", "role": "alcalde"}, "role", "Elija un rol de la lista.", 422),
        ({"username": "ana", "role": "police", "password": "123"}, "password", "al menos 8 caracteres", 422),
        ({"username": "ana", "role": "police", "display_name": "x" * 121}, "display_name", "120 caracteres", 422),
    ],
)
def test_a_refused_new_account_says_why_next_to_the_field(client, admin, session, form, field, message, status):
    before = len(session.exec(select(User)).all())
    answer = post(client, "/admin/usuarios", **form)
    assert answer.status_code == status
    assert message in problems(answer).get(field, ""), problems(answer)
    assert "Revise los campos marcados." in text(answer)
    assert 'id="new-account" open' in text(answer)  # the form stays open, filled in
    session.rollback()
    assert len(session.exec(select(User)).all()) == before


def test_role_zone_and_name_change_end_the_sessions_and_drop_memberships(
    client, admin, make_person, make_committee, session
):
    juan = make_person("volunteer", zone_id=3, username="juan")
    committee = make_committee(3, [juan])
    assert token_works(client, juan)
    answer = post(
        client, f"/admin/usuarios/{juan.user.id}/datos", display_name="Juan Pérez", role="coordinator", zone_id="2"
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("hecho=datos")
    changed = fresh(session, User, juan.user.id)
    assert (changed.role, changed.zone_id, changed.display_name) == ("coordinator", 2, "Juan Pérez")
    assert not token_works(client, juan)
    assert session.get(CommitteeMember, (committee, juan.user.id)) is None
    (updated,) = entries(session, action="user.updated")
    assert updated.actor_username == "jefa" and '"role": {"from": "volunteer", "to": "coordinator"}' in updated.detail
    assert entries(session, action="committee.member_removed")[-1].actor_username == "jefa"
    page = text(client.get(answer.headers["Location"]))
    assert "Cambios guardados." in page and "Juan Pérez" in page

    same = post(
        client, f"/admin/usuarios/{juan.user.id}/datos", display_name="Juan Pérez", role="coordinator", zone_id="2"
    )
    assert same.headers["Location"].endswith("hecho=sin-cambios")


def test_refused_changes_say_why(client, admin, make_person, session):
    juan = make_person("volunteer", zone_id=3, username="juan")
    no_zone = post(client, f"/admin/usuarios/{juan.user.id}/datos", role="neighbor", zone_id="")
    assert no_zone.status_code == 422
    assert "Este rol pertenece a una zona: indique la zona." in problems(no_zone)["zone_id"]
    control = post(
        client, f"/admin/usuarios/{juan.user.id}/datos", role="volunteer", zone_id="3", display_name="a\x00b"
    )
    assert control.status_code == 422 and "display_name" in problems(control)
    # The only administrator cannot stop being one.
    last = post(client, f"/admin/usuarios/{admin.user.id}/datos", role="police")
    assert last.status_code == 409 and "No se puede quitar el rol al último administrador activo." in text(last)
    assert fresh(session, User, admin.user.id).role == "admin"
    missing = post(client, "/admin/usuarios/999999/datos", role="police")
    assert missing.status_code == 404
    assert client.get("/admin/usuarios/abc").status_code == 404


def test_deactivate_and_reactivate(client, admin, make_person, session):
    juan = make_person("volunteer", zone_id=3, username="juan")
    answer = post(client, f"/admin/usuarios/{juan.user.id}/desactivar")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("hecho=desactivada")
    assert not fresh(session, User, juan.user.id).active and not token_works(client, juan)
    assert client.post("/api/v1/auth/token", json={"username": "juan", "password": PASSWORD}).status_code == 401
    page = text(client.get(answer.headers["Location"]))
    assert "Cuenta desactivada" in page and 'id="activate-submit"' in page
    again = post(client, f"/admin/usuarios/{juan.user.id}/desactivar")
    assert again.headers["Location"].endswith("hecho=ya-inactiva")

    back = post(client, f"/admin/usuarios/{juan.user.id}/reactivar")
    assert back.headers["Location"].endswith("hecho=reactivada") and fresh(session, User, juan.user.id).active
    assert client.post("/api/v1/auth/token", json={"username": "juan", "password": PASSWORD}).status_code == 200
    lines = [
        e
        for e in entries(session, object_type="user", object_id=str(juan.user.id))
        if e.action not in ("auth.sign_in", "user.created")
    ]
    assert [(e.action, e.actor_username) for e in lines] == [
        ("user.deactivated", "jefa"),
        ("user.activated", "jefa"),
    ]

    last = post(client, f"/admin/usuarios/{admin.user.id}/desactivar")
    assert last.status_code == 409 and "No se puede desactivar al último administrador activo." in text(last)


def test_reset_password_shows_the_code_once_and_ends_the_sessions(client, admin, make_person, session):
    juan = make_person("volunteer", zone_id=3, username="juan")
    answer = post(client, f"/admin/usuarios/{juan.user.id}/clave")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    (code,) = CODE.findall(answer.get_data(as_text=True))
    assert CODE_SHAPE.match(code) and "Su contraseña anterior ya no sirve" in text(answer)
    assert not token_works(client, juan) and fresh(session, User, juan.user.id).must_change_password
    assert client.post("/api/v1/auth/token", json={"username": "juan", "password": PASSWORD}).status_code == 401
    refused = client.post("/api/v1/auth/token", json={"username": "juan", "password": code})
    assert refused.status_code == 403 and refused.get_json()["error"] == "password_change_required"
    (line,) = entries(session, action="user.password_reset")
    assert (line.actor_username, line.object_id) == ("jefa", str(juan.user.id))
    page = text(client.get(f"/admin/usuarios/{juan.user.id}"))
    assert code not in page and "Debe elegir una contraseña nueva al entrar" in page


def test_end_all_sessions(client, admin, make_person, session):
    juan = make_person("volunteer", zone_id=3, username="juan")
    answer = post(client, f"/admin/usuarios/{juan.user.id}/sesiones")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("hecho=sesiones")
    assert not token_works(client, juan)
    assert client.post("/api/v1/auth/token", json={"username": "juan", "password": PASSWORD}).status_code == 200
    (line,) = entries(session, action="user.sessions_ended")
    assert (line.actor_username, line.object_id) == ("jefa", str(juan.user.id))


# --- committees -------------------------------------------------------------------------------


def test_an_admin_creates_committees_and_manages_members(client, admin, make_person, session):
    juan = make_person("volunteer", zone_id=2, username="juan")
    make_person("neighbor", zone_id=2, username="vecina")
    answer = post(client, "/admin/comites", name="Junta Vecinal Los Pinos", zone_id="2")
    assert answer.status_code == 302
    committee = session.exec(select(Committee).where(Committee.name == "Junta Vecinal Los Pinos")).one()
    assert committee.zone_id == 2
    page = text(client.get(answer.headers["Location"]))
    assert "Comité creado." in page and '<option value="juan">' in page and '<option value="vecina">' not in page

    added = post(client, f"/admin/comites/{committee.id}/integrantes", username="juan")
    assert added.headers["Location"].endswith("hecho=agregado")
    assert fresh(session, CommitteeMember, (committee.id, juan.user.id)) is not None
    assert (
        post(client, f"/admin/comites/{committee.id}/integrantes", username="juan")
        .headers["Location"]
        .endswith("hecho=ya-integrante")
    )
    neighbour = post(client, f"/admin/comites/{committee.id}/integrantes", username="vecina")
    assert (
        neighbour.status_code == 422
        and "No hay un voluntario o coordinador activo de la zona del comité" in problems(neighbour)["username"]
    )
    removed = post(client, f"/admin/comites/{committee.id}/integrantes/{juan.user.id}/retirar")
    assert removed.headers["Location"].endswith("hecho=retirado")
    lines = entries(session, object_type="committee", object_id=str(committee.id))
    assert [(e.action, e.actor_username) for e in lines] == [
        ("committee.created", "jefa"), ("committee.member_added", "jefa"), ("committee.member_removed", "jefa"),
    ]  # fmt: skip

    listing = text(client.get("/admin/comites?zona=2"))
    assert "Junta Vecinal Los Pinos" in listing and "Comité vecinal Nueva Esperanza" not in listing
    assert "Comité vecinal Nueva Esperanza" in text(client.get("/admin/comites"))


@pytest.mark.parametrize(
    ("form", "field", "message", "status"),
    [
        ({"name": "", "zone_id": "2"}, "name", "El nombre está vacío.", 422),
        ({"name": "x" * 121, "zone_id": "2"}, "name", "hasta 120 caracteres", 422),
        ({"name": "Nuevo", "zone_id": ""}, "zone_id", "Elija una zona de la lista.", 422),
        ({"name": "Nuevo", "zone_id": "99"}, "zone_id", "Elija una zona de la lista.", 422),
    ],
)
def test_a_refused_committee_says_why(client, admin, form, field, message, status):
    answer = post(client, "/admin/comites", **form)
    assert answer.status_code == status and message in problems(answer).get(field, ""), problems(answer)


def test_a_committee_name_already_taken_in_the_zone(client, admin):
    assert post(client, "/admin/comites", name="Los Pinos", zone_id="2").status_code == 302
    again = post(client, "/admin/comites", name="Los Pinos", zone_id="2")
    assert again.status_code == 409 and "Ya existe un comité con ese nombre en la zona." in text(again)
    assert post(client, "/admin/comites", name="Los Pinos", zone_id="3").status_code == 302


def test_a_coordinator_manages_only_their_own_zones_committees(client, make_person, session):
    rosa = make_person("coordinator", zone_id=3, username="rosa")
    juan = make_person("volunteer", zone_id=3, username="juan")
    make_person("volunteer", zone_id=1, username="pedro")
    sign_in(client, "rosa")
    listing = text(client.get("/admin/comites"))
    assert "Inca Pachacútec" in listing and "Nueva Esperanza" not in listing and 'id="cf-zone"' not in listing

    created = post(client, "/admin/comites", name="Vigilancia Jr. Los Olivos", zone_id="1")  # the zone is theirs anyway
    assert created.status_code == 302
    mine = session.exec(select(Committee).where(Committee.name == "Vigilancia Jr. Los Olivos")).one()
    assert mine.zone_id == 3 and session.get(CommitteeMember, (mine.id, rosa.user.id)) is not None
    assert post(client, f"/admin/comites/{mine.id}/integrantes", username="juan").status_code == 302
    other_zone = post(client, f"/admin/comites/{mine.id}/integrantes", username="pedro")
    assert other_zone.status_code == 422 and "username" in problems(other_zone)
    assert post(client, f"/admin/comites/{mine.id}/integrantes/{juan.user.id}/retirar").status_code == 302

    # A committee of their zone they do not belong to: seen, not changed.
    theirs = session.exec(select(Committee).where(Committee.zone_id == 3, Committee.id != mine.id)).first()
    page = text(client.get(f"/admin/comites/{theirs.id}"))
    assert 'id="not-managed"' in page and 'id="add-member-form"' not in page
    refused = post(client, f"/admin/comites/{theirs.id}/integrantes", username="juan")
    assert refused.status_code == 403 and "Solo un coordinador del comité o un administrador" in text(refused)

    # Another zone's committee answers exactly like one that does not exist.
    other = session.exec(select(Committee).where(Committee.zone_id == 1)).first()
    missing = client.get("/admin/comites/999999")
    assert missing.status_code == 404
    probe = client.get(f"/admin/comites/{other.id}")
    assert probe.status_code == 404 and same_page(probe, missing)
    assert same_page(client.get("/admin/comites?zona=1"), missing)
    changed = post(client, f"/admin/comites/{other.id}/integrantes", username="pedro")
    assert changed.status_code == 404 and same_page(changed, missing)
    denied = entries(session, action="access.denied", actor_username="rosa")
    assert [(e.object_type, e.object_id) for e in denied] == [
        ("committee", str(theirs.id)), ("committee", str(other.id)), ("zone", "1"), ("committee", str(other.id)),
    ]  # fmt: skip


# --- alarm devices ----------------------------------------------------------------------------


def press(client, key: str):
    body = {"client_id": str(uuid.uuid4()), "source": "device"}
    return client.post("/api/v1/alarms", json=body, headers={"X-Device-Key": key})


def test_register_rotate_and_retire_a_device(client, admin, session):
    lat, lon = ZONE_POINTS[3]
    answer = post(
        client, "/admin/dispositivos", name="Alarma Jr. Los Olivos 120", lat=str(lat), lon=str(lon).replace(".", ",")
    )
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    (key,) = CODE.findall(answer.get_data(as_text=True))
    device = session.exec(select(AlarmDevice).where(AlarmDevice.name == "Alarma Jr. Los Olivos 120")).one()
    assert device.zone_id == 3 and device.block_id is not None and key.startswith(f"{device.id}.")
    assert "Esta clave se muestra solo esta vez." in text(answer)
    assert press(client, key).status_code == 201
    listing = text(client.get("/admin/dispositivos?zona=3"))
    assert f'data-device-id="{device.id}"' in listing and key not in listing  # newest first
    first, second = text(client.get("/admin/dispositivos")), text(client.get("/admin/dispositivos?pagina=2"))
    assert 'id="next-page"' in first and "Página 2 de" in second
    on = re.compile(r'data-device-id="(\d+)"')
    assert len(on.findall(first)) == 50 and not set(on.findall(first)) & set(on.findall(second))

    rotated = post(client, f"/admin/dispositivos/{device.id}/clave")
    (new_key,) = CODE.findall(rotated.get_data(as_text=True))
    assert new_key != key and press(client, key).status_code == 401 and press(client, new_key).status_code == 200

    retired = post(client, f"/admin/dispositivos/{device.id}/retirar")
    assert retired.headers["Location"].endswith("hecho=retirado")
    assert press(client, new_key).status_code == 401
    assert f'data-device-id="{device.id}"' not in text(client.get("/admin/dispositivos"))
    assert post(client, f"/admin/dispositivos/{device.id}/clave").status_code == 404  # retired: no new key
    lines = entries(session, object_type="device", object_id=str(device.id))
    assert [e.action for e in lines] == [
        "device.registered",
        "device.key_issued",
        "device.key_issued",
        "device.retired",
    ]
    assert all(e.actor_username == "jefa" for e in lines if e.action != "device.key_issued")


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": "", "lat": "-12.1759", "lon": "-76.926"}, "name", "El nombre está vacío."),
        ({"name": "A", "lat": "doce", "lon": "-76.926"}, "lat", "grados decimales"),
        ({"name": "A", "lat": "nan", "lon": "-76.926"}, "lat", "grados decimales"),
        ({"name": "A", "lat": str(OUTSIDE[0]), "lon": str(OUTSIDE[1])}, "lat", "El punto está fuera del distrito."),
        ({"name": "A", "lat": "95", "lon": "-76.926"}, "lat", "La latitud va de -90 a 90"),
        ({"name": "A\x00", "lat": "-12.1759", "lon": "-76.926"}, "name", "caracteres de control"),
    ],
)
def test_a_refused_device_says_why(client, admin, session, form, field, message):
    before = len(session.exec(select(AlarmDevice)).all())
    answer = post(client, "/admin/dispositivos", **form)
    assert answer.status_code == 422 and message in problems(answer).get(field, ""), problems(answer)
    assert len(session.exec(select(AlarmDevice)).all()) == before


# --- every page -------------------------------------------------------------------------------


def test_the_pages_have_no_inline_script_speak_english_and_are_never_cached(client, admin, make_person, session):
    juan = make_person("volunteer", zone_id=3, username="juan")
    committee = session.exec(select(Committee)).first()
    urls = ["/admin", "/admin/usuarios", f"/admin/usuarios/{juan.user.id}", "/admin/comites",
            f"/admin/comites/{committee.id}", "/admin/dispositivos"]  # fmt: skip
    for url in urls:
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", url
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), url
        assert not re.search(r"\son[a-z]+\s*=", body), url
        assert not re.search(r"\sstyle\s*=", body), url
    english = client.get("/admin/usuarios?lang=en")
    page = text(english)
    assert "Users" in page and "Create an account" in page and "Usuarios" not in page
    assert "Deactivate the account…" in text(client.get(f"/admin/usuarios/{juan.user.id}?lang=en"))
