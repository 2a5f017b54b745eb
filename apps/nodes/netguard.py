"""The private-address rule of every node that opens a network connection (HTTP, SMTP, any later database or
storage node).

`pinned_address(host, port, allow_private=...)` resolves the host, refuses it when any address it resolves
to is not globally routable (unless the administrator allows private addresses:
`CONCERTMASTER_ALLOW_PRIVATE_HTTP`, handed to nodes as `ctx.settings["allow_private_http"]`), and returns
the address to connect to. Connecting to that very address, not to the name again, defeats DNS rebinding;
the original host name still goes to TLS (SNI and certificate check). `connect()` does both for a plain
TCP socket; a driver that takes a host address beside the host name (psycopg's `hostaddr`) takes the
pinned address instead.

IPv6 forms that reach IPv4 hosts are judged by the IPv4 address they carry (IPv4-mapped, 6to4, NAT64
`64:ff9b::/96`); forms that are never a public destination of their own are refused outright
(IPv4-compatible `::/96`, local-use NAT64 `64:ff9b:1::/48`, site-local `fec0::/10`, Teredo `2001::/32`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any, cast

#: The key of `NodeContext.settings` saying whether private addresses are allowed.
ALLOW_PRIVATE_SETTING = "allow_private_http"

BLOCKED_ADDRESS = (
    "Refusing to connect to {host} ({address}): private, loopback, link-local and reserved addresses are not "
    "allowed (set CONCERTMASTER_ALLOW_PRIVATE_HTTP to allow them)."
)
UNRESOLVABLE_HOST = "Cannot resolve host {host!r}."

NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Never a public destination in themselves, whatever address they embed.
REFUSED_IPV6 = tuple(
    ipaddress.ip_network(network)
    for network in (
        "::/96",  # IPv4-compatible (deprecated): ::7f00:1 is 127.0.0.1 to some stacks
        "64:ff9b:1::/48",  # local-use NAT64
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
        "2001::/32",  # Teredo
    )
)


class BlockedAddressError(Exception):
    """The host resolved to an address nodes may not reach."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(BLOCKED_ADDRESS.format(host=host, address=address))
        self.host = host
        self.address = address


class UnresolvableHostError(Exception):
    """The host name did not resolve."""


def allows_private(settings: Mapping[str, Any]) -> bool:
    """Whether a node's settings (`ctx.settings`) allow private addresses."""
    return bool(settings.get(ALLOW_PRIVATE_SETTING, False))


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (not private, loopback, link-local, reserved, multicast),
    judging IPv6 forms that carry an IPv4 address by that address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in REFUSED_IPV6):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHostError(UNRESOLVABLE_HOST.format(host=host)) from exc
    addresses = list(dict.fromkeys(cast(str, info[4][0]) for info in infos))
    if not addresses:
        raise UnresolvableHostError(UNRESOLVABLE_HOST.format(host=host))
    return addresses


def pinned_address(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for `host`: its first resolved address, once every one passed the rule.

    Raises BlockedAddressError (any resolved address is not public and private ones are not allowed) or
    UnresolvableHostError.
    """
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise BlockedAddressError(host, address)
    return addresses[0].split("%", 1)[0]


def connect(
    host: str, port: int, *, allow_private: bool, timeout: float | None, source_address: tuple | None = None
) -> socket.socket:
    """A TCP connection to `host`'s checked address (the caller wraps it in TLS with `server_hostname=host`)."""
    address = pinned_address(host, port, allow_private=allow_private)
    return socket.create_connection((address, port), timeout, source_address)
