"""The private-address rule shared by every node that opens a connection (netguard.py)."""

import socket

import pytest

from apps.nodes import netguard


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::",
        "::1",
        "fe80::1%eth0",
        "fd00::1",
        "ff02::1",
        # IPv4-compatible (::/96): 127.0.0.1 and 10.0.0.1 to some stacks.
        "::7f00:1",
        "::a00:1",
        # NAT64 (64:ff9b::/96) carrying loopback or the cloud metadata address; local-use NAT64 (64:ff9b:1::/48).
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::7f00:1",
        "64:ff9b:1::808:808",
        # Site-local (fec0::/10).
        "fec0::1",
        "feff::1",
        # IPv4-mapped.
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        # 6to4 (2002::/16) embedding a private IPv4 address.
        "2002:7f00:1::",
        "2002:a00:1::1",
        "2002:a9fe:a9fe::",
        # Teredo (2001::/32), whatever it embeds.
        "2001::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ],
)
def test_non_public_address_forms_are_refused(address):
    """Each private, loopback, link-local or reserved form, IPv6 spellings of IPv4 hosts included, is not public."""
    assert netguard.is_public_address(address) is False


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address):
    assert netguard.is_public_address(address) is True


def test_pinned_address_refuses_any_private_resolution(monkeypatch):
    """One private address among the resolved ones is enough to refuse the host."""
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["8.8.8.8", "::7f00:1"])

    with pytest.raises(netguard.BlockedAddressError) as exc_info:
        netguard.pinned_address("mixed.example", 25, allow_private=False)

    assert exc_info.value.address == "::7f00:1"
    assert str(exc_info.value) == netguard.BLOCKED_ADDRESS.format(host="mixed.example", address="::7f00:1")


def test_pinned_address_allows_private_when_the_administrator_does(monkeypatch):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["fe80::1%eth0", "10.0.0.1"])

    assert netguard.pinned_address("intranet.example", 25, allow_private=True) == "fe80::1"


def test_unresolvable_host():
    with pytest.raises(netguard.UnresolvableHostError):
        netguard.pinned_address("does-not-exist.invalid", 25, allow_private=False)


def test_connect_goes_to_the_checked_address(monkeypatch):
    """connect() opens the socket to the address it checked, never resolving the name a second time."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    answers = iter([["127.0.0.1"]])  # a second resolution would raise StopIteration
    monkeypatch.setattr(netguard, "resolve", lambda host, port: next(answers))
    try:
        with netguard.connect("rebind.example", port, allow_private=True, timeout=2) as sock:
            assert sock.getpeername()[:2] == ("127.0.0.1", port)
        with pytest.raises(netguard.BlockedAddressError):
            monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.1"])
            netguard.connect("rebind.example", port, allow_private=False, timeout=2)
    finally:
        listener.close()


def test_allows_private_reads_the_node_setting():
    assert netguard.allows_private({netguard.ALLOW_PRIVATE_SETTING: True}) is True
    assert netguard.allows_private({}) is False
