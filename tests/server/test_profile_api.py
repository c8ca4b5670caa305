"""The profile through the client APIs: ours (`/api/verbund/v1/profile`) and Mastodon's
`update_credentials`, over raw HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actors.local import get_actor
from actors.models import ActorInterest
from tests.server.test_api import Org, org  # noqa: F401  # the fixture and its type

PROFILE = "/api/verbund/v1/profile"


async def test_profile_round_trip_through_our_api(org: Org) -> None:  # noqa: F811
    reply = await org.api.call("GET", PROFILE, org.editor)
    assert reply.status == 200
    assert reply.json == {
        "region": None,
        "interests": [],
        "discoverable": True,
        "indexable": True,
    }
    body = {
        "region": {"code": "de-by", "locality": "Fürth", "postal_prefix": "907"},
        "interests": ["Bürgerrat", "#bürgerrat", "Klima"],
        "discoverable": False,
    }
    reply = await org.api.call("PATCH", PROFILE, org.editor, json=body)
    assert reply.status == 200, reply.json
    assert reply.json == {
        "region": {
            "code": "DE-BY",
            "name_en": "Bavaria",
            "name_de": "Bayern",
            "locality": "Fürth",
            "postal_prefix": "907",
        },
        "interests": ["Bürgerrat", "Klima"],
        "discoverable": False,
        "indexable": True,
    }
    assert (await org.api.call("GET", PROFILE, org.moderator)).json == reply.json
    async with org.alpha.sessionmaker() as session:
        kv = await get_actor(session, "kv")
        keys = set(
            await session.scalars(
                select(ActorInterest.tag_key).where(ActorInterest.actor_id == kv.id)
            )
        )
    assert keys == {"burgerrat", "klima"}

    # null clears the region; keys left out stay.
    reply = await org.api.call("PATCH", PROFILE, org.owner, json={"region": None})
    assert reply.json["region"] is None and reply.json["interests"] == ["Bürgerrat", "Klima"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"region": "DE-XX"}, "'DE-XX'"),
        ({"region": {"code": "DE", "postal_prefix": "1/2"}}, "'1/2'"),
        ({"region": 5}, "region must be"),
        ({"interests": "Klima"}, "interests must be a list"),
        ({"interests": ["2025"]}, "'2025'"),
        ({"interests": [f"t{i}" for i in range(21)]}, "at most 20"),
        ({"discoverable": "yes"}, "discoverable must be true or false"),
        ([], "JSON object"),
    ],
)
async def test_bad_profile_input_is_422_with_the_reason(
    org: Org,  # noqa: F811
    body: object,
    named: str,
) -> None:
    reply = await org.api.call("PATCH", PROFILE, org.owner, json=body)
    assert reply.status == 422
    assert isinstance(reply.json, dict)
    error = reply.json["error"]
    assert error.startswith("Validation failed: ") and named in error
    assert (await org.api.call("GET", PROFILE, org.owner)).json["region"] is None


async def test_profile_needs_a_token_scope_and_a_role_that_speaks(org: Org) -> None:  # noqa: F811
    assert (await org.api.call("GET", PROFILE)).status == 401
    assert (await org.api.call("PATCH", PROFILE, org.moderator, json={})).status == 403


async def test_update_credentials_and_account_fields(org: Org) -> None:  # noqa: F811
    await org.api.call("PATCH", PROFILE, org.owner, json={"region": "AT-9", "interests": ["Wald"]})
    reply = await org.api.call(
        "PATCH",
        "/api/v1/accounts/update_credentials",
        org.editor,
        data={
            "display_name": "KV Wien",
            "note": "Wir sind da.",
            "locked": "false",
            "indexable": "false",
            "fields_attributes[0][name]": "ignored",
        },
    )
    assert reply.status == 200, reply.json
    me = reply.json
    assert (me["display_name"], me["locked"], me["indexable"]) == ("KV Wien", False, False)
    assert me["discoverable"] is True and me["noindex"] is True
    assert me["source"]["note"] == "Wir sind da."
    assert me["fields"] == [
        {"name": "Region", "value": "Wien (AT-9)", "verified_at": None},
        {
            "name": "Interessen / Interests",
            "value": '<a href="http://alpha.test/tags/wald" class="mention hashtag" rel="tag">'
            "#<span>Wald</span></a>",
            "verified_at": None,
        },
    ]
    assert me["source"]["fields"][1]["value"] == "#Wald"
    assert (me["source"]["discoverable"], me["source"]["indexable"]) == (True, False)

    too_long = {"display_name": "x" * 101}
    reply = await org.api.call(
        "PATCH", "/api/v1/accounts/update_credentials", org.editor, data=too_long
    )
    assert reply.status == 422 and "display name" in reply.json["error"]
    reply = await org.api.call(
        "PATCH", "/api/v1/accounts/update_credentials", org.moderator, data={"locked": "true"}
    )
    assert reply.status == 403
