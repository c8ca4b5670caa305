"""`verbund deliveries` (list, retry, stats) and `verbund worker` option checks.

The commands run in-process through a parser built by `register`, each in a thread
(they call `asyncio.run` themselves); one test runs the real `verbund` entry point.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.local import create_actor
from actors.models import ActorType
from federation.policy import OPEN
from outbox.models import Delivery, DeliveryAttempt, DeliveryHost
from outbox.publish import enqueue, new_activity_uri
from server import db
from server.cli import deliveries as cli_deliveries
from server.cli.common import CliError
from server.config import DatabaseConfig
from tests.helpers import run_cli

ROOT = Path(__file__).parents[2]
ACTOR = "http://localhost:8080/users/news"


def write_config(path: Path, database: DatabaseConfig) -> None:
    schema = f'schema = "{database.schema}"\n' if database.schema else ""
    path.write_text(
        f"""[instance]
domain = "localhost:8080"
scheme = "http"
[database]
url = "{database.url}"
{schema}[federation]
allow_private_addresses = true
""",
        encoding="utf-8",
    )


@dataclass
class Site:
    config: Path
    sessionmaker: async_sessionmaker[AsyncSession]
    ids: dict[str, int]


@pytest.fixture
async def site(
    tmp_path: Path, make_database: Callable[[str], DatabaseConfig]
) -> AsyncIterator[Site]:
    """One activity to five inboxes, in every state a delivery can be in:
    new (pending), failing (failed), gone (dead), delivered (done), and one a worker
    is sending right now (claimed); b.example is paused."""
    database = make_database("deliveries")
    engine = db.create_engine(database)
    await db.upgrade(engine, database)
    sessionmaker = db.create_sessionmaker(engine)
    now = datetime.now(UTC)
    inboxes = {
        "new": "https://a.example/inbox",
        "delivered": "https://a.example/users/x/inbox",
        "failing": "https://b.example/inbox",
        "gone": "https://b.example/users/y/inbox",
        "claimed": "https://c.example/inbox",
    }
    async with sessionmaker() as session:
        actor = await create_actor(session, username="news", type_=ActorType.ORGANIZATION)
        activity: dict[str, object] = {
            "id": new_activity_uri(ACTOR, "create"),
            "type": "Create",
            "actor": ACTOR,
        }
        await enqueue(
            session, actor=actor, activity=activity, inboxes=inboxes.values(), now=now, policy=OPEN
        )
        rows = {d.inbox_uri: d for d in await session.scalars(select(Delivery))}
        ids = {name: rows[uri].id for name, uri in inboxes.items()}
        changes: dict[str, dict[str, object]] = {
            "failing": {
                "attempts": 3,
                "last_status": 503,
                "last_error": "HTTP 503: Service Unavailable, come back later",
                "next_attempt_at": now + timedelta(minutes=8),
            },
            "gone": {"state": "dead", "attempts": 1, "last_status": 410, "last_error": "HTTP 410"},
            "delivered": {"state": "done", "attempts": 1, "last_status": 202, "delivered_at": now},
            "claimed": {"locked_by": "w1", "locked_until": now + timedelta(minutes=5)},
        }
        for name, values in changes.items():
            await session.execute(update(Delivery).where(Delivery.id == ids[name]).values(values))
        session.add(
            DeliveryHost(
                host="b.example",
                consecutive_failures=12,
                paused_until=now + timedelta(minutes=2),
            )
        )
        await session.commit()
    config = tmp_path / "verbund.toml"
    write_config(config, database)
    yield Site(config, sessionmaker, ids)
    await engine.dispose()


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    root = argparse.ArgumentParser(prog="verbund")
    sub = root.add_subparsers(dest="command", required=True)
    cli_deliveries.register(sub, common)
    return root


async def run(site: Site, *argv: str) -> None:
    args = parser().parse_args([*argv, "--config", str(site.config)])
    await asyncio.to_thread(args.func, args)


async def job(site: Site, name: str) -> Delivery:
    async with site.sessionmaker() as session:
        row = await session.get(Delivery, site.ids[name])
        assert row is not None
        return row


async def test_list_shows_pending_failed_and_dead(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    await run(site, "deliveries")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STATE", "TRIES", "NEXT/LAST", "STATUS", "INBOX"]
    by_id = {line.split()[0]: line for line in lines[1:] if line.split()[0].isdigit()}
    assert set(by_id) == {str(site.ids[n]) for n in ("new", "failing", "gone", "claimed")}
    assert by_id[str(site.ids["failing"])].split()[1:3] == ["failed", "3"]
    assert "503" in by_id[str(site.ids["failing"])]
    assert by_id[str(site.ids["gone"])].split()[1] == "dead"
    assert by_id[str(site.ids["new"])].split()[1] == "pending"
    assert "HTTP 503: Service Unavailable" in out  # the last error, on its own line
    assert "a.example/users/x/inbox" not in out  # delivered: not shown by default


async def test_list_filters(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    await run(site, "deliveries", "list", "--state", "done")
    out = capsys.readouterr().out
    assert "a.example/users/x/inbox" in out and "b.example" not in out
    await run(site, "deliveries", "--state", "failed")
    out = capsys.readouterr().out
    assert "https://b.example/inbox" in out and "users/y" not in out
    await run(site, "deliveries", "--host", "B.example")
    out = capsys.readouterr().out
    assert "b.example/inbox" in out and "b.example/users/y" in out and "a.example" not in out
    await run(site, "deliveries", "--limit", "1")
    assert len([x for x in capsys.readouterr().out.splitlines() if x.split()[0].isdigit()]) == 1
    await run(site, "deliveries", "--host", "nowhere.example")
    assert (
        capsys.readouterr().out.strip()
        == "no pending, failed or dead deliveries to nowhere.example"
    )


async def test_retry_dead_requeues_and_unpauses(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    before = datetime.now(UTC)
    await run(site, "deliveries", "retry", "--dead")
    out = capsys.readouterr().out
    assert "1 deliveries queued again" in out and "unpaused b.example" in out
    gone = await job(site, "gone")
    assert gone.state == "pending" and gone.attempts == 0
    assert before <= gone.next_attempt_at <= datetime.now(UTC)
    assert gone.locked_by is None
    async with site.sessionmaker() as session:
        host = await session.get(DeliveryHost, "b.example")
        assert host is not None and host.paused_until is None and host.consecutive_failures == 0
    failing = await job(site, "failing")
    assert failing.attempts == 3  # not dead: untouched


async def test_retry_by_id_and_host(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    await run(site, "deliveries", "retry", str(site.ids["failing"]))
    assert "1 deliveries queued again" in capsys.readouterr().out
    failing = await job(site, "failing")
    assert failing.attempts == 0 and failing.next_attempt_at <= datetime.now(UTC)
    # A job a worker holds right now is left alone.
    await run(site, "deliveries", "retry", "--host", "c.example")
    assert "0 deliveries queued again; 1 in flight left alone" in capsys.readouterr().out
    claimed = await job(site, "claimed")
    assert claimed.locked_by == "w1"


async def test_show_prints_every_attempt_the_last_error_and_what_comes_next(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = site.ids["failing"]
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    async with site.sessionmaker() as session:
        for n, (outcome, status, error, scheme) in enumerate(
            [
                ("retry", 503, "HTTP 503: Service Unavailable", "cavage"),
                ("retry", None, "cannot connect to b.example: Connection refused", None),
                ("retry", 503, "HTTP 503: Service Unavailable, come back later", "rfc9421"),
            ],
            start=1,
        ):
            session.add(
                DeliveryAttempt(
                    delivery_id=failing,
                    attempt=n,
                    attempted_at=start + timedelta(minutes=n),
                    outcome=outcome,
                    status=status,
                    error=error,
                    signature_scheme=scheme,
                )
            )
        await session.execute(
            update(Delivery)
            .where(Delivery.id == failing)
            .values(last_error="HTTP 503: Service Unavailable, come back later\nRetry-After: soon")
        )
        await session.commit()
    await run(site, "deliveries", "show", str(failing))
    out = capsys.readouterr().out
    assert f"delivery {failing}: Create http://localhost:8080/users/news/" in out
    assert "to:       https://b.example/inbox" in out and "state:    failed, 3 attempt(s)" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("1", "2026-12-01", "retry", "503", "cavage"),
        ("2", "2026-12-01", "retry", "-", "-"),
        ("3", "2026-12-01", "retry", "503", "rfc9421"),
    ]
    assert "cannot connect to b.example: Connection refused" in out
    # The last error in full, every line of it; then the next step, after the pause.
    assert "    HTTP 503: Service Unavailable, come back later\n    Retry-After: soon\n" in out
    assert "host b.example is paused until" in out and "next: attempt 4 at " in out

    await run(site, "deliveries", "show", str(site.ids["gone"]))
    out = capsys.readouterr().out
    assert "(no history kept for its earlier attempts)" in out
    assert "next: nothing, it gave up (dead)" in out
    assert f"verbund deliveries retry {site.ids['gone']}" in out
    await run(site, "deliveries", "show", str(site.ids["delivered"]))
    assert "next: nothing, delivered " in capsys.readouterr().out
    with pytest.raises(CliError, match="no delivery with id 999999"):
        await run(site, "deliveries", "show", "999999")


async def test_retry_errors(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CliError, match="no delivery with id 999999"):
        await run(site, "deliveries", "retry", "999999")
    with pytest.raises(CliError, match="already done"):
        await run(site, "deliveries", "retry", str(site.ids["delivered"]))
    with pytest.raises(SystemExit) as usage:
        await run(site, "deliveries", "retry")
    assert usage.value.code == 2
    assert "say which deliveries to retry" in capsys.readouterr().err
    assert (await job(site, "delivered")).state == "done"


async def test_stats(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    await run(site, "deliveries", "stats")
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "pending:", "2", "failed:", "1", "dead:", "1", "done:", "1",
    ]  # fmt: skip
    assert "due now: 1; being sent: 1;" in out
    hosts = {line.split()[0]: line.split()[1:] for line in out.splitlines() if ".example" in line}
    assert hosts["b.example"] == ["1", "1"] and hosts["a.example"] == ["1", "0"]
    assert "b.example: 12 failures in a row, paused until" in out


def test_worker_rejects_claims_shorter_than_an_attempt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = parser().parse_args(["worker", "--lock-seconds", "10", "--timeout", "10"])
    with pytest.raises(SystemExit) as usage:
        args.func(args)
    assert usage.value.code == 2
    assert "--lock-seconds (10) must be at least" in capsys.readouterr().err


def test_worker_options_are_validated() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["worker", "--concurrency", "0"])
    with pytest.raises(SystemExit):
        parser().parse_args(["worker", "--lock-seconds", "-1"])


async def test_verbund_deliveries_is_wired_into_the_command(site: Site) -> None:
    # In its own thread: the command runs its own event loop, as `verbund` would.
    result = await asyncio.to_thread(
        run_cli, "deliveries", "stats", "--config", str(site.config), cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "pending: 2" in result.stdout
