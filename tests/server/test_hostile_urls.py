"""Text no database accepts (NUL, invalid UTF-8) in paths and queries is a 4xx, never a 500."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from tests.conftest import Instance, StartInstance

JUNK = ["%00", "a%00b", "%ED%A0%80", "%C0%80", "%FF"]
TEMPLATES = [
    "/@{j}",
    "/@news?max_id={j}",
    "/tags/news?max_id={j}",
    "/@{j}.rss",
    "/@{j}.atom",
    "/@news/{j}",
    "/tags/{j}",
    "/users/{j}",
    "/users/{j}/outbox?page=true",
    "/users/{j}/followers?page=1",
    "/users/news/statuses/{j}",
    "/users/news/outbox?page=true&max_id={j}",
    "/.well-known/webfinger?resource=acct:{j}@alpha.test",
    "/.well-known/webfinger?resource={j}",
    "/api/v1/accounts/lookup?acct={j}",
    "/api/v1/accounts/search?q={j}",
    "/api/v1/timelines/public?max_id={j}&local={j}",
    "/api/v1/statuses?id[]={j}",
    "/oauth/authorize?client_id={j}&response_type=code&redirect_uri={j}&scope={j}",
]


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await inst.add_actor("news")
    return inst


async def test_junk_in_urls_never_gives_5xx(alpha: Instance, client: aiohttp.ClientSession) -> None:
    answers = []
    for template in TEMPLATES:
        for junk in JUNK:
            url = alpha.base_url + template.format(j=junk)
            async with client.get(URL(url, encoded=True)) as resp:
                await resp.read()
                answers.append((resp.status, template.format(j=junk)))
    failed = [path for status, path in answers if status >= 500]
    assert failed == [], "\n".join(failed)
    assert any(status == 404 for status, _ in answers)
