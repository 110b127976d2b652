"""Committees: the demo district's, creating them, membership managed by their coordinators and
admins, who sees the members, and the set-up commands."""

from __future__ import annotations

import pytest


def test_the_demo_district_ships_three_committees_per_zone(client, make_person):
    admin = make_person("admin")
    committees = client.get("/api/v1/committees", headers=admin.headers).get_json()
    assert len(committees) == 21
    assert {c["zone_id"] for c in committees} == set(range(1, 8))
    assert all(sum(1 for c in committees if c["zone_id"] == z) == 3 for z in range(1, 8))
    assert "Comité vecinal Nueva Esperanza – Sector A" in {c["name"] for c in committees}


def test_admins_create_committees_and_coordinators_in_their_zone(client, make_person):
    admin = make_person("admin")
    created = client.post("/api/v1/committees", json={"name": "  Junta Vecinal Los Pinos ", "zone_id": 2},
                          headers=admin.headers)  # fmt: skip
    assert created.status_code == 201
    assert created.get_json()["name"] == "Junta Vecinal Los Pinos" and created.get_json()["members"] == []
    again = client.post(
        "/api/v1/committees", json={"name": "Junta Vecinal Los Pinos", "zone_id": 2}, headers=admin.headers
    )
    assert again.status_code == 409
    rosa = make_person("coordinator", zone_id=3)
    own = client.post("/api/v1/committees", json={"name": "Comité Las Lomas", "zone_id": 3}, headers=rosa.headers)
    assert own.status_code == 201 and [m["id"] for m in own.get_json()["members"]] == [rosa.user.id]
    other_zone = client.post("/api/v1/committees", json={"name": "Comité X", "zone_id": 4}, headers=rosa.headers)
    assert other_zone.status_code == 403
    for role in ("volunteer", "neighbor"):
        person = make_person(role, zone_id=3)
        assert (
            client.post("/api/v1/committees", json={"name": "C", "zone_id": 3}, headers=person.headers).status_code
            == 403
        )
    assert (
        client.post("/api/v1/committees", json={"name": "C", "zone_id": 99}, headers=admin.headers).status_code == 422
    )
    assert client.post("/api/v1/committees", json={"name": " ", "zone_id": 3}, headers=admin.headers).status_code == 422


def test_membership_is_managed_by_the_committees_coordinators_and_admins(client, make_person, make_committee):
    rosa = make_person("coordinator", zone_id=1)
    juan = make_person("volunteer", zone_id=1, username="juan")
    committee = make_committee(1, [rosa])
    url = f"/api/v1/committees/{committee}/members"
    assert client.post(url, json={"username": "juan"}, headers=rosa.headers).status_code == 201
    assert client.post(url, json={"user_id": juan.user.id}, headers=rosa.headers).status_code == 200  # already in
    # A coordinator of the zone who is not in this committee, or a member volunteer, may not.
    stranger = make_person("coordinator", zone_id=1)
    ana = make_person("volunteer", zone_id=1)
    assert client.post(url, json={"user_id": ana.user.id}, headers=stranger.headers).status_code == 403
    assert client.post(url, json={"user_id": ana.user.id}, headers=juan.headers).status_code == 403
    # Only volunteers and coordinators of the committee's zone can be members.
    for person in (make_person("volunteer", zone_id=2), make_person("neighbor", zone_id=1), make_person("police")):
        answer = client.post(url, json={"user_id": person.user.id}, headers=rosa.headers)
        assert answer.status_code == 422 and answer.get_json()["fields"][0]["field"] == "user_id"
    assert client.post(url, json={}, headers=rosa.headers).status_code == 422
    assert client.post(url, json={"username": "nadie"}, headers=rosa.headers).status_code == 422
    admin = make_person("admin")
    assert client.post(url, json={"user_id": ana.user.id}, headers=admin.headers).status_code == 201
    removed = client.delete(f"{url}/{ana.user.id}", headers=rosa.headers)
    assert removed.status_code == 200
    assert ana.user.id not in [m["id"] for m in removed.get_json()["members"]]
    assert client.delete(f"{url}/{ana.user.id}", headers=rosa.headers).status_code == 404


def test_neighbours_see_how_many_members_not_who(client, make_person, make_committee):
    juan = make_person("volunteer", zone_id=1)
    committee = make_committee(1, [juan])
    neighbour = make_person("neighbor", zone_id=1)
    seen = client.get(f"/api/v1/committees/{committee}", headers=neighbour.headers).get_json()
    assert seen["member_count"] == 1 and seen["members"] is None
    police = client.get(f"/api/v1/committees/{committee}", headers=make_person("police").headers).get_json()
    assert [m["id"] for m in police["members"]] == [juan.user.id]
    # Another zone's committee answers like a missing one.
    assert client.get(f"/api/v1/committees/{committee}", headers=make_person("volunteer", 2).headers).status_code == 404
    listed = client.get("/api/v1/committees", headers=neighbour.headers).get_json()
    assert {c["zone_id"] for c in listed} == {1}
    assert client.get("/api/v1/committees?zone_id=2", headers=neighbour.headers).status_code == 403


@pytest.mark.parametrize("missing_zone", [False, True])
def test_the_set_up_commands(runner, make_person, missing_zone):
    make_person("volunteer", zone_id=5, username="lucho")
    make_person("coordinator", zone_id=5, username="carmen")
    zone = "99" if missing_zone else "5"
    result = runner.invoke(args=["committees", "create", "Comité Túpac Amaru", "--zone", zone, "--member", "carmen"])
    if missing_zone:
        assert result.exit_code != 0 and "zona" in result.output
        return
    assert result.exit_code == 0, result.output
    committee_id = result.output.split("id ")[1].split(",")[0]
    added = runner.invoke(args=["committees", "add-member", committee_id, "lucho"])
    assert added.exit_code == 0 and "Added 1" in added.output
    listing = runner.invoke(args=["committees", "list", "--zone", "5"])
    assert "Comité Túpac Amaru\t2 members" in listing.output
    wrong = runner.invoke(args=["committees", "add-member", committee_id, "nadie"])
    assert wrong.exit_code != 0 and "no user 'nadie'" in wrong.output


def test_a_boundary_import_keeps_committees_with_members(runner, make_person, make_committee, tmp_path):
    from pathlib import Path

    juan = make_person("volunteer", zone_id=2)
    make_committee(2, [juan], name="Comité con miembros")
    elsewhere = tmp_path / "one-zone.geojson"
    elsewhere.write_text(
        '{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, "features": ['
        '{"type": "Feature", "properties": {"name": "Otra"}, "geometry": {"type": "Polygon", '
        '"coordinates": [[[-77.0, -12.0], [-76.99, -12.0], [-76.99, -11.99], [-77.0, -12.0]]]}}]}'
    )
    refused = runner.invoke(args=["zones", "import", str(elsewhere)])
    assert refused.exit_code != 0 and "committees" in refused.output
    demo = Path(__file__).parent.parent / "data" / "vmt_zones.geojson"
    assert runner.invoke(args=["zones", "import", str(demo)]).exit_code == 0  # same names: nothing removed
