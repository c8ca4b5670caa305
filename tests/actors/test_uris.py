"""LocalUris builds every local URL and reads it back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.uris import LocalUris, StatusRef

URIS = LocalUris("https://kv.example:8443")


def test_actor_urls_share_one_layout() -> None:
    paths = URIS.actor_uris("alice")
    assert paths.id == "https://kv.example:8443/users/alice"
    assert paths.key_id == paths.id + "#main-key"
    assert paths.followers == URIS.followers(paths.id)
    assert paths.inbox.endswith("/users/alice/inbox")
    assert paths.shared_inbox == "https://kv.example:8443/inbox"
    assert paths.profile_page == "https://kv.example:8443/@alice"


def test_trailing_slash_of_base_url_is_dropped() -> None:
    assert LocalUris("https://kv.example/").actor("a") == "https://kv.example/users/a"


def test_reads_local_uris_back() -> None:
    actor = URIS.actor("alice")
    assert URIS.username_of(actor) == "alice"
    assert URIS.username_of(actor + "/followers") is None
    assert URIS.username_of("https://other.example/users/alice") is None
    assert URIS.key_owner(actor + "#main-key") == actor
    assert URIS.key_owner(URIS.instance_key_id) == URIS.instance_actor
    assert URIS.key_owner(actor) is None
    assert URIS.status_ref(URIS.status(actor, 42)) == StatusRef("alice", 42)
    assert URIS.status_ref(URIS.status_page("alice", 42)) == StatusRef("alice", 42)
    assert URIS.status_ref(URIS.activity_of(URIS.status(actor, 42))) is None
    assert URIS.is_local(actor) and not URIS.is_local("https://kv.example:84430/x")


@given(st.text(alphabet=st.characters(blacklist_characters="/#?%"), min_size=1, max_size=30))
def test_username_round_trips(name: str) -> None:
    assert URIS.username_of(URIS.actor(name)) == name


def test_instance_actor_urls_hang_off_the_instance_actor() -> None:
    paths = URIS.instance_actor_uris()
    assert paths.id == "https://kv.example:8443/actor"
    assert paths.key_id == URIS.instance_key_id
    assert paths.inbox == "https://kv.example:8443/actor/inbox"
    assert paths.outbox == "https://kv.example:8443/actor/outbox"
    assert paths.profile_page == URIS.front_page
    assert paths.shared_inbox == URIS.shared_inbox
