"""Reports of contact requests (issue 14): kv@alpha reports the anonymous alias that
erika@beta asked through; beta's operators see the report with erika behind it, whether
the Flag or the Reject arrives first, until the report window has passed."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from actors import accounts
from actors.local import ensure_instance_actor, get_actor
from actors.models import ContactBox, Report, ReportState, RoleName
from inbox.models import InboxActivity
from outbox.contacts import expire_contact_requests
from outbox.models import Activity
from server import actions, keys
from tests.conftest import Instance, StartInstance
from tests.fakes import FakeRemote
from tests.helpers import run_cli, settle
from tests.server.test_api import PASSWORD, Api
from tests.test_anonymous_contacts import Net, alias_of_erika, make_net, send_anonymously
from tests.test_contact_requests import BASE, write_config

ADMIN = "/api/verbund/v1/admin/reports"


@pytest.fixture
async def net(start_instance: StartInstance) -> Net:
    return await make_net(start_instance)


async def reports_of(inst: Instance) -> list[Report]:
    async with inst.sessionmaker() as session:
        return list(await session.scalars(select(Report).order_by(Report.id)))


async def inbox_types(inst: Instance) -> list[str]:
    async with inst.sessionmaker() as session:
        return list(await session.scalars(select(InboxActivity.type).order_by(InboxActivity.id)))


async def token_of(inst: Instance, user: str, actor: str, *, is_admin: bool) -> str:
    """A person (an operator when `is_admin`) with a role on `actor`, and a token."""
    now = inst.services.clock()
    async with inst.sessionmaker() as session:
        person = await accounts.create_user(
            session, username=user, password=PASSWORD, now=now, is_admin=is_admin
        )
        target = await get_actor(session, actor)
        await accounts.grant_role(session, user=person, actor=target, role=RoleName.EDITOR, now=now)
        issued = await accounts.create_token(
            session, user=person, actor=target, scopes=["read", "write"], now=now
        )
        await session.commit()
    return issued.token


async def talk_then(net: Net, client: aiohttp.ClientSession) -> tuple[str, str]:
    """An anonymous request to kv with a message each way; (kv's request id, alias URI)."""
    alpha, beta = net.alpha, net.beta
    rid = await send_anonymously(net, client, [])
    alias_uri = beta.actor_uri((await alias_of_erika(net)).username)
    asked = await Api(client, alpha).call(
        "POST", f"{BASE}/{rid}/reply", net.moderator, json={"message": "Wer?"}
    )
    assert asked.status == 200
    await settle(alpha, beta)
    [sent] = await actions.list_contacts(beta.services, "erika", box=ContactBox.SENT)
    answered = await Api(client, beta).call(
        "POST", f"{BASE}/{sent.request.id}/reply", net.erika, json={"message": "Kauf was!"}
    )
    assert answered.status == 200
    await settle(alpha, beta)
    return rid, alias_uri


async def signed_flag(client: aiohttp.ClientSession, inst: Instance, reported: str) -> int:
    """POST a Flag of `reported` from `inst`'s instance actor to `reported`'s inbox."""
    async with inst.sessionmaker() as session:
        pem = (await ensure_instance_actor(session)).private_key_pem
    uris = inst.services.uris
    doc: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{uris.instance_actor}#flags/{uuid.uuid4().hex}",
        "type": "Flag",
        "actor": uris.instance_actor,
        "object": [reported],
    }
    return await FakeRemote("unused.example", pem).post(
        client, reported + "/inbox", doc, key_id=uris.instance_key_id
    )


@pytest.mark.parametrize("flag_first", [True, False], ids=["flag-first", "reject-first"])
async def test_report_of_an_alias_names_the_real_actor_in_either_order(
    net: Net, client: aiohttp.ClientSession, flag_first: bool
) -> None:
    alpha, beta = net.alpha, net.beta
    rid, alias_uri = await talk_then(net, client)
    api = Api(client, alpha)
    report: tuple[str, dict[str, str]] = (f"{BASE}/{rid}/report", {"comment": "Werbung"})
    decline: tuple[str, dict[str, str]] = (f"{BASE}/{rid}/decline", {})
    for path, body in (report, decline) if flag_first else (decline, report):
        done = await api.call("POST", path, net.moderator, json=body)
        assert done.status == 200, done.body
        # The first arrives and is processed before the second is sent; alpha still
        # knows the alias (its Delete, queued by beta now, has not been delivered).
        await settle(alpha)
        await beta.app[keys.PROCESSOR].run_once()
    await settle(alpha, beta)
    types = [t for t in await inbox_types(beta) if t in ("Flag", "Reject")]
    assert types == (["Flag", "Reject"] if flag_first else ["Reject", "Flag"])
    [stored] = await reports_of(beta)
    assert stored.reported_uri == alias_uri
    assert stored.real_actor_uri == net.erika_uri
    assert stored.reporter_uri == alpha.services.uris.instance_actor
    assert stored.comment == "Werbung" and stored.state == ReportState.OPEN
    # Mastodon's shape: from the instance actor, the alias first, then its message.
    async with alpha.sessionmaker() as session:
        body = await session.scalar(select(Activity.body).where(Activity.type == "Flag"))
    flag = json.loads(body or "{}")
    assert flag["actor"] == alpha.services.uris.instance_actor and flag["content"] == "Werbung"
    assert flag["object"][0] == alias_uri and len(flag["object"]) == 2
    assert stored.object_uris == flag["object"][1:]
    assert (await alias_of_erika(net)).alias_retired_at is not None


