"""Ending sessions: sign-out, deactivation, a new password or role, a reset and "cerrar todas las
sesiones" each end every token and web session of the person at once (security/accounts.py)."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from security import accounts
from security.models import AuditEntry, User
from tests.conftest import PASSWORD


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _sign_in(client, username: str, password: str = PASSWORD):
    csrf = _csrf(client.get("/entrar").get_data(as_text=True))
    return client.post("/entrar", data={"csrf": csrf, "username": username, "password": password})


def _page_token(client) -> str:
    page = client.get("/mapa").get_data(as_text=True)
    return re.search(r'"token": ?"([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _me(client, token: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def _change(app, user_id: int, change) -> None:
    with Session(app.extensions["ronda"].engine, expire_on_commit=False) as s:
        user = s.get(User, user_id)
        change(s, user)
        s.commit()


def test_signing_out_of_the_web_ends_the_token_the_map_page_used(app, make_person):
    police = make_person("police", username="comisaria")
    browser = app.test_client()
    assert _sign_in(browser, "comisaria").status_code == 302
    token = _page_token(browser)
    assert _me(browser, token) == 200
    csrf = _csrf(browser.get("/mapa").get_data(as_text=True))
    assert browser.post("/salir", data={"csrf": csrf}).status_code == 302
    answer = browser.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "unauthorized"
    assert _me(browser, police.token) == 401  # the phone's token of the same person too
    assert browser.get("/mapa").status_code == 302  # the browser is signed out


def test_a_web_session_ends_when_the_account_is_signed_out_elsewhere(app, make_person):
    make_person("coordinator", zone_id=3, username="rosa")
    station, home = app.test_client(), app.test_client()
    _sign_in(station, "rosa")
    _sign_in(home, "rosa")
    assert home.get("/tendencias").status_code == 200
    csrf = _csrf(station.get("/mapa").get_data(as_text=True))
    station.post("/salir", data={"csrf": csrf})
    answer = home.get("/tendencias")
    assert answer.status_code == 302 and "/entrar" in answer.headers["Location"]


def test_deactivation_ends_every_token_and_only_the_right_password_learns_why(app, make_person):
    volunteer = make_person("volunteer", zone_id=2, username="juan")
    client = app.test_client()
    assert _me(client, volunteer.token) == 200
    _change(app, volunteer.user.id, lambda s, u: accounts.deactivate(session=s, actor=None, user=u))
    assert _me(client, volunteer.token) == 401
    refused = client.post("/api/v1/auth/token", json={"username": "juan", "password": PASSWORD})
    wrong = client.post("/api/v1/auth/token", json={"username": "juan", "password": "otra-cosa-123"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.get_json()["reason"] == "deactivated" and "desactivada" in refused.get_json()["message"]
    assert wrong.get_json()["reason"] == "credentials"  # without the password, nothing is told
    _change(app, volunteer.user.id, lambda s, u: accounts.activate(session=s, actor=None, user=u))
    assert client.post("/api/v1/auth/token", json={"username": "juan", "password": PASSWORD}).status_code == 200
    assert _me(client, volunteer.token) == 401  # the old token stays ended


def test_a_new_role_or_zone_ends_the_sessions_but_a_new_display_name_does_not(app, make_person):
    person = make_person("volunteer", zone_id=2)
    client = app.test_client()
    _change(app, person.user.id, lambda s, u: accounts.change_role(
        session=s, actor=None, user=u, role="volunteer", zone_id=2, display_name="Juan Pérez"))  # fmt: skip
    assert _me(client, person.token) == 200
    _change(app, person.user.id, lambda s, u: accounts.change_role(
        session=s, actor=None, user=u, role="volunteer", zone_id=4))  # fmt: skip
    assert _me(client, person.token) == 401


def test_a_password_reset_gives_a_one_time_code_that_only_sets_a_new_password(app, make_person):
    person = make_person("neighbor", zone_id=1, username="vecina")
    client = app.test_client()
    codes: list[str] = []
    _change(app, person.user.id, lambda s, u: codes.append(accounts.reset_password(session=s, actor=None, user=u)))
    code = codes[0]
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", code)
    assert _me(client, person.token) == 401
    assert client.post("/api/v1/auth/token", json={"username": "vecina", "password": PASSWORD}).status_code == 401
    needs = client.post("/api/v1/auth/token", json={"username": "vecina", "password": code})
    assert needs.status_code == 403
    assert needs.get_json()["error"] == "password_change_required"
    weak = client.post(
        "/api/v1/auth/password", json={"username": "vecina", "password": code, "new_password": "12345678"}
    )
    assert weak.status_code == 422
    assert weak.get_json()["fields"][0]["field"] == "new_password"
    done = client.post(
        "/api/v1/auth/password", json={"username": "vecina", "password": code, "new_password": "mi-clave-nueva-9"}
    )
    assert done.status_code == 200
    assert _me(client, done.get_json()["access_token"]) == 200
    assert client.post("/api/v1/auth/token", json={"username": "vecina", "password": code}).status_code == 401
    ok = client.post("/api/v1/auth/token", json={"username": "vecina", "password": "mi-clave-nueva-9"})
    assert ok.status_code == 200


def test_the_sign_in_page_sends_a_reset_account_to_choose_its_new_password(app, make_person):
    person = make_person("coordinator", zone_id=5, username="rosa")
    codes: list[str] = []
    _change(app, person.user.id, lambda s, u: codes.append(accounts.reset_password(session=s, actor=None, user=u)))
    browser = app.test_client()
    answer = _sign_in(browser, "rosa", codes[0])
    assert answer.status_code == 302 and "/cuenta/clave-nueva" in answer.headers["Location"]
    assert browser.get("/mapa").status_code == 302  # nothing else opens with the code
    page = browser.get(answer.headers["Location"])
    assert "Elija una contraseña nueva" in page.get_data(as_text=True)
    csrf = _csrf(page.get_data(as_text=True))
    mismatch = browser.post(answer.headers["Location"], data={"csrf": csrf, "new_password": "una-clave-larga-1",
                                                              "repeat_password": "otra-clave-larga-2"})  # fmt: skip
    assert mismatch.status_code == 422 and "no coinciden" in mismatch.get_data(as_text=True)
    done = browser.post(answer.headers["Location"], data={"csrf": csrf, "new_password": "una-clave-larga-1",
                                                          "repeat_password": "una-clave-larga-1"})  # fmt: skip
    assert done.status_code == 302
    assert browser.get("/mapa").status_code == 200


def test_closing_every_session_from_the_account_page_and_the_api(app, make_person, session):
    person = make_person("volunteer", zone_id=3, username="ana")
    web = app.test_client()
    _sign_in(web, "ana")
    page = web.get("/cuenta")
    assert page.status_code == 200 and "Cerrar todas mis sesiones" in page.get_data(as_text=True)
    answer = web.post("/cuenta/cerrar-sesiones", data={"csrf": _csrf(page.get_data(as_text=True))})
    assert answer.status_code == 302 and "/entrar" in answer.headers["Location"]
    assert _me(web, person.token) == 401
    assert web.get("/cuenta").status_code == 302

    token = web.post("/api/v1/auth/token", json={"username": "ana", "password": PASSWORD}).get_json()["access_token"]
    assert web.delete("/api/v1/me/sessions", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert _me(web, token) == 401
    ended = session.exec(select(AuditEntry).where(AuditEntry.action == "user.sessions_ended")).all()
    assert len(ended) == 2 and {e.actor_username for e in ended} == {"ana"}


def test_changing_ones_password_keeps_this_browser_in_and_ends_the_others(app, make_person):
    person = make_person("police", username="comisaria")
    web = app.test_client()
    _sign_in(web, "comisaria")
    page = web.get("/cuenta").get_data(as_text=True)
    new = {"new_password": "clave-nueva-larga", "repeat_password": "clave-nueva-larga"}
    wrong = web.post("/cuenta/clave", data={"csrf": _csrf(page), "current_password": "no-es-esta", **new})
    assert wrong.status_code == 401 and "no es correcta" in wrong.get_data(as_text=True)
    done = web.post("/cuenta/clave", data={"csrf": _csrf(page), "current_password": PASSWORD, **new})
    assert done.status_code == 302
    assert web.get("/mapa").status_code == 200
    assert _me(web, person.token) == 401


def test_tokens_from_before_session_versions_are_refused(app, make_person):
    from itsdangerous import URLSafeTimedSerializer

    person = make_person("police")
    old_style = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="ronda-api-token").dumps({"uid": person.user.id})
    assert _me(app.test_client(), old_style) == 401


def test_the_last_active_admin_cannot_be_deactivated_or_demoted(app, make_person):
    admin = make_person("admin")
    from security.errors import Conflict

    for change in (
        lambda s, u: accounts.deactivate(session=s, actor=None, user=u),
        lambda s, u: accounts.change_role(session=s, actor=None, user=u, role="police", zone_id=None),
    ):
        try:
            _change(app, admin.user.id, change)
        except Conflict:
            pass
        else:
            raise AssertionError("the last admin was changed")
    make_person("admin")
    _change(app, admin.user.id, lambda s, u: accounts.deactivate(session=s, actor=None, user=u))
