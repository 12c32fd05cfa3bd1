"""Who is calling, for which tenant, and whether their key's role allows the action.

Every route of the memory, profile, feedback, users and audit APIs (and the UI's and MCP's)
starts with ``authorize``; the service layer checks the ``Caller`` it gets again with ``permit``,
so a door that forgot cannot write.

========== ====================================== ============================================
role        tenant                                  may
========== ====================================== ============================================
admin       ``X-Tenant-Id`` (or ``?tenant=``)       read, write, admin (all tenants), audit
read-write  the key's own                           read, write
read-only   the key's own                           read, audit (own tenant)
========== ====================================== ============================================

A tenant key that names another tenant (``X-Tenant-Id`` or ``?tenant=``) gets a 403: it can never
reach another tenant's data, whatever it sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from gateway.audit import Via
from gateway.config import Role
from gateway.errors import InvalidRequest, PermissionDenied
from gateway.proxy.auth import Authenticator
from gateway.proxy.identity import check_user_id
from gateway.store.records import Scope

#: ``read``: list, get, search, export, preview, profile GET, users. ``write``: add, patch,
#: delete, erase, import, profile PUT/PATCH/DELETE, feedback. ``admin``: every tenant at once
#: (``GET /v1/tenants``). ``audit``: ``GET /v1/audit``.
Action = Literal["read", "write", "admin", "audit"]
TENANT_HEADER = "X-Tenant-Id"
# Kept equal to ``gateway.config.TenantId``'s pattern.
_TENANT = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_MAX_TENANT_CHARS = 64
_ALLOWED: dict[Role, frozenset[Action]] = {
    "admin": frozenset({"read", "write", "admin", "audit"}),
    "read-write": frozenset({"read", "write"}),
    "read-only": frozenset({"read", "audit"}),
}
_DOING: dict[Action, str] = {
    "read": "read memories",
    "write": "change memories or profiles",
    "admin": "see every tenant",
    "audit": "read the audit trail",
}


@dataclass(frozen=True, slots=True)
class Caller:
    """A request's caller once authorized: safe to log (no key, no user id)."""

    key_name: str
    role: Role
    #: The tenant acted on; None for an admin acting on every tenant (``/v1/tenants``, or
    #: ``/v1/audit`` without a tenant).
    tenant: str | None
    via: Via = "api"

    def scope(self, user_id: str) -> Scope:
        """The user of this caller's tenant; ``user_id`` is checked."""
        return Scope(self.acting_tenant(), check_user_id(user_id, "user_id"))

    def acting_tenant(self) -> str:
        """The tenant acted on; a 400 naming ``X-Tenant-Id`` for an admin that named none."""
        if self.tenant is None:
            raise InvalidRequest(
                f"Missing '{TENANT_HEADER}': an admin key names the tenant it acts on.",
                param=TENANT_HEADER,
            )
        return self.tenant


def authorize(
    authenticator: Authenticator,
    request: Request,
    action: Action,
    *,
    tenant: str | None = None,
    tenant_required: bool = True,
    via: Via = "api",
) -> Caller:
    """The caller of ``request``, allowed to do ``action``.

    ``tenant``: a tenant the request names in its query (``?tenant=``), beside the
    ``X-Tenant-Id`` header. ``tenant_required``: whether an admin must name one (False for
    routes that may span every tenant)."""
    principal = authenticator.authenticate(request.headers)
    named = _named_tenant(request.headers.get(TENANT_HEADER), tenant)
    if principal.role == "admin":
        if named is None and tenant_required:
            raise InvalidRequest(
                f"Missing '{TENANT_HEADER}' header: an admin key names the tenant it acts on.",
                param=TENANT_HEADER,
            )
        caller = Caller(principal.key_name, "admin", named, via)
    else:
        if named is not None and named != principal.tenant:
            raise PermissionDenied(
                f"A {principal.role} key acts on its own tenant only; it may not name another."
            )
        caller = Caller(principal.key_name, principal.role, principal.tenant, via)
    permit(caller, action)
    return caller


def permit(caller: Caller, action: Action) -> None:
    """Raise ``PermissionDenied`` unless ``caller``'s role allows ``action``."""
    if action not in _ALLOWED[caller.role]:
        raise PermissionDenied(f"A {caller.role} key may not {_DOING[action]}.")


def _named_tenant(header: str | None, query: str | None) -> str | None:
    """The one tenant the request names, checked; header and query must agree."""
    for value, param in ((header, TENANT_HEADER), (query, "tenant")):
        if value is not None and (len(value) > _MAX_TENANT_CHARS or not _TENANT.match(value)):
            raise InvalidRequest(
                f"Invalid '{param}': expected a tenant id (letters, digits, '.', '_', '-').",
                param=param,
            )
    if header is not None and query is not None and header != query:
        raise InvalidRequest(
            f"'{TENANT_HEADER}' and 'tenant' name different tenants.", param="tenant"
        )
    return header if header is not None else query