async def test_operators_list_and_resolve_reports_and_the_window_ends(
    net: Net, client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    alpha, beta = net.alpha, net.beta
    rid, alias_uri = await talk_then(net, client)
    editor = await Api(client, alpha).call(
        "POST", f"{BASE}/{rid}/report", await token_of(alpha, "ed", "kv", is_admin=False)
    )
    assert editor.status == 403  # deciding roles only
    # Reporting and declining at once: the Flag is queued before the Reject.
    both = await Api(client, alpha).call(
        "POST", f"{BASE}/{rid}/report", net.moderator, json={"decline": True}
    )
    assert both.status == 200 and isinstance(both.body, dict)
    assert both.body["state"] == "declined"
    await settle(alpha, beta)
    [first] = await reports_of(beta)
    assert first.real_actor_uri == net.erika_uri
    # After the report window the alias forgets erika; a later report names the alias only.
    svc = beta.services
    window = timedelta(seconds=svc.config.contacts.report_window)
    async with beta.sessionmaker() as session:
        await expire_contact_requests(
            session,
            now=svc.clock() + window + timedelta(seconds=1),
            expire_after=timedelta(seconds=svc.config.contacts.expire_after),
            uris=svc.uris,
            policy=svc.policy,
            report_window=window,
        )
        await session.commit()
    assert (await alias_of_erika(net)).alias_of_id is None
    # A report after the window (here: of the alias's inbox by hand, as alpha forgot the
    # alias when its Delete arrived) names the alias only.
    late = await signed_flag(client, alpha, alias_uri)
    assert late == 202
    await settle(alpha, beta)
    first, stored = await reports_of(beta)
    assert stored.reported_uri == alias_uri and stored.real_actor_uri is None
    # Alpha cannot report it again: the alias is gone (410), so nothing can be sent.
    beta.app[keys.DOCUMENTS].invalidate()  # its document cache keeps it up to 10 s
    gone = await Api(client, alpha).call("POST", f"{BASE}/{rid}/report", net.moderator)
    assert gone.status == 422 and isinstance(gone.body, dict)
    assert "cannot report" in str(gone.body["error"])

    config = str(write_config(tmp_path / "beta.toml", beta))
    listed = await asyncio.to_thread(run_cli, "reports", "list", "--config", config)
    assert listed.returncode == 0 and alias_uri in listed.stdout
    staff = await token_of(beta, "sam", "erika", is_admin=False)
    assert (await Api(client, beta).call("GET", ADMIN, staff)).status == 403
    ops = await token_of(beta, "ops", "erika", is_admin=True)
    shown = await Api(client, beta).call("GET", ADMIN, ops)
    assert shown.status == 200 and isinstance(shown.body, list)
    assert [r["reported"] for r in shown.body] == [alias_uri, alias_uri]
    assert [r["real_actor"] for r in shown.body] == [None, net.erika_uri]
    resolved = await asyncio.to_thread(
        run_cli, "reports", "resolve", str(stored.id), "--config", config
    )
    assert resolved.returncode == 0 and resolved.stdout.startswith(f"report {stored.id} resolved")
    left = await Api(client, beta).call("GET", ADMIN, ops)
    assert isinstance(left.body, list) and [r["id"] for r in left.body] == [str(first.id)]
    everything = await Api(client, beta).call("GET", ADMIN + "?all=true", ops)
    assert isinstance(everything.body, list) and everything.body[0]["state"] == "resolved"
    missing = await asyncio.to_thread(run_cli, "reports", "resolve", "999", "--config", config)
    assert missing.returncode == 1 and missing.stderr.startswith("error: no report")
    assert (await Api(client, beta).call("POST", f"{ADMIN}/999/resolve", ops)).status == 404


async def test_hostile_or_empty_flags_are_refused_or_ignored(
    net: Net, client: aiohttp.ClientSession
) -> None:
    beta, gamma = net.beta, net.gamma
    await send_anonymously(net, client, [])
    alias_uri = beta.actor_uri((await alias_of_erika(net)).username)
    async with gamma.sessionmaker() as session:
        key = (await get_actor(session, "max")).private_key_pem
    sender = FakeRemote("unused.example", key)
    max_uri = gamma.actor_uri("max")

    async def flag(inbox: str, **fields: object) -> int:
        doc: dict[str, object] = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{max_uri}#flags/{uuid.uuid4().hex}",
            "type": "Flag",
            "actor": max_uri,
            **fields,
        }
        return await sender.post(client, inbox, doc, key_id=f"{max_uri}#main-key")

    # Only the recipient's server may report through the alias's own inbox.
    assert await flag(alias_uri + "/inbox", object=[alias_uri]) == 403
    shared = beta.base_url + "/inbox"
    assert await flag(shared) == 202  # no object
    assert await flag(shared, object=[{"not": "an id"}, 42]) == 202
    assert await flag(shared, object=[max_uri], content="nobody of beta's") == 202
    assert await flag(shared, object="https://beta.test/users/nobody") == 202
    await settle(beta, gamma)
    assert await reports_of(beta) == []
    # A report of an ordinary actor through the shared inbox is kept (no one behind it).
    assert await flag(shared, object=[net.erika_uri], content="x" * 9000) == 202
    await settle(beta, gamma)
    [stored] = await reports_of(beta)
    assert stored.reported_uri == net.erika_uri and stored.real_actor_uri is None
    assert len(stored.comment) == 5000
