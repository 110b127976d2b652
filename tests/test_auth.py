"""Signing in, tokens, users and the secret key."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from app import create_app
from security.auth import UserError, create_user
from security.models import User
from tests.conftest import PASSWORD, TEST_SECRET


def test_token_for_good_credentials(client, make_person):
    person = make_person("volunteer", zone_id=2, username="rosa")
    response = client.post("/api/v1/auth/token", json={"username": "rosa", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 12 * 3600
    assert body["role"] == "volunteer" and body["zone_id"] == 2
    kinds = client.get("/api/v1/incident-kinds", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert kinds.status_code == 200
    assert person.user.password_hash not in response.get_data(as_text=True)


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_bad_credentials_are_refused(client, make_person, password):
    make_person("police", username="sargento")
    response = client.post("/api/v1/auth/token", json={"username": "sargento", "password": password})
    assert response.status_code in (401, 422)
    assert "access_token" not in response.get_json()


def test_unknown_user_gets_401_not_a_hint(client):
    response = client.post("/api/v1/auth/token", json={"username": "nadie", "password": "loquesea123"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_token_request_without_fields_names_them(client):
    response = client.post("/api/v1/auth/token", json={})
    assert response.status_code == 422
    assert {f["field"] for f in response.get_json()["fields"]} == {"username", "password"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer nope.nope"}],
)
def test_missing_or_invalid_token_is_401(client, headers):
    response = client.get("/api/v1/incidents", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("app_config", [{"TOKEN_TTL_SECONDS": -1}])
def test_expired_token_is_401_saying_expired(client, make_person):
    person = make_person("police")
    response = client.get("/api/v1/incidents", headers=person.headers)
    assert response.status_code == 401
    assert response.get_json()["reason"] == "expired"


def test_token_of_a_deactivated_user_stops_working(client, make_person, session):
    person = make_person("police")
    assert client.get("/api/v1/incidents", headers=person.headers).status_code == 200
    user = session.exec(select(User).where(User.id == person.user.id)).one()
    user.active = False
    session.add(user)
    session.commit()
    assert client.get("/api/v1/incidents", headers=person.headers).status_code == 401


def test_every_route_but_the_districts_geography_needs_a_token(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    public = {
        ("/api/v1/zones", "get"),
        ("/api/v1/zones/{zone_id}/blocks", "get"),
        ("/api/v1/auth/token", "post"),
        ("/api/v1/auth/password", "post"),  # with the current password or a reset's one-time code
    }
    for path, operations in spec["paths"].items():
        for method in operations:
            if (path, method) in public or not path.startswith("/api/v1/"):
                continue
            url = re.sub(r"\{[a-z_]+\}", "1", path)  # every {..._id} of the path
            response = client.open(url, method=method.upper(), json={})
            assert response.status_code == 401, f"{method.upper()} {path} answered {response.status_code}"


def test_users_create_command(runner, session):
    result = runner.invoke(
        args=["users", "create", "carmen", "--role", "coordinator", "--zone", "4", "--password", "una-clave-larga"]
    )
    assert result.exit_code == 0, result.output
    user = session.exec(select(User).where(User.username == "carmen")).one()
    assert user.role == "coordinator" and user.zone_id == 4
    assert user.password_hash != "una-clave-larga"


def test_users_create_prompts_for_the_password(runner, session):
    result = runner.invoke(
        args=["users", "create", "jefe", "--role", "police"], input="clave-policial-1\nclave-policial-1\n"
    )
    assert result.exit_code == 0, result.output
    assert session.exec(select(User).where(User.username == "jefe")).one().role == "police"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vecino", "--role", "neighbor", "--password", "clave-segura-1"], "indique la zona"),
        (["vecino", "--role", "neighbor", "--zone", "99", "--password", "clave-segura-1"], "No existe la zona 99"),
        (["corto", "--role", "police", "--password", "123"], "al menos 8"),
        (["facil", "--role", "police", "--password", "12345678"], "demasiado fácil"),
        (["x", "--role", "mayor", "--password", "clave-segura-1"], "mayor"),
    ],
)
def test_users_create_refuses_bad_input(runner, args, message):
    result = runner.invoke(args=["users", "create", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_a_token_in_the_url_is_never_accepted(client, make_person):
    person = make_person("police")
    for name in ("access_token", "token"):
        assert client.get(f"/api/v1/me?{name}={person.token}").status_code == 401
    assert client.get("/api/v1/me", headers=person.headers).status_code == 200


def test_duplicate_username_is_refused(session):
    create_user(session=session, username="ana", password=PASSWORD, role="police")
    with pytest.raises(UserError, match="ya está en uso"):
        create_user(session=session, username="ana", password=PASSWORD, role="admin")


def test_development_secret_key_is_refused_outside_debug_and_testing(db_url):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"DATABASE_URL": db_url, "SECRET_KEY": "dev"})
    # Allowed while testing or debugging.
    create_app({"DATABASE_URL": db_url, "SECRET_KEY": "dev", "TESTING": True}).extensions["ronda"].engine.dispose()


def test_without_a_secret_key_one_is_generated_and_kept(db_url, tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("RONDA_INSTANCE_PATH", str(tmp_path / "inst"))
    first = create_app({"DATABASE_URL": db_url})
    second = create_app({"DATABASE_URL": db_url})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32 and first.config["SECRET_KEY"] != TEST_SECRET
    for application in (first, second):
        application.extensions["ronda"].engine.dispose()
