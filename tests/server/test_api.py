"""The client API over raw HTTP: shapes, errors, CORS, paging, OAuth and permissions.

Mastodon.py drives the same API as a real client in tests/test_mastodon_py.py;
here every byte that a stricter client (Tusky, Ice Cubes, Elk) would look at is
checked directly.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, RoleName
from server import actions
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.webpages import browser_client, sign_in_fields, sign_in_on_the_way

PASSWORD = "a long and secret passphrase"
HIDDEN = re.compile(r'type="hidden" name="(\w+)" value="([^"]*)"')
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ACCOUNT_KEYS = {
    "id", "username", "acct", "url", "uri", "display_name", "note", "avatar", "avatar_static",
    "header", "header_static", "locked", "bot", "group", "discoverable", "indexable",
    "hide_collections", "created_at", "last_status_at", "followers_count", "following_count",
    "statuses_count", "fields", "emojis", "roles", "noindex",
}  # fmt: skip
STATUS_KEYS = {
    "id", "uri", "url", "created_at", "edited_at", "account", "in_reply_to_id",
    "in_reply_to_account_id", "reblog", "content", "visibility", "sensitive", "spoiler_text",
    "language", "media_attachments", "mentions", "tags", "emojis", "reblogs_count",
    "favourites_count", "replies_count", "application", "poll", "card",
}  # fmt: skip
VIEWER_KEYS = {"favourited", "reblogged", "muted", "bookmarked", "pinned"}
RELATIONSHIP_KEYS = {
    "id", "following", "showing_reblogs", "notifying", "followed_by", "blocking", "blocked_by",
    "muting", "muting_notifications", "requested", "requested_by", "domain_blocking", "endorsed",
    "note",
}  # fmt: skip


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: object

    # Test-side JSON is read loosely: the assertions are the type checks.
    @property
    def json(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), self.body
        return self.body

    @property
    def items(self) -> list[dict[str, Any]]:
        assert isinstance(self.body, list), self.body
        return self.body


class Api:
    """A raw HTTP client for one instance's API."""

    def __init__(self, client: aiohttp.ClientSession, inst: Instance) -> None:
        self.client = client
        self.inst = inst

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        data: Any = None,
        json: Any = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        async with self.client.request(
            method,
            self.inst.base_url + path,
            headers=all_headers,
            allow_redirects=False,
            data=data,
            json=json,
        ) as resp:
            raw = await resp.read()
            if resp.content_type == "application/json":
                assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
                body: object = await resp.json()
            else:
                body = raw.decode()
            return Reply(resp.status, resp.headers, body)


@dataclass
class Org:
    """alpha with two organisations and their staff, each person with a token for kv or ov."""

    alpha: Instance
    api: Api
    owner: str  # anna, owner of kv
    editor: str  # ben, editor of kv
    moderator: str  # mia, moderator of kv
    other_owner: str  # otto, owner of ov


async def make_people(inst: Instance) -> dict[str, str]:
    """Users anna (owner kv, editor ov), ben (editor kv), mia (moderator kv), otto (owner ov);
    returns a token per person for kv (otto: for ov), all with read write follow."""
    svc = inst.services
    tokens: dict[str, str] = {}
    async with inst.sessionmaker() as session:
        kv = await get_actor(session, "kv")
        ov = await get_actor(session, "ov")
        grants = {
            "anna": [(kv, RoleName.OWNER), (ov, RoleName.EDITOR)],
            "ben": [(kv, RoleName.EDITOR)],
            "mia": [(kv, RoleName.MODERATOR)],
            "otto": [(ov, RoleName.OWNER)],
        }
        for name, roles in grants.items():
            user = await accounts.create_user(
                session, username=name, password=PASSWORD, now=svc.clock()
            )
            for actor, role in roles:
                await accounts.grant_role(
                    session, user=user, actor=actor, role=role, now=svc.clock()
                )
            issued = await accounts.create_token(
                session,
                user=user,
                actor=roles[0][0],
                scopes=["read", "write", "follow"],
                now=svc.clock(),
            )
            tokens[name] = issued.token
        await session.commit()
    return tokens


@pytest.fixture
async def org(start_instance: StartInstance, client: aiohttp.ClientSession) -> Org:
    alpha = await start_instance("alpha")
    await alpha.add_actor("kv", display_name="Kreisverband", manually_approves=True)
    await alpha.add_actor("ov", display_name="Ortsverein")
    tokens = await make_people(alpha)
    return Org(
        alpha, Api(client, alpha), tokens["anna"], tokens["ben"], tokens["mia"], tokens["otto"]
    )


async def post(org: Org, token: str, text: str = "Hello", **fields: str) -> Reply:
    return await org.api.call("POST", "/api/v1/statuses", token, data={"status": text, **fields})


# --- instance, errors, CORS ----------------------------------------------------------------


