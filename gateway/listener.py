"""The gateway's listening socket, bound before anything slow starts.

uvicorn binds only after the application's startup (embedding models, the ``chroma run`` child)
has finished, so a gateway on a taken port would spend seconds starting things before failing.
Binding here first makes that failure immediate, and the bound socket is then handed to uvicorn.
"""

from __future__ import annotations

import socket

from gateway.errors import StartupError


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening); ``StartupError`` if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # As uvicorn does: a restart may reuse a port whose old connections are in TIME_WAIT. A port
    # with a live listener still refuses.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    # Worker processes inherit it.
    sock.set_inheritable(True)
    return sock
