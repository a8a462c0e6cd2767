"""The socket ``python -m shopper_segments.app.serve --workers N`` shares with its workers."""

from __future__ import annotations

import socket
from typing import Any, ClassVar

import pytest
import uvicorn

from shopper_segments.app import serve


class Recorder:
    """Stands in for uvicorn's Multiprocess: keeps the sockets it was given instead of forking."""

    sockets: ClassVar[list[socket.socket]] = []

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], **_: Any) -> None:
        Recorder.sockets = sockets

    def run(self) -> None:
        pass


def nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_workers_share_a_socket_with_tcp_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "Multiprocess", Recorder)
    config = uvicorn.Config(app="unused:app", host="127.0.0.1", port=0, workers=2, log_config=None)
    serve.run_workers(config)
    (listening,) = Recorder.sockets
    try:
        assert nodelay(listening) != 0
        # what matters is each accepted connection: Linux copies the option from the listener
        listening.listen()
        with socket.create_connection(listening.getsockname(), timeout=5):
            accepted, _ = listening.accept()
            with accepted:
                assert nodelay(accepted) != 0
    finally:
        listening.close()


def test_plain_bind_socket_lacks_it() -> None:
    """Why serve sets it: uvicorn's own socket (protocol 0) leaves accepted connections without it."""
    config = uvicorn.Config(app="unused:app", host="127.0.0.1", port=0, workers=2, log_config=None)
    with config.bind_socket() as listening:
        listening.listen()
        with socket.create_connection(listening.getsockname(), timeout=5):
            accepted, _ = listening.accept()
            with accepted:
                assert nodelay(accepted) == 0
