"""Where a webhook may be sent: public addresses only, checked when registered and again
right before each delivery (DNS may have changed in between)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services: refused even where private addresses are allowed.
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class AddressRefused(Exception):
    """The URL is malformed, does not resolve, or resolves to an address not allowed."""


@dataclass(frozen=True)
class Target:
    """A URL and the checked address to connect to for it."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not receive webhooks, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or address.is_unspecified or not address.is_global:
        return "a reserved address"
    return None


def resolve_target(url: str) -> Target:
    """Resolve ``url``'s host and check every address it resolves to (blocking: DNS)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise AddressRefused("The URL must be http:// or https:// with a host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise AddressRefused("The URL's port is not a number from 1 to 65535.") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise AddressRefused(f"The host {parts.hostname!r} does not resolve.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise AddressRefused(f"The host {parts.hostname!r} does not resolve.")
    for address in addresses:
        why = refusal(address)
        if why is not None:
            raise AddressRefused(
                f"The host {parts.hostname!r} resolves to {address}, {why}: webhooks are "
                "sent to public addresses only (WEBHOOK_ALLOW_PRIVATE allows private ones)."
            )
    return Target(
        url=url, scheme=parts.scheme, host=parts.hostname, port=port, address=addresses[0]
    )
