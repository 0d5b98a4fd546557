"""The api's listening sockets, bound before anything else starts.

``serve`` binds its port first: a port already in use stops it at once with one clear line,
before the database, Ray or the simulators start (nothing is left behind). The sockets are bound
without SO_REUSEPORT, so no other server can join the port and take part of its traffic; the
extra api processes of the same server (``serve --workers N``) inherit these very sockets
(app/workers.py) and the kernel hands each connection to one of them.
"""

from __future__ import annotations

import errno
import socket

from switch.errors import ConfigError


class PortInUse(ConfigError):
    pass


def bind_listeners(host: str, port: int, backlog: int = 2048) -> list[socket.socket]:
    """Listening sockets for every address ``host`` names (as asyncio's create_server would);
    port 0 takes a free port, the same one for every address."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    bound: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            # SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT; on Linux it
            # never lets a second socket listen on a port in use (SO_REUSEPORT would).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(bound) > 1:
                address = (address[0], bound[0].getsockname()[1], *address[2:])
            _bind(sock, address, host, port)
            sock.listen(backlog)
            sock.set_inheritable(False)  # passed on to our own workers only (pass_fds)
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


def _bind(sock: socket.socket, address: tuple[object, ...], host: str, port: int) -> None:
    try:
        sock.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use (another server is listening "
                "there); stop it or choose another port (--port or SWITCH_PORT)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def port_of(listeners: list[socket.socket]) -> int:
    return int(listeners[0].getsockname()[1])


def adopt(fds: list[int]) -> list[socket.socket]:
    """The listening sockets a worker inherited from its server (by file descriptor)."""
    return [socket.socket(fileno=fd) for fd in fds]


def free_to_bind(host: str, port: int) -> None:
    """Raise PortInUse now if ``port`` is taken (checked, then let go: for the sandbox
    simulators, which bind their own sockets a moment later)."""
    for sock in bind_listeners(host, port):
        sock.close()
