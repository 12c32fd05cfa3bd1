"""Stage 1: which tenant a gateway key names, and what a request without a usable key hears."""

from __future__ import annotations

import pytest

from gateway.config import ApiKey
from gateway.errors import AuthenticationFailed
from gateway.proxy.auth import Authenticator, Principal

KEYS = (
    ApiKey(key="sk-acme-1", tenant="acme", name="ci"),
    ApiKey(key="sk-globex-2", tenant="globex", can_force_cohort=True),
)


@pytest.fixture
def auth() -> Authenticator:
    return Authenticator(KEYS)


def test_each_key_names_its_own_tenant_and_label(auth: Authenticator) -> None:
    assert auth.authenticate({"authorization": "Bearer sk-acme-1"}) == Principal("acme", "ci")
    # An unnamed key is labelled by its tenant and place in the list, never by the key.
    assert auth.authenticate({"authorization": "Bearer sk-globex-2"}) == Principal(
        "globex", "globex#1", can_force_cohort=True
    )


@pytest.mark.parametrize("value", ["bearer sk-acme-1", "BEARER  sk-acme-1 ", " Bearer sk-acme-1"])
def test_the_scheme_is_case_blind_and_spaces_around_the_key_do_not_matter(
    auth: Authenticator, value: str
) -> None:
    assert auth.authenticate({"authorization": value}).tenant == "acme"


def test_a_missing_header_asks_for_the_key_by_its_header(auth: Authenticator) -> None:
    for headers in ({}, {"authorization": ""}):
        with pytest.raises(AuthenticationFailed) as caught:
            auth.authenticate(headers)
        assert caught.value.code == "missing_api_key"
        assert "Authorization: Bearer" in caught.value.message


@pytest.mark.parametrize(
    "value",
    [
        "Bearer sk-acme-2",  # unknown key
        "Bearer SK-ACME-1",  # keys are exact
        "Basic sk-acme-1",  # another scheme
        "sk-acme-1",  # no scheme
        "Bearer",  # no key
    ],
)
def test_anything_but_a_known_bearer_key_is_refused_without_echoing_it(
    auth: Authenticator, value: str
) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        auth.authenticate({"authorization": value})
    assert caught.value.code == "invalid_api_key"
    assert caught.value.status_code == 401
    assert "sk-" not in caught.value.message.lower()