async def test_instance_v1_and_v2_with_and_without_slash(org: Org) -> None:
    for path in ("/api/v1/instance", "/api/v1/instance/"):
        reply = await org.api.call("GET", path)
        assert reply.status == 200
        doc = reply.json
        assert doc["uri"] == "alpha.test"
        assert doc["version"] == "4.3.0 (compatible; Verbund 0.1.0)"
        assert doc["urls"] == {"streaming_api": "ws://alpha.test"}
        assert doc["stats"] == {"user_count": 2, "status_count": 0, "domain_count": 0}
        assert {"statuses", "polls", "media_attachments", "accounts"} <= set(doc["configuration"])
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
    for path in ("/api/v2/instance", "/api/v2/instance/"):
        doc = (await org.api.call("GET", path)).json
        assert doc["domain"] == "alpha.test"
        assert doc["api_versions"] == {"mastodon": 1}
        configuration = doc["configuration"]
        assert isinstance(configuration, dict)
        assert configuration["urls"]["streaming"] == "ws://alpha.test"
        assert "supported_mime_types" in configuration["media_attachments"]
        assert configuration["accounts"]["max_featured_tags"] == 0


async def test_unknown_api_paths_are_json_404_with_cors(org: Org) -> None:
    reply = await org.api.call("GET", "/api/v1/nothing/here")
    assert reply.status == 404
    assert reply.json == {"error": "Record not found"}
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    reply = await org.api.call("GET", "/api/v1/statuses/123456789")
    assert (reply.status, reply.json) == (404, {"error": "Record not found"})
    reply = await org.api.call("GET", f"/api/v1/statuses/{10**19}")
    assert (reply.status, reply.json) == (404, {"error": "Record not found"})
    reply = await org.api.call("GET", f"/api/v1/timelines/public?max_id={10**19}")
    assert reply.status == 200
    reply = await org.api.call("PATCH", "/api/v1/statuses")
    assert (reply.status, reply.json) == (404, {"error": "Record not found"})
    # The federation paths keep their own answers.
    async with org.api.client.get(org.alpha.base_url + "/users/nobody") as resp:
        assert resp.status == 404 and "Access-Control-Expose-Headers" not in resp.headers


