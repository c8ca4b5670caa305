"""FederationPolicy: a block covers the domain, its subdomains and every port."""

from __future__ import annotations

import pytest

from federation.policy import BlockedDomainError, FederationPolicy


def test_block_covers_subdomains_and_ports() -> None:
    policy = FederationPolicy.blocking(["Spam.Example "])
    assert not policy.allows_host("spam.example")
    assert not policy.allows_host("a.spam.example:8443")
    assert policy.allows_host("notspam.example")
    assert not policy.allows_url("https://a.spam.example:8443/users/x")
    assert policy.allows_url("https://kv.example/users/x")
    assert not policy.allows_url("not a url")
    with pytest.raises(BlockedDomainError, match=r"spam\.example"):
        policy.check_url("https://spam.example/inbox")


def test_open_policy_allows_every_host() -> None:
    assert FederationPolicy().allows_host("anything.example")
