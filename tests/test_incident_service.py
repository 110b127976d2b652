"""The incident services, tested without Flask: a session, the zone index and the domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from security.auth import Viewer, create_user, viewer_of
from security.errors import Conflict, Forbidden, Hidden, NotFound, ValidationProblem
from security.events import events_since
from security.incidents import IncidentFilter, change_status, list_incidents, report_incident
from security.models import Event, IncidentChange, IncidentCreate, IncidentUpdate, User
from tests.conftest import OUTSIDE, PASSWORD, ZONE_POINTS
from zones.database import make_engine
from zones.geometry import ZoneIndex
from zones.service import build_index


@pytest.fixture
def store(db_url: str) -> Iterator[tuple[Session, ZoneIndex]]:
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as s:
        yield s, build_index(session=s)
    engine.dispose()


def person(session: Session, role: str, zone_id: int | None = None) -> User:
    return create_user(
        session=session, username=f"{role}-{uuid.uuid4().hex[:8]}", password=PASSWORD, role=role, zone_id=zone_id
    )


def report(zone_id: int = 1, **overrides: object) -> IncidentCreate:
    lat, lon = ZONE_POINTS[zone_id]
    values: dict[str, object] = {"client_id": uuid.uuid4(), "kind": "drug_dealing", "lat": lat, "lon": lon}
    values.update(overrides)
    return IncidentCreate.model_validate(values)


def test_report_places_the_incident_and_logs_one_event(store):
    session, index = store
    volunteer = person(session, "volunteer", 3)
    incident, event = report_incident(session=session, reporter=volunteer, data=report(3), index=index)
    session.commit()
    assert incident.zone_id == 3 and incident.block_id is not None and incident.status == "reported"
    assert incident.reported_at.tzinfo is not None
    assert event is not None and event.type == "incident_reported" and event.zone_id == 3


def test_a_retry_returns_the_same_incident_without_an_event(store):
    session, index = store
    volunteer = person(session, "volunteer", 1)
    data = report(1)
    first, event = report_incident(session=session, reporter=volunteer, data=data, index=index)
    session.commit()
    again, no_event = report_incident(session=session, reporter=volunteer, data=data, index=index)
    session.commit()
    assert again.id == first.id and event is not None and no_event is None
    assert len(session.exec(select(Event)).all()) == 1


def test_the_same_client_id_from_another_reporter_is_another_incident(store):
    session, index = store
    data = report(1)
    a, _ = report_incident(session=session, reporter=person(session, "volunteer", 1), data=data, index=index)
    b, _ = report_incident(session=session, reporter=person(session, "volunteer", 1), data=data, index=index)
    assert a.id != b.id


def test_refusals(store):
    session, index = store
    volunteer = person(session, "volunteer", 1)
    with pytest.raises(ValidationProblem) as outside:
        report_incident(
            session=session, reporter=volunteer, data=report(1, lat=OUTSIDE[0], lon=OUTSIDE[1]), index=index
        )
    assert outside.value.fields == ("lat", "lon")
    future = datetime.now(UTC) + timedelta(hours=2)
    with pytest.raises(ValidationProblem) as late:
        report_incident(session=session, reporter=volunteer, data=report(1, occurred_at=future), index=index)
    assert late.value.fields == ("occurred_at",)
    with pytest.raises(Forbidden):
        report_incident(session=session, reporter=volunteer, data=report(2), index=index)


def test_naive_occurred_at_is_read_as_lima_time(store):
    session, index = store
    police = person(session, "police")
    incident, _ = report_incident(
        session=session, reporter=police, data=report(1, occurred_at="2026-01-10T22:30:00"), index=index
    )
    assert incident.occurred_at == datetime(2026, 1, 11, 3, 30, tzinfo=UTC)


def test_status_walks_forward_and_records_who_and_when(store):
    session, index = store
    police = person(session, "police")
    incident, _ = report_incident(
        session=session, reporter=person(session, "volunteer", 1), data=report(1), index=index
    )
    for status in ("acknowledged", "dispatched", "resolved"):
        incident, event = change_status(
            session=session,
            actor=police,
            incident_id=incident.id,
            update=IncidentUpdate(status=status, note=f"a {status}"),
        )
        assert event is not None and event.type == "incident_updated"
    session.commit()
    assert incident.status == "resolved" and incident.acknowledged_at is not None and incident.closed_at is not None
    changes = session.exec(select(IncidentChange).where(IncidentChange.incident_id == incident.id)).all()
    assert [(c.from_status, c.to_status, c.changed_by) for c in changes] == [
        ("reported", "acknowledged", police.id),
        ("acknowledged", "dispatched", police.id),
        ("dispatched", "resolved", police.id),
    ]


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((), "dispatched"),
        ((), "resolved"),
        (("acknowledged",), "reported"),
        (("acknowledged", "dispatched", "resolved"), "dismissed"),
        (("dismissed",), "acknowledged"),
    ],
)
def test_illegal_transitions_conflict(store, path, illegal):
    session, index = store
    police = person(session, "police")
    incident, _ = report_incident(session=session, reporter=police, data=report(1), index=index)
    for status in path:
        change_status(session=session, actor=police, incident_id=incident.id, update=IncidentUpdate(status=status))
    with pytest.raises(Conflict) as conflict:
        change_status(session=session, actor=police, incident_id=incident.id, update=IncidentUpdate(status=illegal))
    assert conflict.value.details["current_status"] == (path[-1] if path else "reported")


def test_repeating_the_current_status_is_a_harmless_retry(store):
    session, index = store
    police = person(session, "police")
    incident, _ = report_incident(session=session, reporter=police, data=report(1), index=index)
    change_status(session=session, actor=police, incident_id=incident.id, update=IncidentUpdate(status="acknowledged"))
    _, event = change_status(
        session=session, actor=police, incident_id=incident.id, update=IncidentUpdate(status="acknowledged")
    )
    assert event is None


def test_duplicate_needs_a_valid_original(store):
    session, index = store
    police = person(session, "police")
    original, _ = report_incident(session=session, reporter=police, data=report(1), index=index)
    copy, _ = report_incident(session=session, reporter=police, data=report(1), index=index)
    with pytest.raises(ValidationProblem) as missing:
        change_status(session=session, actor=police, incident_id=copy.id, update=IncidentUpdate(status="duplicate"))
    assert missing.value.fields == ("duplicate_of",)
    with pytest.raises(ValidationProblem):
        change_status(
            session=session,
            actor=police,
            incident_id=copy.id,
            update=IncidentUpdate(status="duplicate", duplicate_of=copy.id),
        )
    marked, _ = change_status(
        session=session,
        actor=police,
        incident_id=copy.id,
        update=IncidentUpdate(status="duplicate", duplicate_of=original.id),
    )
    assert marked.status == "duplicate" and marked.duplicate_of == original.id


@pytest.mark.parametrize(
    ("role", "zone_id", "allowed"),
    [
        ("police", None, True),
        ("admin", None, True),
        ("coordinator", 1, True),
        ("coordinator", 2, False),
        ("volunteer", 1, False),
        ("neighbor", 1, False),
    ],
)
def test_who_may_change_status(store, role, zone_id, allowed):
    session, index = store
    incident, _ = report_incident(
        session=session, reporter=person(session, "volunteer", 1), data=report(1), index=index
    )
    actor = person(session, role, zone_id)
    update = IncidentUpdate(status="acknowledged")
    if allowed:
        assert (
            change_status(session=session, actor=actor, incident_id=incident.id, update=update)[0].status
            == "acknowledged"
        )
    else:  # another zone's incident is hidden (answered like a missing one); in their zone, refused
        with pytest.raises(Hidden if actor.zone_id not in (None, 1) else Forbidden):
            change_status(session=session, actor=actor, incident_id=incident.id, update=update)


def test_unknown_incident_is_not_found(store):
    session, _ = store
    with pytest.raises(NotFound):
        change_status(
            session=session,
            actor=person(session, "police"),
            incident_id=999,
            update=IncidentUpdate(status="acknowledged"),
        )


def test_listing_is_scoped_to_the_viewers_zone_and_pages_with_a_cursor(store):
    session, index = store
    police = person(session, "police")
    for zone_id in (1, 1, 1, 2):
        report_incident(session=session, reporter=police, data=report(zone_id), index=index)
    neighbor = viewer_of(person(session, "neighbor", 1))
    page, cursor = list_incidents(session=session, viewer=neighbor, filters=IncidentFilter(), limit=2)
    assert len(page) == 2 and cursor is not None and all(i.zone_id == 1 for i in page)
    rest, end = list_incidents(session=session, viewer=neighbor, filters=IncidentFilter(), limit=2, cursor=cursor)
    assert len(rest) == 1 and end is None
    assert {i.id for i in page}.isdisjoint({i.id for i in rest})
    with pytest.raises(Forbidden):
        list_incidents(session=session, viewer=neighbor, filters=IncidentFilter(zone_id=2), limit=10)
    everything, _ = list_incidents(
        session=session, viewer=Viewer(None, "police", None), filters=IncidentFilter(), limit=10
    )
    assert len(everything) == 4


def test_events_since_follow_commit_order_and_zone(store):
    session, index = store
    police = person(session, "police")
    for zone_id in (1, 2, 1):
        report_incident(session=session, reporter=police, data=report(zone_id), index=index)
    session.commit()
    all_events, more = events_since(session=session, viewer=viewer_of(police), since=0, limit=10)
    seqs = [e.seq for e in all_events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and not more
    zone_1, _ = events_since(session=session, viewer=Viewer(None, "neighbor", 1), since=0, limit=10)
    assert [e.zone_id for e in zone_1] == [1, 1]
    after_first, _ = events_since(session=session, viewer=viewer_of(police), since=seqs[0], limit=10)
    assert [e.seq for e in after_first] == seqs[1:]
    limited, more = events_since(session=session, viewer=viewer_of(police), since=0, limit=2)
    assert len(limited) == 2 and more


def test_a_report_and_its_event_are_stored_together_or_not_at_all(app, make_person):
    """A savepoint must not commit on its own (pysqlite's default would): rolled back, nothing stays."""
    from sqlmodel import func

    from security.models import Event, Incident, IncidentCreate
    from tests.conftest import incident_body

    volunteer = make_person("volunteer", zone_id=1)
    engine = app.extensions["ronda"].engine
    with Session(engine) as session:
        report_incident(
            session=session, reporter=volunteer.user, data=IncidentCreate(**incident_body(1)),
            index=app.extensions["ronda"].index,
        )  # fmt: skip
        session.rollback()  # the request failed before its commit
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Incident)).one() == 0
        assert session.exec(select(func.count()).select_from(Event)).one() == 0
