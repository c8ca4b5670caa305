"""Polls between two real instances and with a Mastodon-shaped peer, over loopback HTTP.

alpha publishes a poll through the client API; it reaches beta as a `Question`; a
person on beta votes through beta's API; the vote Note reaches alpha, which counts it
once and sends the new counts in an `Update` of the Question back to beta. A FakeRemote
speaks Mastodon's shapes (app/serializers/activitypub/note_serializer.rb for the
Question, vote_serializer.rb for what it must receive when someone here votes).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy import update as update_

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, RoleName
from federation.policy import OPEN
from outbox.documents import render_poll_update
from outbox.models import Activity, Poll, PollVote, Status
from outbox.polls import close_due_polls
from server import actions
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle
from tests.inbox.test_news_handlers import follow_remote
from tests.server.test_api import PASSWORD, Api

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"
MASTODON_CONTEXT: list[object] = [
    AS,
    {"toot": "http://joinmastodon.org/ns#", "votersCount": "toot:votersCount"},
]


async def person_token(inst: Instance, user: str, actor: str) -> str:
    """A person with the owner role on `actor` and a read/write token acting for it."""
    svc = inst.services
    async with inst.sessionmaker() as session:
        target = await get_actor(session, actor)
        person = await accounts.create_user(
            session, username=user, password=PASSWORD, now=svc.clock()
        )
        await accounts.grant_role(
            session, user=person, actor=target, role=RoleName.OWNER, now=svc.clock()
        )
        issued = await accounts.create_token(
            session, user=person, actor=target, scopes=["read", "write"], now=svc.clock()
        )
        await session.commit()
    return issued.token


async def local_id(inst: Instance, uri: str) -> str:
    async with inst.sessionmaker() as session:
        found = await session.scalar(select(Status.id).where(Status.uri == uri))
    assert found is not None, f"{uri} not stored on {inst.name}"
    return str(found)


async def vote_rows(inst: Instance) -> list[tuple[str, int]]:
    async with inst.sessionmaker() as session:
        rows = await session.execute(
            select(PollVote.voter_uri, PollVote.choice).order_by(PollVote.id)
        )
        return [(voter, choice) for voter, choice in rows]


def titles_and_counts(poll: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(o["title"], o["votes_count"]) for o in poll["options"]]


@pytest.fixture
async def mastodon(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("mastodon.example:3000", shared_key())
    fake.add_person("bob")
    fake.add_person("carol")
    await fake.start(resolver)
    yield fake
    await fake.stop()


def remote_vote(voter: str, n: int, name: str, question: str) -> dict[str, object]:
    """A vote exactly as Mastodon's VoteSerializer sends it."""
    note = f"{voter}#votes/{n}"
    return {
        "@context": AS,
        "id": f"{note}/activity",
        "type": "Create",
        "actor": voter,
        "to": question.split("/statuses/")[0],
        "object": {
            "id": note,
            "type": "Note",
            "name": name,
            "attributedTo": voter,
            "to": question.split("/statuses/")[0],
            "inReplyTo": question,
        },
    }


