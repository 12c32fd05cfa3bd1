"""The audit trail: every write to a user's memories or profile, and every config reload.

``trail``: the append-only JSON-lines file, its records and how they are read back a page at a
time. A record names the key, the tenant, a keyed digest of the user id, the action and the
memory id; never the user id itself, and never content.
"""

from gateway.audit.trail import (
    Action,
    AuditPage,
    AuditQuery,
    AuditRecord,
    AuditTrail,
    Via,
)

__all__ = ["Action", "AuditPage", "AuditQuery", "AuditRecord", "AuditTrail", "Via"]
