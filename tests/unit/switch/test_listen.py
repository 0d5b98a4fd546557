"""The api's listening sockets (issue 10, finding 6): a port in use is refused with a clear
error, and nothing else can join the port the switch listens on."""

from __future__ import annotations

import socket

import pytest

from infra.listen import PortInUse, bind_listeners, free_to_bind


def _held(reuse_port: bool) -> socket.socket:
    sock = socket.socket()
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_in_use_is_refused_with_the_port_named(reuse_port: bool) -> None:
    with _held(reuse_port) as other:
        port = other.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is already in use"):
            bind_listeners("127.0.0.1", port)
        with pytest.raises(PortInUse):
            free_to_bind("127.0.0.1", port)


def test_the_switch_listens_without_so_reuseport_so_no_other_server_can_join() -> None:
    [mine] = bind_listeners("127.0.0.1", 0)
    with mine:
        assert mine.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
        assert not mine.get_inheritable()  # handed to our own workers only, by pass_fds
        intruder = socket.socket()
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with intruder, pytest.raises(OSError, match="in use"):
            intruder.bind(mine.getsockname())
