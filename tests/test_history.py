"""Importing historical incidents from CSV, and the synthetic demo history."""

from __future__ import annotations

from sqlmodel import func, select

from security.models import Alarm, Event, Incident
from tests.conftest import OUTSIDE, ZONE_POINTS

GOOD_1 = f"robbery,{ZONE_POINTS[1][0]},{ZONE_POINTS[1][1]},2025-06-01T21:30:00,resolved,2,Robo a mano armada"
GOOD_2 = f"assault,{ZONE_POINTS[2][0]},{ZONE_POINTS[2][1]},2025-06-02T03:00:00-05:00,,3,"
CSV_TEXT = "\n".join(
    [
        "kind,lat,lon,occurred_at,status,severity,description",
        GOOD_1,
        "ovni,-12.14,-76.93,2025-06-01T21:30:00,resolved,2,",  # line 3: unknown kind
        f"robbery,{OUTSIDE[0]},{OUTSIDE[1]},2025-06-01T21:30:00,resolved,2,",  # line 4: outside
        f"robbery,{ZONE_POINTS[1][0]},{ZONE_POINTS[1][1]},ayer,resolved,2,",  # line 5: bad date
        GOOD_2,
        f"robbery,abc,{ZONE_POINTS[1][1]},2025-06-01T21:30:00,resolved,2,",  # line 7: bad lat
        f"robbery,{ZONE_POINTS[1][0]},{ZONE_POINTS[1][1]},2099-01-01T00:00:00,resolved,2,",  # line 8: future
        f"robbery,{ZONE_POINTS[1][0]},{ZONE_POINTS[1][1]},2025-06-01T21:30:00,lost,2,",  # line 9: bad status
    ]
)


def test_import_keeps_good_rows_reports_bad_ones_and_is_idempotent(runner, session, tmp_path):
    path = tmp_path / "historial.csv"
    path.write_text(CSV_TEXT + "\n")
    rejects = tmp_path / "rechazados.csv"
    result = runner.invoke(args=["incidents", "import", str(path), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert "Read 8 rows: 2 added, 0 already present, 6 refused." in result.output
    for line, reason in (
        (3, "unknown kind"), (4, "outside the district"), (5, "not an ISO 8601 date"),
        (7, "not valid coordinates"), (8, "future"), (9, "unknown status"),
    ):  # fmt: skip
        assert f"line {line}: " in result.output and reason in result.output.split(f"line {line}: ")[1].split("\n")[0]
    assert rejects.read_text().count("\n") == 7
    stored = session.exec(select(Incident).order_by(Incident.id)).all()
    assert [(i.kind, i.zone_id, i.status) for i in stored] == [("robbery", 1, "resolved"), ("assault", 2, "resolved")]
    assert stored[0].block_id is not None
    assert stored[0].occurred_at.isoformat() == "2025-06-02T02:30:00+00:00"  # 21:30 in Lima
    assert session.exec(select(func.count()).select_from(Event)).one() == 0  # history is not news

    again = runner.invoke(args=["incidents", "import", str(path)])
    assert "0 added, 2 already present" in again.output
    assert session.exec(select(func.count()).select_from(Incident)).one() == 2


def test_import_refuses_a_file_without_the_required_columns(runner, tmp_path):
    path = tmp_path / "mal.csv"
    path.write_text("tipo,latitud\nrobbery,-12.1\n")
    result = runner.invoke(args=["incidents", "import", str(path)])
    assert result.exit_code != 0
    assert "missing column(s) kind, lat, lon, occurred_at" in result.output


def test_demo_history_is_plausible_and_synthetic(runner, session):
    result = runner.invoke(args=["demo", "history", "--months", "3", "--per-month", "300"])
    assert result.exit_code == 0, result.output
    incidents = session.exec(select(Incident)).all()
    assert 600 < len(incidents) < 1300
    assert all("sintético" in (i.description or "") for i in incidents)
    assert len({i.zone_id for i in incidents}) == 7
    night = sum(1 for i in incidents if (i.occurred_at.hour - 5) % 24 >= 19 or (i.occurred_at.hour - 5) % 24 < 2)
    assert night / len(incidents) > 0.35  # 7 of 24 hours hold far more than 7/24 of the incidents
    assert session.exec(select(func.count()).select_from(Alarm)).one() > 10
    again = runner.invoke(args=["demo", "history", "--months", "3", "--per-month", "300"])
    assert "Added 0 synthetic incidents" in again.output
