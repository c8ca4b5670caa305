"""Error answers over real HTTP: a page in the site's layout for browsers, `{"error": …}`
for ActivityPub clients, the API and everyone else; the status always kept; a 500 that
says nothing about the failure."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from sqlalchemy import text

from actors.local import get_actor
from actors.uris import LocalUris
from outbox import posts
from outbox.context import PublishContext
from outbox.models import Status
from outbox.posts import Draft
from server.app import create_app
from server.web.errors import error_response
from tests.conftest import Instance, StartInstance
from tests.server.test_served_documents import AP, CHROME, FIREFOX, publish

BROWSERS = [FIREFOX, CHROME, "text/html"]


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await inst.add_actor("news")
    return inst


async def fetch(
    client: aiohttp.ClientSession, url: str, accept: str | None, method: str = "GET"
) -> tuple[int, aiohttp.ClientResponse, str]:
    headers = {} if accept is None else {"Accept": accept}
    skip = ["Accept"] if accept is None else []
    async with client.request(method, url, headers=headers, skip_auto_headers=skip) as resp:
        return resp.status, resp, await resp.text()


def assert_site_page(resp: aiohttp.ClientResponse, body: str, heading: str) -> None:
    """The site's layout: its name linking home, the status phrase as the heading."""
    assert resp.content_type == "text/html"
    assert resp.headers["Vary"].startswith("Accept")
    assert body.startswith("<!DOCTYPE html>")
    assert '<a href="http://alpha.test/">Alpha</a>' in body
    assert f"<h1>{heading}</h1>" in body


MISSING = [
    "/no/such/path",
    "/users/nobody",
    "/@nobody",
    "/users/nobody/feed.rss",
    "/@nobody.atom",
    "/users/news/statuses/12345",
    "/users/news/statuses/12345/activity",
    "/@news/12345",
    "/tags/" + "x" * 101,
    "/users/nobody/outbox",
]


@pytest.mark.parametrize("accept", BROWSERS)
async def test_browsers_get_a_404_page_in_the_layout(
    alpha: Instance, client: aiohttp.ClientSession, accept: str
) -> None:
    for path in MISSING:
        status, resp, body = await fetch(client, alpha.base_url + path, accept)
        assert status == 404, path
        assert_site_page(resp, body, "Not Found")


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", AP])
async def test_everyone_else_gets_json_errors(
    alpha: Instance, client: aiohttp.ClientSession, accept: str | None
) -> None:
    for path in MISSING:
        status, resp, body = await fetch(client, alpha.base_url + path, accept)
        assert (status, resp.content_type) == (404, "application/json"), path
        assert resp.headers["Vary"].startswith("Accept")
        error = json.loads(body)["error"]
        assert isinstance(error, str) and error, path
    _, _, body = await fetch(client, alpha.base_url + "/users/nobody", accept)
    assert json.loads(body) == {"error": "no such actor"}
    _, _, body = await fetch(client, alpha.base_url + "/no/such/path", accept)
    assert json.loads(body) == {"error": "not found"}


async def test_wrong_method_keeps_405_and_allow(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    status, resp, body = await fetch(client, alpha.actor_uri("news"), FIREFOX, "DELETE")
    assert status == 405 and "GET" in resp.headers["Allow"]
    assert_site_page(resp, body, "Method Not Allowed")
    status, resp, body = await fetch(client, alpha.actor_uri("news"), AP, "DELETE")
    assert (status, json.loads(body)) == (405, {"error": "method not allowed"})
    status, resp, body = await fetch(client, alpha.base_url + "/inbox", None)
    assert (status, resp.headers["Allow"]) == (405, "POST")
    assert json.loads(body) == {"error": "method not allowed"}
    status, resp, body = await fetch(client, alpha.base_url + "/nowhere", None, "POST")
    assert (status, json.loads(body)) == (404, {"error": "not found"})


async def test_api_and_oauth_errors_stay_json_for_browsers(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    for path in ("/api/v1/nothing", "/api/v1/accounts/999", "/oauth/nothing"):
        status, resp, body = await fetch(client, alpha.base_url + path, FIREFOX)
        assert (status, resp.content_type) == (404, "application/json"), path
        assert isinstance(json.loads(body)["error"], str)


async def test_a_deleted_post_is_410_in_both_forms(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    status = await publish(alpha, Draft(text="Soon gone"))
    await delete(alpha, status.id)
    code, resp, body = await fetch(client, status.uri, FIREFOX)
    assert code == 410
    assert_site_page(resp, body, "This post was deleted")
    code, resp, body = await fetch(client, status.uri, AP)
    assert (code, resp.content_type) == (410, AP)
    assert json.loads(body)["type"] == "Tombstone"


async def delete(inst: Instance, status_id: int) -> None:
    async with inst.sessionmaker() as session:
        row = await session.get(Status, status_id)
        assert row is not None
        await posts.delete(
            session,
            PublishContext(uris=LocalUris(inst.base_url), clock=inst.services.clock),
            status=row,
            actor=await get_actor(session, "news"),
        )
        await session.commit()


async def test_a_500_is_a_page_or_json_and_leaks_nothing(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    """A real failure: the table the post page reads is gone."""
    status = await publish(alpha, Draft(text="Hello"))
    async with alpha.sessionmaker() as session:
        await session.execute(text("ALTER TABLE statuses RENAME TO statuses_moved"))
        await session.commit()
    code, resp, body = await fetch(client, status.uri, FIREFOX)
    assert code == 500
    assert_site_page(resp, body, "Internal Server Error")
    code, resp, body = await fetch(client, status.uri, AP)
    assert (code, json.loads(body)) == (500, {"error": "internal server error"})
    code, resp, body = await fetch(client, status.uri, None)
    assert (code, resp.content_type) == (500, "application/json")
    for leak in ("Traceback", "statuses", "sqlalchemy", "Error:", "File "):
        assert leak not in body


@pytest.mark.parametrize(("accept", "html"), [(FIREFOX, True), (AP, False), ("", False)])
async def test_error_response_keeps_status_and_headers(
    alpha: Instance, accept: str, html: bool
) -> None:
    """403 (no route of ours raises one for browsers yet) through the same function."""
    app = create_app(alpha.config)
    request = make_mocked_request("GET", "/users/news", headers={"Accept": accept}, app=app)
    response = error_response(request, 403, headers={"Retry-After": "5"})
    assert (response.status, response.headers["Retry-After"]) == (403, "5")
    assert response.headers["Vary"].startswith("Accept")
    assert isinstance(response.body, bytes)
    body = response.body.decode()
    if html:
        assert response.content_type == "text/html"
        assert "<h1>Forbidden</h1>" in body and "You may not see this page." in body
        assert '<a href="http://alpha.test/">' in body
    else:
        assert (response.content_type, json.loads(body)) == (
            "application/json",
            {"error": "forbidden"},
        )
