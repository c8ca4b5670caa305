"""Organisation links across three instances over real HTTP (issue 15): a federal
association (`bund@fed.test`), a state association (`land@state.test`) and a district
branch (`kreis@district.test`).

Links are offered, confirmed, declined and ended the way the CLI and the API do it
(`server.links`), the Offers and answers travel between the instances, and every public
surface — actor documents and their links collections, profile pages, the JSON API, the
directory — shows a link only once both sides confirmed it.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import aiohttp
import pytest
from sqlalchemy import select

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, DirectoryEntry, LinkState, OrgLink, RoleName
from actors.profile import ProfileChange
from inbox.models import InboxActivity
from outbox import posts
from outbox.models import Status
from outbox.posts import Draft
from server import keys, links
from server.actions import ActionError, follow, update_profile
from server.worker import make_directory_sync
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import run_cli, settle

AS_JSON = {"Accept": "application/activity+json"}


async def three(
    start_instance: StartInstance, **state_config: object
) -> tuple[Instance, Instance, Instance]:
    fed = await start_instance("fed")
    state = await start_instance("state", **state_config)
    district = await start_instance("district")
    await fed.add_actor("bund", display_name="Bundesverband")
    await state.add_actor("land", display_name="Landesverband Bayern")
    await district.add_actor("kreis", ActorType.GROUP, display_name="Kreisgruppe Fürth")
    return fed, state, district


async def members(client: aiohttp.ClientSession, actor_uri: str, term: str) -> list[str]:
    """The actor ids of an actor's links collection `term`, read as a peer would."""
    async with client.get(actor_uri, headers=AS_JSON) as resp:
        assert resp.status == 200
        doc = await resp.json()
    async with client.get(doc[term], headers=AS_JSON) as resp:
        assert resp.status == 200
        collection = await resp.json()
    assert collection["type"] == "OrderedCollection"
    assert collection["totalItems"] == len(collection["orderedItems"])
    return list(collection["orderedItems"])


async def featured(client: aiohttp.ClientSession, actor_uri: str) -> list[str]:
    """The featured accounts of an actor's FEP-7aa9 collections, read and validated as a
    Mastodon reader does: every item's FeatureAuthorization is fetched from the featured
    actor's own server and must name the collection and the actor."""
    async with client.get(actor_uri, headers=AS_JSON) as resp:
        doc = await resp.json()
    async with client.get(doc["featuredCollections"], headers=AS_JSON) as resp:
        assert resp.status == 200
        collections = await resp.json()
    assert "https://w3id.org/fep/7aa9" in collections["@context"]
    shown: list[str] = []
    for collection in collections["orderedItems"]:
        assert collection["type"] == "FeaturedCollection"
        assert collection["attributedTo"] == actor_uri
        async with client.get(collection["id"], headers=AS_JSON) as resp:
            assert resp.status == 200
            assert (await resp.json())["orderedItems"] == collection["orderedItems"]
        for item in collection["orderedItems"]:
            target, stamp = item["featuredObject"], item["featureAuthorization"]
            assert urlsplit(stamp).netloc == urlsplit(target).netloc
            async with client.get(stamp, headers=AS_JSON) as resp:
                if resp.status != 200:
                    continue
                authorization = await resp.json()
            assert authorization["type"] == "FeatureAuthorization"
            if (
                authorization["interactingObject"] == collection["id"]
                and authorization["interactionTarget"] == target
            ):
                shown.append(f"{collection['id'].rsplit('/', 1)[1]}:{target}")
    return shown


async def page(client: aiohttp.ClientSession, url: str) -> str:
    async with client.get(url, headers={"Accept": "text/html"}) as resp:
        assert resp.status == 200
        return await resp.text()


async def public_api(client: aiohttp.ClientSession, base: str, name: str) -> list[str]:
    async with client.get(f"{base}/api/verbund/v1/actors/{name}/links") as resp:
        assert resp.status == 200
        return [f"{link['kind']}:{link['actor']['acct']}" for link in await resp.json()]


async def shown(client: aiohttp.ClientSession, fed: Instance, state: Instance) -> dict[str, object]:
    """Everything public that could show the bund and land link, on both sides."""
    bund, land = fed.actor_uri("bund"), state.actor_uri("land")
    return {
        "bund branches": await members(client, bund, "branches"),
        "bund featured": await featured(client, bund),
        "land parents": await members(client, land, "parentOrganizations"),
        "bund page": "Landesverband Bayern" in await page(client, f"{fed.base_url}/@bund"),
        "land page": "Bundesverband" in await page(client, f"{state.base_url}/@land"),
        "bund api": await public_api(client, fed.base_url, "bund"),
        "land api": await public_api(client, state.base_url, "land"),
        "directory": await directory_links(client, fed.base_url, bund),
        "directory page": "land@state.test" in await page(client, f"{fed.base_url}/directory"),
    }


