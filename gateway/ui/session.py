"""Sign-in sessions and CSRF tokens, verified without server-side state.

The cookie holds the key's name, the time of sign-in and a random nonce, with an HMAC keyed by
the digest of that key: any worker process can check it, nobody without the key can forge one,
and removing the key from the config ends every session it opened. The browser never holds the
key itself. A form's CSRF token is the HMAC of the nonce under the same key, so it is bound to
one session and worthless in another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gateway.proxy.auth import Authenticator, Principal

COOKIE = "gateway_ui"


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    issued_at: int
    nonce: str
    #: The signing key's digest; only ever used as an HMAC key.
    secret: bytes

    @property
    def csrf(self) -> str:
        return _mac(self.secret, f"csrf\0{self.nonce}")


def issue(principal: Principal, secret: bytes, now: float) -> tuple[Session, str]:
    """A new session for ``principal`` and its cookie value."""
    session = Session(principal, int(now), secrets.token_urlsafe(18), secret)
    return session, _cookie(session)


def verify(
    authenticator: Authenticator, value: str | None, now: float, ttl_s: float
) -> Session | None:
    """The session ``value`` (a cookie) stands for, or None when it is missing, forged, expired,
    or signed by a key the config no longer holds."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    name_part, issued, nonce, _ = parts
    try:
        key_name = base64.urlsafe_b64decode(name_part + "=" * (-len(name_part) % 4)).decode()
    except ValueError:
        return None
    issued_at = int(issued)
    if not 0 <= now - issued_at <= ttl_s:
        return None
    for principal, secret in authenticator.by_name(key_name):
        session = Session(principal, issued_at, nonce, secret)
        if hmac.compare_digest(_cookie(session), value):
            return session
    return None


def csrf_ok(session: Session, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(session.csrf, token)


def _cookie(session: Session) -> str:
    name = base64.urlsafe_b64encode(session.principal.key_name.encode()).decode().rstrip("=")
    signed = f"{name}.{session.issued_at}.{session.nonce}"
    return f"{signed}.{_mac(session.secret, signed)}"


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()