async def test_poll_from_alpha_is_voted_on_beta_and_counts_come_back(
    start_instance: StartInstance, client: aiohttp.ClientSession, mastodon: FakeRemote
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta")
    await alpha.add_actor("kv", display_name="Kreisverband")
    await beta.add_actor("erika", ActorType.PERSON)
    anna = await person_token(alpha, "anna", "kv")
    eva = await person_token(beta, "eva", "erika")
    alpha_api, beta_api = Api(client, alpha), Api(client, beta)
    await actions.follow(beta.services, "erika", alpha.actor_uri("kv"))
    await settle(alpha, beta)

    created = await alpha_api.call(
        "POST",
        "/api/v1/statuses",
        anna,
        data=[
            ("status", "Where shall the summer fair be?"),
            ("poll[options][]", "Park"),
            ("poll[options][]", "Town hall"),
            ("poll[expires_in]", "86400"),
        ],
    )
    assert created.status == 200, created.body
    poll = created.json["poll"]
    assert poll["id"] == created.json["id"]
    assert poll["multiple"] is False and poll["expired"] is False
    assert poll["expires_at"] is not None
    assert titles_and_counts(poll) == [("Park", 0), ("Town hall", 0)]
    assert (poll["votes_count"], poll["voters_count"]) == (0, 0)
    assert (poll["voted"], poll["own_votes"], poll["emojis"]) == (True, [], [])
    uri = created.json["uri"]

    # What federates: Mastodon's Question shape.
    async with client.get(uri, headers={"Accept": "application/activity+json"}) as resp:
        question = await resp.json(content_type=None)
    assert question["type"] == "Question"
    assert question["oneOf"] == [
        {"type": "Note", "name": "Park", "replies": {"type": "Collection", "totalItems": 0}},
        {"type": "Note", "name": "Town hall", "replies": {"type": "Collection", "totalItems": 0}},
    ]
    assert "anyOf" not in question and "closed" not in question
    assert question["votersCount"] == 0 and question["endTime"].endswith("Z")
    assert {"votersCount": "toot:votersCount"}.items() <= question["@context"][1].items()

    await settle(alpha, beta)
    beta_id = await local_id(beta, uri)
    seen = await beta_api.call("GET", f"/api/v1/statuses/{beta_id}", eva)
    assert seen.status == 200
    assert seen.json["content"].startswith("<p>Where shall the summer fair be?")
    beta_poll = seen.json["poll"]
    assert beta_poll["id"] == beta_id
    assert titles_and_counts(beta_poll) == [("Park", 0), ("Town hall", 0)]
    assert (beta_poll["voted"], beta_poll["own_votes"]) == (False, [])

    voted = await beta_api.call(
        "POST", f"/api/v1/polls/{beta_id}/votes", eva, data={"choices[]": "1"}
    )
    assert voted.status == 200, voted.body
    assert (voted.json["voted"], voted.json["own_votes"]) == (True, [1])
    assert titles_and_counts(voted.json) == [("Park", 0), ("Town hall", 1)]
    again = await beta_api.call(
        "POST", f"/api/v1/polls/{beta_id}/votes", eva, data={"choices[]": "0"}
    )
    assert again.status == 422
    assert again.json["error"] == "Validation failed: You have already voted on this poll"
    two = await beta_api.call(
        "POST", f"/api/v1/polls/{beta_id}/votes", eva, data=[("choices[]", "0")] * 2
    )
    assert two.status == 422

    # A Mastodon user votes too, twice for the same option under two ids: counted once.
    mastodon_voter = f"{mastodon.base}/users/bob"
    for n in (1, 2):
        status = await mastodon.post(
            client, alpha.base_url + "/users/kv/inbox", remote_vote(mastodon_voter, n, "Park", uri)
        )
        assert status == 202
    await settle(alpha, beta)

    assert sorted(await vote_rows(alpha)) == sorted(
        [(beta.actor_uri("erika"), 1), (mastodon_voter, 0)]
    )
    async with alpha.sessionmaker() as session:
        # Votes are counted, never stored as posts.
        posts = await session.scalar(select(func.count()).select_from(Status))
    assert posts == 1
    counted = await alpha_api.call("GET", f"/api/v1/polls/{created.json['id']}", anna)
    assert titles_and_counts(counted.json) == [("Park", 1), ("Town hall", 1)]
    assert (counted.json["votes_count"], counted.json["voters_count"]) == (2, 2)

    # The Update of the Question brought alpha's counts (with bob's vote) to beta.
    refreshed = await beta_api.call("GET", f"/api/v1/polls/{beta_id}", eva)
    assert titles_and_counts(refreshed.json) == [("Park", 1), ("Town hall", 1)]
    assert refreshed.json["voters_count"] == 2
    assert (refreshed.json["voted"], refreshed.json["own_votes"]) == (True, [1])
    # The Mastodon voter got the Update too.
    updates: list[Any] = [b for _, _, b in mastodon.received if b.get("type") == "Update"]
    assert updates and updates[-1]["object"]["oneOf"][0]["replies"]["totalItems"] == 1

    # The post's page shows the options and counts.
    page_url = created.json["url"]
    async with client.get(page_url, headers={"Accept": "text/html"}) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert 'class="poll"' in page
    assert '<span class="poll-title">Park</span> <span class="poll-votes">1 vote</span>' in page
    assert "2 people voted" in page


async def test_poll_options_are_validated_like_mastodon(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("kv")
    anna = await person_token(alpha, "anna", "kv")
    api = Api(client, alpha)
    one = await api.call(
        "POST",
        "/api/v1/statuses",
        anna,
        data=[("status", "?"), ("poll[options][]", "Only"), ("poll[expires_in]", "3600")],
    )
    assert one.status == 422
    assert one.json["error"] == "Validation failed: a poll needs at least 2 options"
    short = await api.call(
        "POST",
        "/api/v1/statuses",
        anna,
        data=[("status", "?"), ("poll[options][]", "A"), ("poll[options][]", "B"),
              ("poll[expires_in]", "60")],
    )  # fmt: skip
    assert short.status == 422
    multi = await api.call(
        "POST",
        "/api/v1/statuses",
        anna,
        json={
            "status": "Which days?",
            "poll": {"options": ["Mon", "Tue", "Wed"], "expires_in": 600, "multiple": True,
                     "hide_totals": True},
        },
    )  # fmt: skip
    assert multi.status == 200, multi.body
    assert multi.json["poll"]["multiple"] is True
    # The author sees totals; anonymous readers do not until the poll ends.
    public = await api.call("GET", f"/api/v1/polls/{multi.json['id']}")
    assert [o["votes_count"] for o in public.json["options"]] == [None, None, None]
    assert "voted" not in public.json
    async with client.get(
        multi.json["uri"], headers={"Accept": "application/activity+json"}
    ) as resp:
        question = await resp.json(content_type=None)
    assert [o["name"] for o in question["anyOf"]] == ["Mon", "Tue", "Wed"]
    voted = await api.call(
        "POST", f"/api/v1/polls/{multi.json['id']}/votes", anna, data=[("choices[]", "0"),
                                                                       ("choices[]", "2")]
    )  # fmt: skip
    assert voted.status == 200, voted.body
    assert voted.json["own_votes"] == [0, 2]
    assert [o["votes_count"] for o in voted.json["options"]] == [1, 0, 1]
    assert voted.json["voters_count"] == 1
    bad = await api.call(
        "POST", f"/api/v1/polls/{multi.json['id']}/votes", anna, data={"choices[]": "7"}
    )
    assert bad.status == 422
    assert (await api.call("GET", "/api/v1/polls/123")).status == 404


async def test_mastodon_question_is_voted_on_from_alpha_in_mastodons_shape(
    start_instance: StartInstance, client: aiohttp.ClientSession, mastodon: FakeRemote
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("kv")
    anna = await person_token(alpha, "anna", "kv")
    api = Api(client, alpha)
    bob = f"{mastodon.base}/users/bob"
    await follow_remote(alpha, mastodon, client, "kv", bob)
    question_id = f"{bob}/statuses/110"
    question: dict[str, object] = {
        "id": question_id,
        "type": "Question",
        "attributedTo": bob,
        "published": "2026-12-01T10:00:00Z",
        "url": f"{mastodon.base}/@bob/110",
        "to": [PUBLIC],
        "cc": [f"{bob}/followers"],
        "content": "<p>Which topics? :blobcat:</p>",
        "endTime": "2099-01-01T00:00:00Z",
        "votersCount": 7,
        "anyOf": [
            {"type": "Note", "name": "Housing", "replies": {"type": "Collection", "totalItems": 5}},
            {"type": "Note", "name": "Transport", "replies": {"type": "Collection",
                                                              "totalItems": 3}},
            {"type": "Note", "name": "Schools", "replies": {"type": "Collection", "totalItems": 1}},
        ],
        "tag": [{"type": "Emoji", "name": ":blobcat:", "icon": {"type": "Image",
                 "mediaType": "image/png", "url": f"{mastodon.base}/emoji/blobcat.png"}}],
        "attachment": [],
    }  # fmt: skip
    create: dict[str, object] = {
        "@context": MASTODON_CONTEXT,
        "id": f"{question_id}/activity",
        "type": "Create",
        "actor": bob,
        "to": [PUBLIC],
        "cc": [f"{bob}/followers"],
        "object": question,
    }
    assert await mastodon.post(client, alpha.base_url + "/inbox", create) == 202
    await settle(alpha)
    status_id = await local_id(alpha, question_id)
    shown = await api.call("GET", f"/api/v1/statuses/{status_id}", anna)
    poll = shown.json["poll"]
    assert poll["multiple"] is True and poll["expired"] is False
    assert poll["expires_at"] == "2099-01-01T00:00:00.000Z"
    assert titles_and_counts(poll) == [("Housing", 5), ("Transport", 3), ("Schools", 1)]
    assert (poll["votes_count"], poll["voters_count"]) == (9, 7)
    assert (
        poll["emojis"]
        == shown.json["emojis"]
        == [
            {
                "shortcode": "blobcat",
                "url": f"{mastodon.base}/emoji/blobcat.png",
                "static_url": f"{mastodon.base}/emoji/blobcat.png",
                "visible_in_picker": False,
            }
        ]
    )

    voted = await api.call(
        "POST", f"/api/v1/polls/{status_id}/votes", anna, data=[("choices[]", "0"),
                                                                ("choices[]", "2")]
    )  # fmt: skip
    assert voted.status == 200, voted.body
    assert titles_and_counts(voted.json) == [("Housing", 6), ("Transport", 3), ("Schools", 2)]
    assert voted.json["voters_count"] == 8
    assert (await api.call(
        "POST", f"/api/v1/polls/{status_id}/votes", anna, data={"choices[]": "0"}
    )).status == 422  # fmt: skip
    await settle(alpha)

    votes = [b for p, _, b in mastodon.received if p == "/users/bob/inbox"]
    votes = [b for b in votes if b.get("type") == "Create"]
    assert len(votes) == 2
    kv = alpha.actor_uri("kv")
    for vote, title in zip(votes, ["Housing", "Schools"], strict=True):
        note = vote["object"]
        assert isinstance(note, dict)
        assert vote["actor"] == kv and vote["to"] == bob and "cc" not in vote
        assert vote["id"] == f"{note['id']}/activity"
        assert isinstance(note["id"], str) and note["id"].startswith(f"{kv}#votes/")
        assert {k: v for k, v in note.items() if k != "id"} == {
            "type": "Note",
            "name": title,
            "attributedTo": kv,
            "to": bob,
            "inReplyTo": question_id,
        }

    # Mastodon's Update with new counts (no `updated`: an implicit update) refreshes them.
    closed = {
        **question,
        "votersCount": 9,
        "closed": "2026-12-01T12:00:00Z",
        "anyOf": [
            {"type": "Note", "name": "Housing", "replies": {"type": "Collection", "totalItems": 7}},
            {"type": "Note", "name": "Transport", "replies": {"type": "Collection",
                                                              "totalItems": 3}},
            {"type": "Note", "name": "Schools", "replies": {"type": "Collection", "totalItems": 2}},
        ],
    }  # fmt: skip
    update: dict[str, object] = {
        "@context": MASTODON_CONTEXT,
        "id": f"{question_id}#updates/1",
        "type": "Update",
        "actor": bob,
        "to": [PUBLIC],
        "object": closed,
    }
    assert await mastodon.post(client, alpha.base_url + "/inbox", update) == 202
    await settle(alpha)
    after = await api.call("GET", f"/api/v1/polls/{status_id}", anna)
    assert titles_and_counts(after.json) == [("Housing", 7), ("Transport", 3), ("Schools", 2)]
    assert (after.json["expired"], after.json["voters_count"]) == (True, 9)
    assert after.json["own_votes"] == [0, 2]
    carol_token = await person_token(alpha, "carl", "kv")
    late = await api.call(
        "POST", f"/api/v1/polls/{status_id}/votes", carol_token, data={"choices[]": "1"}
    )
    assert late.status == 422
    assert late.json["error"] == "Validation failed: The poll has already ended"


async def test_an_ended_poll_is_closed_and_its_final_counts_reach_followers(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta")
    await alpha.add_actor("kv")
    await beta.add_actor("erika", ActorType.PERSON)
    anna = await person_token(alpha, "anna", "kv")
    await actions.follow(beta.services, "erika", alpha.actor_uri("kv"))
    await settle(alpha, beta)
    created = await Api(client, alpha).call(
        "POST",
        "/api/v1/statuses",
        anna,
        data=[("status", "Quick one"), ("poll[options][]", "Yes"), ("poll[options][]", "No"),
              ("poll[expires_in]", "300")],
    )  # fmt: skip
    assert created.status == 200, created.body
    await settle(alpha, beta)
    async with alpha.sessionmaker() as session:
        now = alpha.services.clock()
        assert (
            await close_due_polls(session, now=now, render_update=render_poll_update, policy=OPEN)
            == 0
        )
        # Five minutes pass: the poll ended a second ago.
        ended = now - timedelta(seconds=1)
        await session.execute(update_(Poll).values(expires_at=ended))
        assert (
            await close_due_polls(session, now=now, render_update=render_poll_update, policy=OPEN)
            == 1
        )
        assert (
            await close_due_polls(session, now=now, render_update=render_poll_update, policy=OPEN)
            == 0
        )
        await session.commit()
    await settle(alpha, beta)
    async with alpha.sessionmaker() as session:
        bodies = [
            json.loads(a.body)
            for a in await session.scalars(select(Activity).where(Activity.type == "Update"))
        ]
    [update] = bodies
    assert update["object"]["closed"] == update["object"]["endTime"]
    async with beta.sessionmaker() as session:
        closed_at = await session.scalar(
            select(Poll.closed_at).join(Status, Status.id == Poll.status_id)
        )
    assert closed_at is not None
    assert closed_at.strftime("%Y-%m-%dT%H:%M:%SZ") == update["object"]["closed"]
    beta_id = await local_id(beta, created.json["uri"])
    shown = await Api(client, beta).call("GET", f"/api/v1/polls/{beta_id}")
    assert shown.json["expired"] is True
    assert shown.json["expires_at"] == ended.strftime("%Y-%m-%dT%H:%M:%S.000Z")
