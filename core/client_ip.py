"""The address a request came from, as the lockout and the throttles count it (SECURITY.md "Behind a proxy").

X-Forwarded-For is written by whoever sends the request, so it is believed only as far back as the hospital's own
reverse proxies (TRUSTED_PROXIES): an attacker who sends the header directly, or through the proxy, cannot
pick the address their failures are counted against.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in proxies)


def address_in(remote_addr: str, networks: Sequence[IPNetwork]) -> bool:
    """Whether ``remote_addr`` (text, as in REMOTE_ADDR) lies in one of ``networks``; a malformed one does not."""
    address = _address(remote_addr)
    return address is not None and _trusted(address, networks)


def client_address(remote_addr: str, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]) -> str:
    """Walk back from the connecting address through X-Forwarded-For while each hop is a trusted proxy.

    Each trusted proxy appends the address it was connected from, so the first untrusted address from the right is
    the client. A malformed entry stops the walk at the last proxy that is known to be ours.
    """
    current = _address(remote_addr)
    if current is None or not _trusted(current, trusted_proxies):
        return remote_addr
    hops = [hop for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        previous = _address(hop)
        if previous is None:
            return str(current)
        current = previous
        if not _trusted(current, trusted_proxies):
            return str(current)
    return str(current)


def request_client_ip(request: Any) -> str:
    """The client address of a Django (or DRF) request under the configured trusted proxies."""
    from django.conf import settings

    return client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.TRUSTED_PROXY_NETWORKS,
    )
