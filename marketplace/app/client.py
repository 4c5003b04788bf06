"""Who is on the other end: the peer, or, behind trusted proxies, the address they forwarded."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str | None:
    """The right-most X-Forwarded-For hop that is not one of our proxies, when the peer is one.

    Only our own proxies are believed: a client can write anything into X-Forwarded-For, but
    not into the hops our load balancers append after it.
    """
    if peer is None or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain proves nothing; count the proxy itself
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer
