"""The memory inspector at ``/ui``: server-rendered pages over ``gateway.api.service``.

``session``: the signed, stateless sign-in cookie and CSRF tokens; ``html``: escaping
templates; ``pages``: one function per page; ``inspector``: the requests, checks and headers.
"""

from gateway.ui.inspector import HEADERS, Inspector

__all__ = ["HEADERS", "Inspector"]