async def test_cors_preflight_and_exposed_headers(org: Org) -> None:
    for path in ("/api/v1/statuses", "/api/v1/statuses/1", "/oauth/token", "/oauth/revoke"):
        reply = await org.api.call(
            "OPTIONS",
            path,
            headers={
                "Origin": "https://elk.zone",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert reply.status == 204
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in reply.headers["Access-Control-Allow-Methods"]
        assert reply.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    reply = await org.api.call("GET", "/api/v1/timelines/public")
    assert "Link" in reply.headers["Access-Control-Expose-Headers"]
    # Errors carry CORS too, or web clients cannot read them (pixelfed/pixelfed#4411).
    reply = await org.api.call("POST", "/oauth/token", data={"grant_type": "password"})
    assert reply.status == 401
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.json["error"] == "invalid_client"


async def test_missing_images_are_served(org: Org) -> None:
    for path in ("/avatars/original/missing.png", "/headers/original/missing.png"):
        async with org.api.client.get(org.alpha.base_url + path) as resp:
            assert resp.status == 200 and resp.content_type == "image/png"


# --- tokens and permissions ----------------------------------------------------------------


async def test_missing_bad_and_revoked_tokens_are_refused(org: Org) -> None:
    home = "/api/v1/timelines/home"
    assert (await org.api.call("GET", home)).json == {"error": "The access token is invalid"}
    reply = await org.api.call("GET", home, "not-a-token")
    assert (reply.status, reply.json) == (401, {"error": "The access token is invalid"})
    assert (await org.api.call("GET", home, org.editor)).status == 200
    assert (await org.api.call("GET", f"{home}?access_token={org.editor}")).status == 200

    async with org.alpha.sessionmaker() as session:
        views = await accounts.list_tokens(session)
        ben = next(v for v in views if v.username == "ben")
        await accounts.revoke_token(session, ben.id, now=org.alpha.services.clock())
        await session.commit()
    reply = await org.api.call("GET", home, org.editor)
    assert (reply.status, reply.json) == (401, {"error": "The access token is invalid"})
    reply = await post(org, org.editor)
    assert (reply.status, reply.json) == (401, {"error": "The access token is invalid"})


async def test_editor_of_one_organisation_cannot_post_as_another(org: Org) -> None:
    # ben's token acts for kv: what he posts is kv's, recorded as his.
    reply = await post(org, org.editor, "From the Kreisverband")
    assert reply.status == 200
    assert reply.json["account"]["acct"] == "kv"
    # He holds no role on ov, so he cannot get a token for it...
    reply = await org.api.call("POST", "/api/verbund/v1/tokens", org.editor, data={"actor": "ov"})
    assert (reply.status, reply.json) == (404, {"error": "Record not found"})
    # ...nor edit or delete ov's posts with his kv token.
    ov_post = (await post(org, org.other_owner, "Ortsverein news")).json
    path = f"/api/v1/statuses/{ov_post['id']}"
    reply = await org.api.call("PUT", path, org.editor, data={"status": "hijacked"})
    assert (reply.status, reply.json) == (404, {"error": "Record not found"})
    assert (await org.api.call("DELETE", path, org.editor)).status == 404
    # anna holds roles on both: her kv token can mint an ov token, which posts as ov.
    reply = await org.api.call("POST", "/api/verbund/v1/tokens", org.owner, data={"actor": "ov"})
    assert reply.status == 200
    assert reply.json["role"] == "editor"
    ov_token = reply.json["access_token"]
    assert isinstance(ov_token, str)
    reply = await post(org, ov_token, "anna for the Ortsverein")
    assert reply.json["account"]["acct"] == "ov"


async def test_moderator_can_delete_but_not_publish(org: Org) -> None:
    reply = await post(org, org.moderator, "A moderator speaking")
    assert (reply.status, reply.json) == (403, {"error": "This action is not allowed"})
    status = (await post(org, org.editor, "Needs moderation")).json
    path = f"/api/v1/statuses/{status['id']}"
    reply = await org.api.call("PUT", path, org.moderator, data={"status": "changed"})
    assert (reply.status, reply.json) == (403, {"error": "This action is not allowed"})
    reply = await org.api.call("DELETE", path, org.moderator)
    assert reply.status == 200
    assert reply.json["text"] == "Needs moderation" and "content" not in reply.json
    assert (await org.api.call("GET", path)).status == 404
    # Moderators handle follow requests, editors do not.
    assert (await org.api.call("GET", "/api/v1/follow_requests", org.moderator)).items == []
    reply = await org.api.call("GET", "/api/v1/follow_requests", org.editor)
    assert reply.status == 403


async def test_scopes_are_enforced(org: Org) -> None:
    async with org.alpha.sessionmaker() as session:
        ben = await accounts.get_user(session, "ben")
        kv = await get_actor(session, "kv")
        issued = await accounts.create_token(
            session, user=ben, actor=kv, scopes=["read"], now=org.alpha.services.clock()
        )
        await session.commit()
    reply = await post(org, issued.token)
    assert (reply.status, reply.json) == (
        403,
        {"error": "This action is outside the authorized scopes"},
    )
    assert (await org.api.call("GET", "/api/v1/timelines/home", issued.token)).status == 200


# --- statuses ------------------------------------------------------------------------------


async def test_status_has_every_key_and_mastodon_formats(org: Org) -> None:
    reply = await post(
        org,
        org.editor,
        "Meeting on **Monday** #Verkehr",
        spoiler_text="Local politics",
        language="de",
        visibility="unlisted",
    )
    assert reply.status == 200
    status = reply.json
    assert set(status) == STATUS_KEYS | VIEWER_KEYS
    assert isinstance(status["id"], str) and status["id"].isdigit()
    assert DATETIME.match(str(status["created_at"]))
    assert status["edited_at"] is None
    assert status["uri"] == f"http://alpha.test/users/kv/statuses/{status['id']}"
    assert status["url"] == f"http://alpha.test/@kv/{status['id']}"
    assert status["visibility"] == "unlisted"
    assert status["spoiler_text"] == "Local politics" and status["sensitive"] is True
    assert status["language"] == "de"
    assert "<strong>Monday</strong>" in str(status["content"])
    assert status["tags"] == [{"name": "verkehr", "url": "http://alpha.test/tags/verkehr"}]
    account = status["account"]
    assert isinstance(account, dict) and set(account) == ACCOUNT_KEYS
    assert account["acct"] == "kv" and account["locked"] is True
    assert account["avatar"] == "http://alpha.test/avatars/original/missing.png"
    assert DATETIME.match(account["created_at"])
    # Anonymous readers get no viewer flags.
    anonymous = (await org.api.call("GET", f"/api/v1/statuses/{status['id']}")).json
    assert set(anonymous) == STATUS_KEYS


async def test_posting_accepts_json_multipart_and_query_string(org: Org) -> None:
    reply = await org.api.call(
        "POST", "/api/v1/statuses", org.editor, json={"status": "json", "sensitive": True}
    )
    assert reply.status == 200 and reply.json["sensitive"] is True
    form = aiohttp.FormData()
    form.add_field("status", "multipart")
    form.add_field("sensitive", "0")
    reply = await org.api.call("POST", "/api/v1/statuses", org.editor, data=form)
    assert reply.status == 200 and reply.json["sensitive"] is False
    reply = await org.api.call(
        "POST", "/api/v1/statuses?status=query&visibility=private", org.editor
    )
    assert reply.status == 200 and reply.json["visibility"] == "private"
    reply = await post(org, org.editor, "   ")
    assert reply.status == 422 and str(reply.json["error"]).startswith("Validation failed: ")


async def test_article_title_edit_source_and_history(org: Org) -> None:
    reply = await post(org, org.editor, "The long text of our annual report.", title="Report")
    status = reply.json
    assert str(status["content"]).startswith("<p><strong>Report</strong></p>")
    assert status["spoiler_text"] == ""
    path = f"/api/v1/statuses/{status['id']}"
    source = (await org.api.call("GET", path + "/source", org.editor)).json
    assert source == {
        "id": status["id"],
        "text": "The long text of our annual report.",
        "spoiler_text": "",
    }
    # An edit from a Mastodon client (no title field) keeps the title.
    reply = await org.api.call("PUT", path, org.editor, data={"status": "Corrected text."})
    assert reply.status == 200
    edited = reply.json
    assert edited["id"] == status["id"] and DATETIME.match(str(edited["edited_at"]))
    assert "Corrected text." in str(edited["content"])
    assert str(edited["content"]).startswith("<p><strong>Report</strong></p>")
    history = (await org.api.call("GET", path + "/history")).items
    assert len(history) == 1 and history[0]["created_at"] == edited["edited_at"]
    # Another organisation's staff do not see the source.
    assert (await org.api.call("GET", path + "/source", org.other_owner)).status == 404


async def test_private_posts_are_hidden_from_others(org: Org) -> None:
    status = (await post(org, org.editor, "staff only", visibility="private")).json
    path = f"/api/v1/statuses/{status['id']}"
    assert (await org.api.call("GET", path)).status == 404
    assert (await org.api.call("GET", path, org.other_owner)).status == 404
    assert (await org.api.call("GET", path, org.moderator)).status == 200
    public = (await org.api.call("GET", "/api/v1/timelines/public")).items
    assert all(s["id"] != status["id"] for s in public)


async def test_replies_context_and_boosts(org: Org) -> None:
    parent = (await post(org, org.other_owner, "Question from ov")).json
    reply = await post(org, org.editor, "Answer from kv", in_reply_to_id=parent["id"])
    child = reply.json
    assert child["in_reply_to_id"] == parent["id"]
    assert child["in_reply_to_account_id"] == parent["account"]["id"]
    context = (await org.api.call("GET", f"/api/v1/statuses/{child['id']}/context")).json
    assert [s["id"] for s in context["ancestors"]] == [parent["id"]]
    context = (await org.api.call("GET", f"/api/v1/statuses/{parent['id']}/context")).json
    assert [s["id"] for s in context["descendants"]] == [child["id"]]

    boost = await org.api.call("POST", f"/api/v1/statuses/{parent['id']}/reblog", org.editor)
    assert boost.status == 200
    assert boost.json["id"] != parent["id"]
    assert boost.json["reblog"]["id"] == parent["id"]
    assert boost.json["reblog"]["reblogged"] is True
    undone = await org.api.call("POST", f"/api/v1/statuses/{parent['id']}/unreblog", org.editor)
    assert undone.json["reblogged"] is False and undone.json["reblogs_count"] == 0
    reply = await org.api.call("POST", f"/api/v1/statuses/{parent['id']}/reblog", org.moderator)
    assert reply.status == 403


async def test_idempotency_key_returns_the_first_status(org: Org) -> None:
    headers = {"Idempotency-Key": "tusky-123"}
    first = await org.api.call(
        "POST", "/api/v1/statuses", org.editor, headers=headers, data={"status": "once"}
    )
    again = await org.api.call(
        "POST", "/api/v1/statuses", org.editor, headers=headers, data={"status": "once"}
    )
    assert first.json["id"] == again.json["id"]


# --- timelines and paging ------------------------------------------------------------------


def links(reply: Reply) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', reply.headers.get("Link", "")):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == "http://alpha.test"
        out[rel] = parse_qs(parts.query)
    return out


async def test_timelines_page_with_link_headers(org: Org) -> None:
    ids = [str((await post(org, org.editor, f"post {n}")).json["id"]) for n in range(5)]
    await post(org, org.other_owner, "ov post")
    home = (await org.api.call("GET", "/api/v1/timelines/home", org.editor)).items
    assert [s["id"] for s in home] == ids[::-1]

    page = await org.api.call("GET", "/api/v1/timelines/public?local=true&limit=2")
    assert len(page.items) == 2
    rel = links(page)
    assert rel["next"]["local"] == ["true"] and rel["next"]["limit"] == ["2"]
    assert rel["next"]["max_id"] == [page.items[-1]["id"]]
    assert rel["prev"]["min_id"] == [page.items[0]["id"]]
    # Walk down the Link headers, then back up with min_id.
    seen = [s["id"] for s in page.items]
    while "next" in links(page):
        max_id = links(page)["next"]["max_id"][0]
        page = await org.api.call(
            "GET", f"/api/v1/timelines/public?local=true&limit=2&max_id={max_id}"
        )
        seen += [s["id"] for s in page.items]
    assert seen[1:] == ids[::-1] and len(seen) == 6
    assert "Link" not in page.headers  # the empty last page ends paging
    page = await org.api.call("GET", f"/api/v1/timelines/public?limit=2&min_id={ids[1]}")
    assert [s["id"] for s in page.items] == [ids[3], ids[2]]
    page = await org.api.call("GET", f"/api/v1/timelines/public?limit=2&since_id={ids[1]}")
    assert page.items[0]["id"] != ids[3]  # newest first, may leave a gap
    assert (await org.api.call("GET", "/api/v1/timelines/public?remote=true")).items == []
    assert (await org.api.call("GET", "/api/v1/timelines/public?limit=100")).status == 200


async def test_urls_come_from_config_not_from_the_host_header(org: Org) -> None:
    await post(org, org.editor, "host check")
    url = f"http://127.0.0.1:{org.alpha.port}/api/v1/timelines/public?limit=1"
    async with org.api.client.get(url, headers={"Host": f"127.0.0.1:{org.alpha.port}"}) as resp:
        body = await resp.json()
        link = resp.headers["Link"]
    assert body[0]["uri"].startswith("http://alpha.test/users/kv/statuses/")
    assert link.startswith("<http://alpha.test/api/v1/timelines/public?")


# --- accounts ------------------------------------------------------------------------------


async def test_verify_credentials_is_the_acting_actor_with_the_role(org: Org) -> None:
    reply = await org.api.call("GET", "/api/v1/accounts/verify_credentials", org.moderator)
    doc = reply.json
    assert set(doc) == ACCOUNT_KEYS | {"source", "role"}
    assert doc["acct"] == "kv" and doc["display_name"] == "Kreisverband"
    assert doc["role"]["name"] == "moderator"
    assert set(doc["source"]) == {
        "privacy", "sensitive", "language", "note", "fields", "follow_requests_count",
        "hide_collections", "discoverable", "indexable",
    }  # fmt: skip


async def test_account_lookup_statuses_search_and_ids(org: Org) -> None:
    await post(org, org.editor, "kv speaks")
    kv = (await org.api.call("GET", "/api/v1/accounts/lookup?acct=kv")).json
    assert kv == (await org.api.call("GET", "/api/v1/accounts/lookup?acct=kv@alpha.test")).json
    assert str(kv["id"]).isdigit() and int(str(kv["id"])) < 10**15
    assert kv["statuses_count"] == 1 and kv["url"] == "http://alpha.test/@kv"
    assert (await org.api.call("GET", "/api/v1/accounts/lookup?acct=nobody")).status == 404
    same = (await org.api.call("GET", f"/api/v1/accounts/{kv['id']}")).json
    assert same["id"] == kv["id"]
    assert (await org.api.call("GET", f"/api/v1/accounts/{10**15 + 999}")).status == 404
    statuses = (await org.api.call("GET", f"/api/v1/accounts/{kv['id']}/statuses")).items
    assert [str(s["content"]).strip() for s in statuses] == ["<p>kv speaks</p>"]
    pinned = await org.api.call("GET", f"/api/v1/accounts/{kv['id']}/statuses?pinned=true")
    assert pinned.items == []
    found = (await org.api.call("GET", "/api/v1/accounts/search?q=Kreis")).items
    assert [a["acct"] for a in found] == ["kv"]
    rels = await org.api.call(
        "GET", f"/api/v1/accounts/relationships?id[]={kv['id']}", org.other_owner
    )
    assert set(rels.items[0]) == RELATIONSHIP_KEYS | {"languages"}
    assert rels.items[0]["following"] is False


async def test_account_statuses_tagged_finds_the_hashtag_in_any_spelling(org: Org) -> None:
    first = (await post(org, org.editor, "Neue Radwege #Verkehr")).json
    await post(org, org.editor, "Nichts dazu #Klima")
    kv = (await org.api.call("GET", "/api/v1/accounts/lookup?acct=kv")).json
    path = f"/api/v1/accounts/{kv['id']}/statuses?tagged="
    for tagged in ("verkehr", "Verkehr", "%23VERKEHR"):
        found = (await org.api.call("GET", path + tagged)).items
        assert [s["id"] for s in found] == [first["id"]]
    assert (await org.api.call("GET", path + "Radwege")).items == []
    # An edit files the post under its new tags only.
    edited = await org.api.call(
        "PUT", f"/api/v1/statuses/{first['id']}", org.editor, data={"status": "Jetzt #Radwege"}
    )
    assert edited.status == 200
    assert [s["id"] for s in (await org.api.call("GET", path + "radwege")).items] == [first["id"]]
    assert (await org.api.call("GET", path + "verkehr")).items == []


# --- OAuth ---------------------------------------------------------------------------------


async def register_app(org: Org, redirect: str, scopes: str = "read write follow push") -> Reply:
    return await org.api.call(
        "POST",
        "/api/v1/apps",
        json={"client_name": "Test app", "redirect_uris": [redirect], "scopes": scopes},
    )


async def test_app_registration_shapes_and_refusals(org: Org) -> None:
    elk = "https://elk.zone/api/alpha.test%3A443/oauth"
    reply = await org.api.call(
        "POST",
        "/api/v1/apps",
        data={
            "client_name": "Elk",
            "redirect_uris": f"{elk}\nurn:ietf:wg:oauth:2.0:oob",
            "scopes": "read write follow push admin:read",
            "website": "https://elk.zone",
        },
    )
    app = reply.json
    assert app["redirect_uris"] == [elk, "urn:ietf:wg:oauth:2.0:oob"]
    assert app["redirect_uri"] == f"{elk}\nurn:ietf:wg:oauth:2.0:oob"
    assert app["scopes"] == ["read", "write", "follow", "push", "admin:read"]
    assert app["client_secret_expires_at"] == 0
    assert {"id", "name", "website", "client_id", "client_secret"} <= set(app)
    reply = await register_app(org, "javascript:alert(1)")
    assert reply.status == 422
    reply = await register_app(org, "urn:ietf:wg:oauth:2.0:oob", scopes="read everything")
    assert reply.status == 422
    metadata = (await org.api.call("GET", "/.well-known/oauth-authorization-server")).json
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["token_endpoint"] == "http://alpha.test/oauth/token"


async def consent(
    org: Org,
    browser: aiohttp.ClientSession,
    app: dict[str, object],
    redirect: str,
    *,
    actor: str | None = None,
    decision: str = "allow",
    **extra: str,
) -> tuple[aiohttp.ClientResponse, str, str]:
    """anna (roles on kv and ov) approves `app` on the consent page (or denies it), for
    `actor` if given, signing in through the site's form on the way when `browser` is not
    signed in yet: (the POST's response, its body, the consent page). Redirects are not
    followed."""
    query = {
        "response_type": "code",
        "client_id": str(app["client_id"]),
        "redirect_uri": redirect,
        "scope": "read write",
        "state": "xyz",
        **extra,
    }
    url = f"{org.alpha.base_url}/oauth/authorize?{urlencode(query)}"
    async with browser.get(url, allow_redirects=False) as resp:
        page = await resp.text()
        if resp.status == 303:
            sign_in = URL(resp.headers["Location"])
            assert sign_in.path == "/auth/sign_in"
            assert sign_in.query["next"] == URL(url).raw_path_qs
            landed, page = await sign_in_on_the_way(browser, url, "anna", PASSWORD)
            assert landed == URL(url)  # back on the authorize page, now the consent page
        else:
            assert resp.status == 200 and resp.headers["X-Frame-Options"] == "DENY"
    assert "Test app" in page and 'name="password"' not in page
    form = {k: html.unescape(v) for k, v in HIDDEN.findall(page)}
    form["decision"] = decision
    if actor is not None:
        form["actor"] = actor
    async with browser.post(
        org.alpha.base_url + "/oauth/authorize", data=form, allow_redirects=False
    ) as resp:
        return resp, await resp.text(), page


async def test_authorization_code_flow_with_actor_choice_and_pkce(
    org: Org, resolver: LoopbackResolver
) -> None:
    redirect = "com.example.app:/oauth"
    app = (await register_app(org, redirect)).json
    verifier = "v" * 64
    challenge = {"code_challenge": accounts.pkce_challenge(verifier)}
    async with browser_client(resolver) as browser:
        # anna holds roles on two actors: the consent page asks which one.
        resp, body, page = await consent(
            org, browser, app, redirect, **challenge, code_challenge_method="S256"
        )
        assert '<select id="actor" name="actor">' in page
        assert 'value="kv"' in page and 'value="ov"' in page
        assert resp.status == 403 and "Please choose one of your actors." in body
        resp, _, _ = await consent(org, browser, app, redirect, actor="ov", **challenge)
        assert resp.status == 302
        location = urlsplit(resp.headers["Location"])
        assert f"{location.scheme}:{location.path}" == redirect
        query = parse_qs(location.query)
        assert query["state"] == ["xyz"]
        code = query["code"][0]

        exchange = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        }
        reply = await org.api.call("POST", "/oauth/token", data={**exchange, "code_verifier": "x"})
        assert reply.status == 400 and reply.json["error"] == "invalid_grant"
        # The failed attempt spent the code: consent again for a fresh one.
        resp, _, _ = await consent(org, browser, app, redirect, actor="ov", **challenge)
        assert resp.status == 302
        code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    reply = await org.api.call(
        "POST", "/oauth/token", json={**exchange, "code": code, "code_verifier": verifier}
    )
    assert reply.status == 200
    token = reply.json
    assert token["token_type"] == "Bearer" and token["scope"] == "read write"
    assert isinstance(token["created_at"], int)
    me = (
        await org.api.call("GET", "/api/v1/accounts/verify_credentials", str(token["access_token"]))
    ).json
    assert me["acct"] == "ov" and me["role"]["name"] == "editor"
    reply = await org.api.call("POST", "/oauth/token", json={**exchange, "code": code})
    assert reply.json["error"] == "invalid_grant"  # single use


async def test_oob_shows_the_code_and_the_authorize_page_takes_no_password(
    org: Org, resolver: LoopbackResolver
) -> None:
    oob = "urn:ietf:wg:oauth:2.0:oob"
    app = (await register_app(org, oob)).json
    query = {"response_type": "code", "client_id": str(app["client_id"]), "redirect_uri": oob}
    async with browser_client(resolver) as browser:
        # A password sent to the authorize page is no sign-in: the site's sign-in is.
        async with browser.post(
            org.alpha.base_url + "/oauth/authorize",
            data={**query, "username": "anna", "password": PASSWORD, "actor": "kv"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
            assert URL(resp.headers["Location"]).query["next"].startswith("/oauth/authorize?")
        async with browser.get(f"{org.alpha.base_url}/oauth/authorize?{urlencode(query)}") as resp:
            page = await resp.text()
            assert resp.url.path == "/auth/sign_in"
        wrong = sign_in_fields(page, "anna", "wrong password")
        async with browser.post(f"{org.alpha.base_url}/auth/sign_in", data=wrong) as resp:
            assert resp.status == 401 and "Wrong user name or password" in await resp.text()
        resp, body, _ = await consent(org, browser, app, oob, actor="kv")
        assert resp.status == 200 and resp.headers["X-Frame-Options"] == "DENY"
        match = re.search(r'<code id="code">([^<]+)</code>', body)
        assert match is not None
        # Denied, oob: the page says so.
        resp, body, _ = await consent(org, browser, app, oob, actor="kv", decision="deny")
        assert resp.status == 403 and "The authorization was denied." in body
    reply = await org.api.call(
        "POST",
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": match.group(1),
            "redirect_uri": oob,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert reply.status == 200
    async with org.api.client.get(
        org.alpha.base_url + "/oauth/authorize",
        params={"response_type": "code", "client_id": "unknown", "redirect_uri": oob},
    ) as resp:
        assert resp.status == 400 and 'id="problem"' in await resp.text()


async def test_password_and_client_credentials_grants_and_revoke(org: Org) -> None:
    app = (await register_app(org, "urn:ietf:wg:oauth:2.0:oob")).json
    client = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    reply = await org.api.call(
        "POST",
        "/oauth/token",
        data={**client, "grant_type": "password", "username": "ben", "password": PASSWORD},
    )
    assert reply.status == 200 and reply.json["scope"] == "read"
    ben = str(reply.json["access_token"])
    reply = await org.api.call(
        "POST",
        "/oauth/token",
        data={**client, "grant_type": "password", "username": "ben", "password": "nope"},
    )
    assert reply.json["error"] == "invalid_grant"
    reply = await org.api.call(
        "POST",
        "/oauth/token",
        data={
            **client,
            "grant_type": "password",
            "username": "ben",
            "password": PASSWORD,
            "actor": "ov",
        },
    )
    assert reply.json["error"] == "invalid_grant"
    reply = await org.api.call(
        "POST", "/oauth/token", data={**client, "grant_type": "password", "scope": "admin:write"}
    )
    assert reply.json["error"] == "invalid_scope"
    reply = await org.api.call("POST", "/oauth/token", data={**client, "grant_type": "implicit"})
    assert reply.json["error"] == "unsupported_grant_type"

    reply = await org.api.call(
        "POST", "/oauth/token", data={**client, "grant_type": "client_credentials"}
    )
    app_token = str(reply.json["access_token"])
    verified = (await org.api.call("GET", "/api/v1/apps/verify_credentials", app_token)).json
    assert verified["name"] == "Test app"
    reply = await org.api.call("GET", "/api/v1/accounts/verify_credentials", app_token)
    assert (reply.status, reply.json) == (
        422,
        {"error": "This method requires an authenticated user"},
    )
    # Basic client authentication works too; revoking is harmless twice.
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    for _ in range(2):
        async with org.api.client.post(
            org.alpha.base_url + "/oauth/revoke",
            data={"token": ben},
            headers={"Authorization": f"Basic {basic}"},
        ) as resp:
            assert resp.status == 200 and await resp.json() == {}
    reply = await org.api.call("GET", "/api/v1/timelines/home", ben)
    assert reply.status == 401
    other = (await register_app(org, "urn:ietf:wg:oauth:2.0:oob")).json
    reply = await org.api.call(
        "POST",
        "/oauth/revoke",
        data={
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
            "token": app_token,
        },
    )
    assert (reply.status, reply.json["error"]) == (403, "unauthorized_client")


# --- /api/verbund extensions ---------------------------------------------------------------


async def test_my_actors_roles_and_staff_management(org: Org) -> None:
    mine = (await org.api.call("GET", "/api/verbund/v1/actors", org.owner)).items
    assert [(a["account"]["acct"], a["role"], a["acting"]) for a in mine] == [
        ("kv", "owner", True),
        ("ov", "editor", False),
    ]
    staff = (await org.api.call("GET", "/api/verbund/v1/roles", org.editor)).items
    assert [(s["user"]["username"], s["role"]) for s in staff] == [
        ("anna", "owner"),
        ("ben", "editor"),
        ("mia", "moderator"),
    ]
    # Only owners manage roles.
    grant = {"username": "otto", "role": "editor"}
    reply = await org.api.call("POST", "/api/verbund/v1/roles", org.editor, data=grant)
    assert (reply.status, reply.json) == (403, {"error": "This action is not allowed"})
    reply = await org.api.call("POST", "/api/verbund/v1/roles", org.owner, data=grant)
    assert reply.status == 200 and reply.json["role"] == "editor"
    reply = await org.api.call("DELETE", "/api/verbund/v1/roles/mia", org.owner)
    assert reply.status == 200
    # mia's token died with her role.
    assert (await org.api.call("GET", "/api/v1/timelines/home", org.moderator)).status == 401
    reply = await org.api.call("DELETE", "/api/verbund/v1/roles/anna", org.owner)
    assert reply.status == 422  # the last owner stays
    reply = await org.api.call(
        "POST", "/api/verbund/v1/roles", org.owner, data={"username": "x", "role": "king"}
    )
    assert reply.status == 422


async def test_tokens_listed_created_and_revoked_by_their_person(org: Org) -> None:
    reply = await org.api.call(
        "POST",
        "/api/verbund/v1/tokens",
        org.owner,
        data={"actor": "ov", "name": "phone", "scopes": "read"},
    )
    created = reply.json
    assert created["scope"] == "read" and created["account"]["acct"] == "ov"
    reply = await org.api.call(
        "POST", "/api/verbund/v1/tokens", org.owner, data={"actor": "ov", "scopes": "admin:read"}
    )
    assert reply.status == 403  # no more than the calling token has
    listed = (await org.api.call("GET", "/api/verbund/v1/tokens", org.owner)).items
    assert [(t["actor"], t["name"]) for t in listed] == [("kv", ""), ("ov", "phone")]
    assert "access_token" not in listed[1]
    path = f"/api/verbund/v1/tokens/{created['id']}"
    assert (await org.api.call("DELETE", path, org.editor)).status == 404  # not ben's
    assert (await org.api.call("DELETE", path, org.owner)).status == 200
    token = str(created["access_token"])
    assert (await org.api.call("GET", "/api/v1/timelines/home", token)).status == 401


async def test_post_author_is_visible_to_staff_only(org: Org) -> None:
    status = (await post(org, org.editor, "Written by a person of the staff")).json
    path = f"/api/verbund/v1/statuses/{status['id']}/author"
    reply = await org.api.call("GET", path, org.moderator)
    assert reply.json == {
        "status_id": status["id"],
        "actor": "kv",
        "user": {"id": reply.json["user"]["id"], "username": "ben"},
    }
    assert (await org.api.call("GET", path, org.other_owner)).status == 403
    assert (await org.api.call("GET", path)).status == 401
    # Nothing of the person reaches the public status or its ActivityPub object.
    public = await org.api.call("GET", f"/api/v1/statuses/{status['id']}")
    assert "ben" not in str(public.body)
    async with org.api.client.get(
        str(status["uri"]), headers={"Accept": "application/activity+json"}
    ) as resp:
        assert "ben" not in await resp.text()


# --- follow requests over two instances ----------------------------------------------------


async def test_follow_requests_list_reject_and_follow(
    org: Org, start_instance: StartInstance
) -> None:
    beta = await start_instance("beta", domain="beta.test:8443")
    await beta.add_actor("erika", ActorType.PERSON)
    await actions.follow(beta.services, "erika", "kv@alpha.test")
    await settle(org.alpha, beta)
    reply = await org.api.call("GET", "/api/v1/follow_requests", org.moderator)
    assert [a["acct"] for a in reply.items] == ["erika@beta.test:8443"]
    erika = reply.items[0]
    assert int(str(erika["id"])) > 10**15
    assert set(erika) == ACCOUNT_KEYS
    assert links(reply)["next"]["max_id"]  # follow-request row ids
    me = (await org.api.call("GET", "/api/v1/accounts/verify_credentials", org.owner)).json
    assert me["source"]["follow_requests_count"] == 1
    path = f"/api/v1/follow_requests/{erika['id']}"
    reply = await org.api.call("POST", path + "/reject", org.moderator)
    assert reply.status == 200 and reply.json["requested_by"] is False
    assert reply.json["followed_by"] is False
    assert (await org.api.call("POST", path + "/authorize", org.moderator)).status == 404
    await settle(org.alpha, beta)

    # kv follows erika back through the API (editors may follow).
    reply = await org.api.call("POST", f"/api/v1/accounts/{erika['id']}/follow", org.editor)
    assert reply.status == 200 and reply.json["following"] is False
    await settle(org.alpha, beta)
    rel = await org.api.call(
        "GET", f"/api/v1/accounts/relationships?id[]={erika['id']}", org.editor
    )
    assert rel.items[0]["following"] is True
    reply = await org.api.call("POST", f"/api/v1/accounts/{erika['id']}/follow", org.moderator)
    assert reply.status == 403
    reply = await org.api.call("POST", f"/api/v1/accounts/{erika['id']}/unfollow", org.editor)
    assert reply.status == 200


# --- the OpenAPI description of the extensions ---------------------------------------------

OPENAPI = Path(__file__).parents[2] / "docs" / "openapi-verbund.json"


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_openapi_describes_every_extension_route(org: Org) -> None:
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert doc["openapi"] == "3.1.0"
    for ref in _refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    served: set[tuple[str, str]] = set()
    for route in org.alpha.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = str(info.get("path") or info.get("formatter") or "")
        if path.startswith("/api/verbund/") and route.method != "HEAD":
            served.add((re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path), route.method.lower()))
    documented = {
        (path, method)
        for path, ops in doc["paths"].items()
        if path.startswith("/api/verbund/")
        for method in ops
    }
    assert served == documented


async def test_one_post_length_is_advertised_and_enforced(org: Org) -> None:
    v1 = (await org.api.call("GET", "/api/v1/instance")).json
    v2 = (await org.api.call("GET", "/api/v2/instance")).json
    assert v1["max_toot_chars"] == 5000
    assert v1["configuration"]["statuses"]["max_characters"] == 5000
    assert v2["configuration"]["statuses"]["max_characters"] == 5000
    longest = await post(org, org.editor, "x" * 5000)
    assert longest.status == 200
    too_long = await post(org, org.editor, "x" * 5001)
    assert too_long.status == 422
    assert too_long.json == {
        "error": "Validation failed: Text character limit of 5000 exceeded (the text has 5001)"
    }
    edited = await org.api.call(
        "PUT", f"/api/v1/statuses/{longest.json['id']}", org.editor, data={"status": "y" * 5001}
    )
    assert edited.status == 422 and "character limit" in str(edited.json["error"])
    timeline = await org.api.call("GET", "/api/v1/timelines/home", org.editor)
    assert isinstance(timeline.body, list)
    assert [s["id"] for s in timeline.body] == [longest.json["id"]]


async def test_a_leading_byte_order_mark_is_not_part_of_the_post(org: Org) -> None:
    reply = await post(org, org.editor, "\ufeffHello #bom")
    assert reply.status == 200
    source = await org.api.call("GET", f"/api/v1/statuses/{reply.json['id']}/source", org.editor)
    assert source.json["text"] == "Hello #bom"
    assert "\ufeff" not in str(reply.json["content"])
