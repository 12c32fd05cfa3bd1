"""The sign-in cookie and CSRF token without a server: what a forged, stale or orphaned cookie
comes to, checked against the same ``Authenticator`` the gateway builds from its config."""

from __future__ import annotations

from pydantic import SecretStr

from gateway.config import AdminKey, ApiKey
from gateway.proxy.auth import Authenticator
from gateway.ui.session import csrf_ok, issue, verify

ACME = ApiKey(key=SecretStr("sk-acme"), tenant="acme", name="acme-app")
ROTATED = ApiKey(key=SecretStr("sk-acme-new"), tenant="acme", name="acme-app")
ADMIN = AdminKey(key=SecretStr("sk-op"), name="operator")
TTL = 3600.0


def signed_in(authenticator: Authenticator, key: str, now: float = 1000.0) -> str:
    principal, secret = authenticator.identify(key)
    return issue(principal, secret, now)[1]


def test_a_cookie_names_its_key_and_role_but_holds_no_secret() -> None:
    authenticator = Authenticator((ACME,), (ADMIN,))
    cookie = signed_in(authenticator, "sk-op")
    assert "sk-op" not in cookie
    session = verify(authenticator, cookie, 1000.0 + TTL, TTL)
    assert session is not None
    assert (session.principal.key_name, session.principal.role) == ("operator", "admin")


def test_a_cookie_expires_after_the_ttl_and_is_not_valid_before_it_was_issued() -> None:
    authenticator = Authenticator((ACME,))
    cookie = signed_in(authenticator, "sk-acme")
    assert verify(authenticator, cookie, 1000.0 + TTL + 1, TTL) is None
    assert verify(authenticator, cookie, 999.0, TTL) is None


def test_removing_or_rotating_the_key_ends_its_sessions() -> None:
    cookie = signed_in(Authenticator((ACME,)), "sk-acme")
    assert verify(Authenticator((ACME,)), cookie, 1001.0, TTL) is not None
    assert verify(Authenticator((), (ADMIN,)), cookie, 1001.0, TTL) is None
    # Same name, another secret: the old cookie's signature no longer checks.
    assert verify(Authenticator((ROTATED,)), cookie, 1001.0, TTL) is None


def test_a_cookie_edited_to_name_another_key_is_refused() -> None:
    authenticator = Authenticator((ACME,), (ADMIN,))
    name, issued, nonce, mac = signed_in(authenticator, "sk-acme").split(".")
    admin_name = signed_in(authenticator, "sk-op").split(".")[0]
    for forged in (f"{admin_name}.{issued}.{nonce}.{mac}", f"{name}.{issued}.x{nonce}.{mac}"):
        assert verify(authenticator, forged, 1001.0, TTL) is None
    for junk in ("", "a.b.c", "a.1.c.d", "%%%.1.n.m", "a.-5.n.m"):
        assert verify(authenticator, junk, 1001.0, TTL) is None


def test_a_csrf_token_belongs_to_one_session() -> None:
    authenticator = Authenticator((ACME,))
    principal, secret = authenticator.identify("sk-acme")
    one, _ = issue(principal, secret, 1000.0)
    two, _ = issue(principal, secret, 1000.0)
    assert csrf_ok(one, one.csrf)
    assert not csrf_ok(one, two.csrf)
    assert not csrf_ok(one, None)
    assert not csrf_ok(one, "")
