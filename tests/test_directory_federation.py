"""The directory across three instances over real HTTP, end to end (issue 13).

Profiles are set the way the CLI and the API set them (`server.actions.update_profile`),
alpha reads beta's and gamma's `/directory` with its own sync (signed GETs; beta shares
with its peers only), and every surface of alpha's search — the HTML page, both JSON
APIs — spans the two peers. A person who turns discoverability off disappears from
alpha at its next sync; a person who never opted in is found nowhere.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import aiohttp

from actors.models import ActorType, DirectoryEntry
from actors.profile import ProfileChange
from server import keys
from server.actions import update_profile
from server.worker import make_directory_sync
from tests.conftest import Instance, StartInstance

AS_JSON = {"Accept": "application/activity+json"}


class Clock:
    """The sync's clock: `later` makes every peer due for an incremental sync again."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def later(self) -> None:
        self.now += timedelta(hours=2)


async def set_profile(inst: Instance, name: str, **change: object) -> None:
    await update_profile(inst.services, name, ProfileChange(**change))  # type: ignore[arg-type]


async def page(client: aiohttp.ClientSession, url: str) -> str:
    async with client.get(url, headers={"Accept": "text/html"}) as resp:
        assert resp.status == 200
        return await resp.text()


async def api(client: aiohttp.ClientSession, url: str) -> list[dict[str, object]]:
    async with client.get(url) as resp:
        assert resp.status == 200, await resp.text()
        doc = await resp.json()
    items = doc["items"] if isinstance(doc, dict) else doc
    assert isinstance(items, list)
    return items


async def handles(client: aiohttp.ClientSession, query: str) -> dict[str, set[str]]:
    """What alpha's search finds for `query`, per surface (as handles)."""
    html = await page(client, f"http://alpha.test/directory?{query}")
    mastodon = await api(client, f"http://alpha.test/api/v1/directory?{query}")
    ours = await api(client, f"http://alpha.test/api/verbund/v1/directory?{query}")
    names = {
        "Klimabündnis Pankow": "klima@beta.test",
        "Radclub Altona": "radclub@gamma.test:8443",
        "Ina Weber": "ina@gamma.test:8443",
        "Max Geheim": "max@gamma.test:8443",
    }
    return {
        "html": {handle for name, handle in names.items() if name in html},
        "mastodon": {str(a["acct"]) for a in mastodon},
        "verbund": {str(h["handle"]) for h in ours},
    }


async def cached(inst: Instance) -> set[str]:
    async with inst.sessionmaker() as session:
        return set(
            await session.scalars(
                DirectoryEntry.__table__.select().with_only_columns(DirectoryEntry.actor_uri)
            )
        )


async def test_search_spans_two_peers_and_withdrawn_people_disappear_everywhere(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha", directory={"peers": ("beta.test", "gamma.test:8443")})
    beta = await start_instance("beta", directory={"share_with": "peers", "peers": ("alpha.test",)})
    gamma = await start_instance("gamma", domain="gamma.test:8443")
    await beta.add_actor("klima", display_name="Klimabündnis Pankow")
    await set_profile(
        beta,
        "klima",
        region="de-be",
        locality="Pankow",
        postal_prefix="10",
        interests=["Klima", "Verkehrswende"],
    )
    await gamma.add_actor("radclub", ActorType.GROUP, display_name="Radclub Altona")
    await set_profile(gamma, "radclub", region="DE-HH", interests=["klima", "Fahrrad"])
    await gamma.add_actor("ina", ActorType.PERSON, display_name="Ina Weber")
    await set_profile(gamma, "ina", region="DE-BE", interests=["Klima"], discoverable=True)
    await gamma.add_actor("max", ActorType.PERSON, display_name="Max Geheim")
    await set_profile(gamma, "max", region="DE-BE", interests=["Klima"])  # never opted in

    clock = Clock(datetime.now().astimezone())
    sync = make_directory_sync(
        alpha.config, alpha.sessionmaker, alpha.app[keys.HTTP_CLIENT], clock=clock
    )
    reports = await sync.sync_due()
    assert [(r.peer, r.complete, r.error) for r in reports] == [
        ("beta.test", True, ""),
        ("gamma.test:8443", True, ""),
    ]

    found = await handles(client, "region=DE&interest=klima")
    assert found["html"] == {"klima@beta.test", "radclub@gamma.test:8443", "ina@gamma.test:8443"}
    assert found["mastodon"] == found["html"] == found["verbund"]
    berlin = await api(client, "http://alpha.test/api/verbund/v1/directory?region=DE-BE")
    assert {(h["handle"], h["peer"]) for h in berlin} == {
        ("klima@beta.test", "beta.test"),
        ("ina@gamma.test:8443", "gamma.test:8443"),
    }
    assert (await handles(client, "region=10115&interest=verkehrswende"))["verbund"] == {
        "klima@beta.test"
    }

    # Ina withdraws; alpha's next sync (incremental) drops her.
    await set_profile(gamma, "ina", discoverable=False)
    clock.later()
    (_, again) = await sync.sync_due()
    assert (again.peer, again.complete, again.full, again.removed) == (
        "gamma.test:8443",
        True,
        False,
        1,
    )
    found = await handles(client, "region=DE&interest=klima")
    assert found == {
        "html": {"klima@beta.test", "radclub@gamma.test:8443"},
        "mastodon": {"klima@beta.test", "radclub@gamma.test:8443"},
        "verbund": {"klima@beta.test", "radclub@gamma.test:8443"},
    }
    assert await cached(alpha) == {
        "http://beta.test/users/klima",
        "http://gamma.test:8443/users/radclub",
    }

    # Neither Ina nor Max is anywhere on gamma itself: page, collection, both APIs.
    html = await page(client, "http://gamma.test:8443/directory")
    assert "Radclub Altona" in html and "Ina Weber" not in html and "Max Geheim" not in html
    async with client.get("http://gamma.test:8443/directory?page=true", headers=AS_JSON) as r:
        collection = json.dumps(await r.json())
    assert "radclub" in collection and "/users/ina" not in collection
    assert "/users/max" not in collection
    for url in (
        "http://gamma.test:8443/api/v1/directory",
        "http://gamma.test:8443/api/verbund/v1/directory",
    ):
        listed = json.dumps(await api(client, url))
        assert "radclub" in listed and "/users/ina" not in listed and "/users/max" not in listed
