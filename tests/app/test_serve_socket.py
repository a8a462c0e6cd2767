"""The sockets ``python -m shopper_segments.app.serve --workers N`` gives its workers."""

from __future__ import annotations

import socket
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
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


def as_a_worker_gets_it(sock: socket.socket) -> socket.socket:
    """The socket a spawned worker receives (multiprocessing pickles what uvicorn passes it)."""
    return ForkingPickler.loads(ForkingPickler.dumps(sock))  # type: ignore[no-any-return]


def test_each_worker_listens_on_its_own_socket_with_tcp_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "Multiprocess", Recorder)
    config = uvicorn.Config(app="unused:app", host="127.0.0.1", port=0, workers=2, log_config=None)
    serve.run_workers(config)
    (placeholder,) = Recorder.sockets
    workers = [as_a_worker_gets_it(placeholder) for _ in range(2)]
    try:
        address = placeholder.getsockname()
        assert address[1] != 0
        # the parent holds the port (a port in use fails before any worker starts) but never listens
        assert placeholder.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0
        for sock in workers:
            assert sock.getsockname() == address and sock is not placeholder
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert nodelay(sock) != 0
        # what matters is each accepted connection: Linux copies the option from the listener
        accepted_by: set[int] = set()
        clients = [socket.create_connection(address, timeout=5) for _ in range(32)]
        for i, sock in enumerate(workers):
            sock.setblocking(False)
            while True:
                try:
                    accepted, _ = sock.accept()
                except BlockingIOError:
                    break
                with accepted:
                    assert nodelay(accepted) != 0
                    accepted_by.add(i)
        assert accepted_by == {0, 1}  # the kernel spread the 32 connections over both listeners
        for client in clients:
            client.close()
    finally:
        for sock in [placeholder, *workers]:
            sock.close()


def test_a_port_in_use_fails_in_the_parent() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = uvicorn.Config(
            app="unused:app", host="127.0.0.1", port=taken.getsockname()[1], workers=2, log_config=None
        )
        with pytest.raises(OSError):
            serve.worker_sockets(config)


def test_a_unix_socket_is_shared_with_tcp_nodelay_where_it_applies(tmp_path: Path) -> None:
    config = uvicorn.Config(app="unused:app", uds=str(tmp_path / "s.sock"), workers=2, log_config=None)
    (shared,) = serve.worker_sockets(config)
    with shared:
        assert shared.family == socket.AF_UNIX and not isinstance(shared, serve.PerWorkerListener)


def test_plain_bind_socket_lacks_it() -> None:
    """Why serve sets it: uvicorn's own socket (protocol 0) leaves accepted connections without it."""
    config = uvicorn.Config(app="unused:app", host="127.0.0.1", port=0, workers=2, log_config=None)
    with config.bind_socket() as listening:
        listening.listen()
        with socket.create_connection(listening.getsockname(), timeout=5):
            accepted, _ = listening.accept()
            with accepted:
                assert nodelay(accepted) == 0
