"""The access log: one line per request, with the signer of signed requests."""

from __future__ import annotations

import logging
import re

import aiohttp
import pytest

from actors.models import ActorType
from server import actions
from tests.conftest import StartInstance
from tests.helpers import settle

LINE = re.compile(r"^(GET|POST) (\S+) (\d{3}) (\d+\.\d)ms( signer=(\S+))?$")


def access_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    lines = [r.getMessage() for r in caplog.records if r.name == "verbund.access"]
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m for m in matches if m]


async def test_every_request_is_logged_with_its_signer(
    start_instance: StartInstance,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta")
    await alpha.add_actor("news")
    await beta.add_actor("erika", ActorType.PERSON)
    with caplog.at_level(logging.INFO, logger="verbund.access"):
        async with client.get(
            "http://alpha.test/users/news?token=secret",
            headers={"Accept": "application/activity+json"},
        ) as resp:
            assert resp.status == 200
        async with client.get("http://alpha.test/users/nobody") as resp:
            assert resp.status == 404
        await actions.follow(beta.services, "erika", "news@alpha.test")
        await settle(alpha, beta)
    lines = access_lines(caplog)
    first, missing = lines[0], lines[1]
    assert first.group(1, 2, 3) == ("GET", "/users/news", "200") and first.group(5) is None
    assert missing.group(1, 2, 3) == ("GET", "/users/nobody", "404")
    assert "secret" not in caplog.text  # the query string is never logged
    inbox_posts = [m for m in lines if m.group(1) == "POST" and m.group(3) == "202"]
    signers = {(m.group(2), m.group(6)) for m in inbox_posts}
    # Erika's Follow reached alpha's inbox, news's Accept reached beta's.
    assert f"{beta.actor_uri('erika')}#main-key" in {s for _, s in signers}
    assert any(s == f"{alpha.actor_uri('news')}#main-key" for _, s in signers)


async def test_access_log_can_be_switched_off(
    start_instance: StartInstance,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet = await start_instance("alpha", server={"access_log": False})
    logged = await start_instance("beta")
    await quiet.add_actor("news")
    await logged.add_actor("news")
    with caplog.at_level(logging.INFO, logger="verbund.access"):
        for host in ("alpha.test", "beta.test"):
            async with client.get(f"http://{host}/users/news?quiet") as resp:
                assert resp.status == 200
    assert [m.group(1, 2, 3) for m in access_lines(caplog)] == [("GET", "/users/news", "200")]