async def directory_links(client: aiohttp.ClientSession, base: str, actor_uri: str) -> list[str]:
    """The links of an actor's entry in an instance's directory API."""
    async with client.get(f"{base}/api/verbund/v1/directory") as resp:
        assert resp.status == 200
        items = (await resp.json())["items"]
    [entry] = [i for i in items if i["actor_uri"] == actor_uri]
    return [f"{link['kind']}:{link['acct']}" for link in entry["links"]]


NOTHING = {
    "bund branches": [],
    "bund featured": [],
    "land parents": [],
    "bund page": False,
    "land page": False,
    "bund api": [],
    "land api": [],
    "directory": [],
    "directory page": False,
}


async def states(inst: Instance) -> list[tuple[str, str, bool, str]]:
    async with inst.sessionmaker() as session:
        found = await session.execute(
            OrgLink.__table__.select().with_only_columns(
                OrgLink.kind, OrgLink.state, OrgLink.outgoing, OrgLink.other_uri
            )
        )
        return [(str(k), str(s), bool(o), str(u)) for k, s, o, u in found]


async def test_link_offered_confirmed_and_ended_from_either_side(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    fed, state, district = await three(start_instance)
    bund, land = fed.actor_uri("bund"), state.actor_uri("land")

    offered = await links.offer(state.services, "land", "parent", "bund@fed.test")
    assert (offered.link.kind, offered.link.state) == ("parent", LinkState.PENDING)
    await settle(fed, state)
    # A claimed link without confirmation is nowhere public, on either side.
    assert await shown(client, fed, state) == NOTHING
    [pending] = await links.list_links(fed.services, "bund", pending=True)
    assert (pending.link.kind, pending.link.outgoing, pending.other_handle) == (
        "branch",
        False,
        "land@state.test",
    )
    assert await links.list_links(fed.services, "bund") == []

    await links.decide_link(fed.services, "bund", str(pending.link.id), accept=True)
    await settle(fed, state)
    assert await shown(client, fed, state) == {
        "bund branches": [land],
        "bund featured": [f"branches:{land}"],  # FEP-7aa9, its stamp served by state
        "land parents": [bund],
        "bund page": True,
        "land page": True,
        "bund api": ["branch:land@state.test"],
        "land api": ["parent:bund@fed.test"],
        "directory": ["branch:land@state.test"],
        "directory page": True,
    }
    html = await page(client, f"{state.base_url}/@land")
    assert "Part of" in html and f"{fed.base_url}/@bund" in html
    async with client.get(f"{bund}/featured_collections/branches", headers=AS_JSON) as resp:
        [item] = (await resp.json())["orderedItems"]
    stamp = item["featureAuthorization"]
    with pytest.raises(ActionError, match="pending or confirmed link"):
        await links.offer(fed.services, "bund", "parent", "land@state.test")  # a loop of two

    # The offered side ends it: both stop showing it.
    await links.end_link_with(fed.services, "bund", "land@state.test")
    await settle(fed, state)
    assert await shown(client, fed, state) == NOTHING
    async with client.get(stamp, headers=AS_JSON) as resp:
        assert resp.status == 404  # the consent ended with the link
    assert await states(state) == [("parent", "ended", True, bund)]

    # Offered again and confirmed, then ended by the side that offered it.
    again = await links.offer(state.services, "land", "parent", "bund@fed.test")
    await settle(fed, state)
    [pending] = await links.list_links(fed.services, "bund", pending=True)
    await links.decide_link(fed.services, "bund", str(pending.link.id), accept=True)
    await settle(fed, state)
    assert (await shown(client, fed, state))["bund branches"] == [land]
    await links.end_link_with(state.services, "land", str(again.link.id))
    await settle(fed, state)
    assert await shown(client, fed, state) == NOTHING

    # Declined: nothing shown, both sides know.
    await links.offer(state.services, "land", "partner", "bund@fed.test")
    await settle(fed, state)
    [pending] = await links.list_links(fed.services, "bund", pending=True)
    await links.decide_link(fed.services, "bund", str(pending.link.id), accept=False)
    await settle(fed, state)
    assert await shown(client, fed, state) == NOTHING
    assert ("partner", "declined", True, bund) in await states(state)
    assert await links.list_links(state.services, "land", pending=True) == []
    del district


async def test_tree_across_three_instances_and_linked_instances_as_directory_peers(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    """The whole chain by API and CLI-shaped actions, the tree three levels across
    instances, the linked instances as directory peers with no `directory.peers` (the
    state shares its directory with peers only, and the federal association is one)."""
    fed, state, district = await three(start_instance, directory={"share_with": "peers"})
    await district.add_actor("ina", ActorType.PERSON, display_name="Ina Weber")
    await update_profile(
        district.services,
        "ina",
        ProfileChange(region="DE-BY", interests=["Klima"], discoverable=True),
    )
    await links.offer(state.services, "land", "parent", "bund@fed.test")
    await links.offer(state.services, "land", "branch", "kreis@district.test")
    await settle(fed, state, district)
    for inst, name in ((fed, "bund"), (district, "kreis")):
        [pending] = await links.list_links(inst.services, name, pending=True)
        await links.decide_link(inst.services, name, str(pending.link.id), accept=True)
    await settle(fed, state, district)

    # The tree, read across the instances by the worker's step, shown on the page.
    assert await links.refresh_tree_of(fed.services, "bund") == 2
    nodes = [(n.depth, n.handle) for n in await links.tree(fed.services, "bund")]
    assert nodes == [(1, "land@state.test"), (2, "kreis@district.test")]
    html = await page(client, f"{fed.base_url}/@bund")
    assert "Network" in html and "Kreisgruppe Fürth" in html
    async with client.get(f"{fed.base_url}/api/verbund/v1/actors/bund/links/tree") as resp:
        assert [n["acct"] for n in await resp.json()] == ["land@state.test", "kreis@district.test"]

    # The federal directory spans the network: the state by its link, the district by
    # the tree, though `directory.peers` is empty.
    sync = make_directory_sync(
        fed.config, fed.sessionmaker, fed.app[keys.HTTP_CLIENT], clock=fed.app[keys.CLOCK]
    )
    reports = await sync.sync_due()
    assert sorted((r.peer, r.error) for r in reports) == [
        ("district.test", ""),
        ("state.test", ""),
    ]
    async with fed.sessionmaker() as session:
        cached = set(
            await session.scalars(
                DirectoryEntry.__table__.select().with_only_columns(DirectoryEntry.actor_uri)
            )
        )
    assert district.actor_uri("ina") in cached
    async with client.get(f"{fed.base_url}/api/verbund/v1/directory?interest=klima") as resp:
        assert "ina@district.test" in json.dumps(await resp.json())

    # A loop (district offers the federal association as its branch) stays bounded.
    await links.offer(district.services, "kreis", "branch", "bund@fed.test")
    await settle(fed, state, district)
    [pending] = await links.list_links(fed.services, "bund", pending=True)
    await links.decide_link(fed.services, "bund", str(pending.link.id), accept=True)
    await settle(fed, state, district)
    assert await links.refresh_tree_of(fed.services, "bund") == 2
    assert await links.refresh_tree_of(district.services, "kreis") == 2  # bund, land; no repeat

    # Ending the state's link drops it from the tree and from the peers.
    await links.end_link_with(state.services, "land", "bund@fed.test")
    await settle(fed, state, district)
    assert await links.refresh_tree_of(fed.services, "bund") == 0
    await sync.ensure_peers()
    assert sync.peers == ("district.test",)  # still linked: kreis is bund's parent now


async def test_links_commands(start_instance: StartInstance) -> None:
    fed, state, _ = await three(start_instance)
    view = await links.offer(state.services, "land", "parent", "bund@fed.test")
    await settle(fed, state)
    lines = [line.split() for line in _lines(await _cli(fed, "links", "bund", "--pending"))]
    assert lines[0][1:4] == ["branch", "pending", "from"]
    await _cli(fed, "link", "accept", "bund", lines[0][0])
    await settle(fed, state)
    assert "branch" in await _cli(fed, "links", "bund")
    # The CLI's own HTTP client knows no test hosts: the tree is read as the worker reads it.
    await links.refresh_tree_of(fed.services, "bund")
    tree = _lines(await _cli(fed, "links", "tree", "bund"))
    assert tree == ["bund", "  └ land@state.test (Landesverband Bayern)"]
    assert "ended" in await _cli(state, "link", "end", "land", str(view.link.id))


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


async def _cli(inst: Instance, *args: str) -> str:
    """A CLI command against a running test instance's database (its config file)."""
    import asyncio
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    cfg = folder / "verbund.toml"
    cfg.write_text(
        "[instance]\n"
        f'domain = "{inst.config.instance.domain}"\nscheme = "http"\n'
        "[database]\n"
        f'url = "{inst.config.database.url}"\n'
        + (f'schema = "{inst.config.database.schema}"\n' if inst.config.database.schema else "")
        + "[federation]\nallow_private_addresses = true\n"
    )
    result = await asyncio.to_thread(run_cli, "--config", str(cfg), *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_a_mastodon_shaped_peer_that_ignores_the_offer_does_no_harm(
    start_instance: StartInstance, client: aiohttp.ClientSession, resolver: object
) -> None:
    fed = await start_instance("fed")
    await fed.add_actor("bund", display_name="Bundesverband")
    remote = FakeRemote("masto.test", private_key_pem=shared_key())
    await remote.start(resolver)  # type: ignore[arg-type]
    try:
        uri = remote.add_person("verein")
        doc = remote.docs["/users/verein"]
        assert isinstance(doc, dict)
        doc["type"] = "Group"
        view = await links.offer(fed.services, "bund", "partner", uri)
        await settle(fed)
        [offer] = remote.posts_to("/users/verein/inbox")
        assert offer["type"] == "Offer" and offer["actor"] == fed.actor_uri("bund")
        # No answer ever comes: the offer stays pending and shows nowhere.
        assert await members(client, fed.actor_uri("bund"), "partners") == []
        assert await public_api(client, fed.base_url, "bund") == []
        assert view.link.state == LinkState.PENDING
        # Withdrawing it sends an Undo of the Offer.
        await links.end_link_with(fed.services, "bund", uri)
        await settle(fed)
        undo = remote.posts_to("/users/verein/inbox")[-1]
        assert undo["type"] == "Undo" and undo["object"]["id"] == offer["id"]  # type: ignore[index]
    finally:
        await remote.stop()


async def test_hostile_link_activities_are_ignored_or_refused(
    start_instance: StartInstance, client: aiohttp.ClientSession, resolver: object
) -> None:
    fed, state, _ = await three(start_instance)
    await fed.add_actor("anna", ActorType.PERSON)
    bund, land = fed.actor_uri("bund"), state.actor_uri("land")
    remote = FakeRemote("evil.test", private_key_pem=shared_key())
    await remote.start(resolver)  # type: ignore[arg-type]
    try:
        evil = remote.add_person("evil")
        remote.docs["/users/evil"]["type"] = "Organization"  # type: ignore[index]
        inbox = f"{fed.base_url}/users/bund/inbox"

        def offer(n: int, **link: object) -> dict[str, object]:
            body: dict[str, object] = {
                "type": "OrganizationLink",
                "subject": evil,
                "object": bund,
                "linkKind": "branch",
            }
            body.update(link)
            return {
                "id": f"{remote.base}/offers/{n}",
                "type": "Offer",
                "actor": evil,
                "object": body,
            }

        statuses = [
            await remote.post(client, inbox, offer(1, subject=land)),  # subject not the actor
            await remote.post(client, inbox, offer(2, linkKind="overlord")),  # unknown kind
            await remote.post(client, inbox, offer(3, object=fed.actor_uri("anna"))),  # a person
            await remote.post(client, inbox, offer(4, object="not a uri")),
            await remote.post(client, inbox, {**offer(5), "object": "just-a-string"}),
        ]
        assert statuses == [202] * 5
        await settle(fed)
        assert await states(fed) == []

        # bund offers land a link; evil "accepts" it and tries to undo it.
        await links.offer(fed.services, "bund", "branch", "land@state.test")
        await settle(fed, state)
        async with fed.sessionmaker() as session:
            offer_uri = (
                await session.execute(
                    OrgLink.__table__.select().with_only_columns(OrgLink.offer_uri)
                )
            ).scalar_one()
        accept: dict[str, object] = {
            "id": f"{remote.base}/accepts/1",
            "type": "Accept",
            "actor": evil,
            "object": {"id": offer_uri, "type": "Offer", "actor": bund},
        }
        assert await remote.post(client, inbox, accept) == 202
        undo_theirs: dict[str, object] = {
            "id": f"{remote.base}/undos/1",
            "type": "Undo",
            "actor": evil,
            "object": {"id": offer_uri, "type": "Offer", "actor": bund},
        }
        # An Undo may name one of our own activities (relays undo our Undo); it changes
        # nothing that is not the sender's: evil cannot withdraw bund's Offer.
        assert await remote.post(client, inbox, undo_theirs) == 202
        undo_accept: dict[str, object] = {
            "id": f"{remote.base}/undos/2",
            "type": "Undo",
            "actor": evil,
            "object": {"id": f"{remote.base}/accepts/1", "type": "Accept", "object": offer_uri},
        }
        assert await remote.post(client, inbox, undo_accept) == 202
        await settle(fed, state)
        assert await states(fed) == [("branch", "pending", True, land)]
        assert await members(client, bund, "branches") == []

        # The real answer confirms it; evil's Undo of that Accept changes nothing.
        [pending] = await links.list_links(state.services, "land", pending=True)
        await links.decide_link(state.services, "land", str(pending.link.id), accept=True)
        await settle(fed, state)
        assert await remote.post(client, inbox, {**undo_accept, "id": f"{remote.base}/u/3"}) == 202
        await settle(fed, state)
        assert await members(client, bund, "branches") == [land]
    finally:
        await remote.stop()


async def staff(inst: Instance, user: str, actor: str, role: RoleName) -> dict[str, str]:
    """The Authorization header of a person with `role` on `actor`."""
    now = inst.services.clock()
    async with inst.sessionmaker() as session:
        target = await get_actor(session, actor)
        person = await accounts.create_user(
            session, username=user, password="a long pass phrase", now=now
        )
        await accounts.grant_role(session, user=person, actor=target, role=role, now=now)
        issued = await accounts.create_token(
            session, user=person, actor=target, scopes=["read", "write"], now=now
        )
        await session.commit()
    return {"Authorization": f"Bearer {issued.token}"}


async def test_the_api_offers_decides_and_ends_by_role_and_a_local_pair_links_too(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    fed, state, _ = await three(start_instance)
    await fed.add_actor("jugend", display_name="Bundesjugend")
    land_owner = await staff(state, "olga", "land", RoleName.OWNER)
    bund_editor = await staff(fed, "emil", "bund", RoleName.EDITOR)
    bund_moderator = await staff(fed, "mona", "bund", RoleName.MODERATOR)
    # land follows bund, so that it hears of bund's changed links by an Update.
    await follow(state.services, "land", "bund@fed.test")
    await settle(fed, state)

    url = f"{state.base_url}/api/verbund/v1/links"
    body = {"kind": "parent", "to": "bund@fed.test"}
    async with client.post(url, json=body, headers=land_owner) as resp:
        assert resp.status == 200, await resp.text()
        offered = await resp.json()
    assert (offered["kind"], offered["state"], offered["direction"]) == (
        "parent",
        "pending",
        "sent",
    )
    async with client.post(
        url, json={"kind": "boss", "to": "bund@fed.test"}, headers=land_owner
    ) as resp:
        assert resp.status == 422
    async with client.post(url, json=body, headers=land_owner) as resp:
        assert resp.status == 422  # pending already
    await settle(fed, state)

    mine = f"{fed.base_url}/api/verbund/v1/links"
    async with client.get(f"{mine}?pending=true", headers=bund_moderator) as resp:
        [pending] = await resp.json()
    assert (pending["kind"], pending["direction"]) == ("branch", "received")
    accept = f"{mine}/{pending['id']}/accept"
    async with client.post(accept, headers=bund_editor) as resp:
        assert resp.status == 403  # editors speak for the actor but do not decide
    async with client.post(accept, headers=bund_moderator) as resp:
        assert resp.status == 200
        assert (await resp.json())["state"] == "confirmed"
    async with client.post(accept, headers=bund_moderator) as resp:
        assert resp.status == 404  # decided already
    await settle(fed, state)
    async with state.sessionmaker() as session:
        updates = await session.scalars(
            select(InboxActivity.actor_uri).where(InboxActivity.type == "Update")
        )
        assert fed.actor_uri("bund") in set(updates)

    # Two actors of one instance link the same way (the Offer goes to our own inbox).
    await links.offer(fed.services, "jugend", "parent", "bund@fed.test")
    await settle(fed)
    async with client.get(f"{mine}?pending=true", headers=bund_moderator) as resp:
        [pending] = await resp.json()
    async with client.post(f"{mine}/{pending['id']}/accept", headers=bund_moderator) as resp:
        assert resp.status == 200
    await settle(fed, state)
    assert await public_api(client, fed.base_url, "jugend") == ["parent:bund@fed.test"]
    assert sorted(await public_api(client, fed.base_url, "bund")) == [
        "branch:jugend@fed.test",
        "branch:land@state.test",
    ]
    assert await links.refresh_tree_of(fed.services, "bund") == 2

    async with client.post(f"{url}/{offered['id']}/end", headers=land_owner) as resp:
        assert resp.status == 200
        assert (await resp.json())["state"] == "ended"
    await settle(fed, state)
    assert await public_api(client, fed.base_url, "bund") == ["branch:jugend@fed.test"]
    async with client.get(f"{fed.base_url}/api/verbund/v1/actors/nobody/links") as resp:
        assert resp.status == 404


async def confirm(
    offering: Instance, name: str, kind: str, handle: str, offered: Instance, other: str
) -> None:
    """`name` offers `handle` to be its `kind`; `other`'s staff accept."""
    await links.offer(offering.services, name, kind, handle)
    await settle(offering, offered)
    [pending] = await links.list_links(offered.services, other, pending=True)
    await links.decide_link(offered.services, other, str(pending.link.id), accept=True)
    await settle(offering, offered)


async def publish_as(inst: Instance, name: str, text: str) -> str:
    async with inst.sessionmaker() as session:
        actor = await get_actor(session, name)
        status = await posts.publish(
            session,
            inst.services.publish_context(),
            actor=actor,
            draft=Draft(text=text),
            mentions={},
        )
        await session.commit()
    return status.uri


def announces(remote: FakeRemote) -> list[tuple[object, object]]:
    return [(b["actor"], b["object"]) for _, _, b in remote.received if b.get("type") == "Announce"]


async def test_relayed_news_reaches_each_follower_once_along_a_chain_and_a_loop(
    start_instance: StartInstance, client: aiohttp.ClientSession, resolver: LoopbackResolver
) -> None:
    fed, state, district = await three(start_instance)
    bund, land, kreis = fed.actor_uri("bund"), state.actor_uri("land"), district.actor_uri("kreis")
    everyone = (fed, state, district)
    await confirm(state, "land", "parent", "bund@fed.test", fed, "bund")
    await confirm(district, "kreis", "parent", "land@state.test", state, "land")
    with pytest.raises(ActionError, match="no confirmed branch"):
        await links.set_relay(district.services, "kreis", "land@state.test", "all")  # its parent
    with pytest.raises(ActionError, match="relay is"):
        await links.set_relay(fed.services, "bund", "land@state.test", "sometimes")
    await links.set_relay(fed.services, "bund", "land@state.test", "all")
    view = await links.set_relay(state.services, "land", "kreis@district.test", "tags:#Fest, Feier")
    assert (view.link.relay, view.link.relay_tags) == ("tags", ["fest", "feier"])
    fan = FakeRemote("fan.test", private_key_pem=shared_key())
    await fan.start(resolver)
    try:
        fan_uri = fan.add_person("fan")
        for target in (bund, land):
            follow_activity: dict[str, object] = {
                "id": f"{fan_uri}/follows/{target[-4:]}",
                "type": "Follow",
                "actor": fan_uri,
                "object": target,
            }
            assert await fan.post(client, f"{target}/inbox", follow_activity) == 202
        await settle(*everyone)

        # Not tagged as land relays: nobody relays it.
        quiet = await publish_as(district, "kreis", "Vorstandssitzung am Dienstag")
        fest = await publish_as(district, "kreis", "Sommerfest am Samstag #Fest")
        await settle(*everyone)
        assert sorted(announces(fan), key=str) == [(bund, fest), (land, fest)]
        del quiet

        # A loop: the federal association becomes the district's branch, relayed in full.
        await confirm(district, "kreis", "branch", "bund@fed.test", fed, "bund")
        await links.set_relay(district.services, "kreis", "bund@fed.test", "all")
        await settle(*everyone)
        before = len(announces(fan))
        feier = await publish_as(district, "kreis", "Feier #Feier")
        own = await publish_as(fed, "bund", "Bundesversammlung #Feier")
        await settle(*everyone)
        new = announces(fan)[before:]
        # land and bund relay the district's post once each; bund's own post comes back
        # around the loop relayed by kreis and land, and is never Announced by bund itself.
        assert sorted(new, key=str) == sorted([(land, feier), (bund, feier), (land, own)], key=str)
        async with district.sessionmaker() as session:
            boosts = await session.scalars(
                select(Status.reblog_of_id).where(
                    Status.actor_uri == kreis, Status.type == "Announce"
                )
            )
            assert len(list(boosts)) == 1  # kreis relayed bund's post, never its own
    finally:
        await fan.stop()
