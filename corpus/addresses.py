"""Pure checks of the IP addresses a fetch may connect to: public unicast only, unless allowed."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that carry an IPv4 address inside them: a NAT64 gateway, a 6to4 relay or a Teredo
# server turns them back into that IPv4 address, so they would reach a private one by the back door.
_EMBEDDING = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), "IPv4-mapped"),
    (ipaddress.IPv6Network("::ffff:0:0:0/96"), "IPv4-translated"),
    (ipaddress.IPv6Network("::/96"), "IPv4-compatible"),
    (ipaddress.IPv6Network("64:ff9b::/96"), "NAT64"),
    (ipaddress.IPv6Network("64:ff9b:1::/48"), "local NAT64"),
    (ipaddress.IPv6Network("2002::/16"), "6to4"),
    (ipaddress.IPv6Network("2001::/32"), "Teredo"),
)


@dataclass(frozen=True)
class AllowList:
    """Hosts (by name) and networks that may be private, loopback or otherwise refused."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> AllowList:
        """Split entries into networks (an IP or CIDR) and host names (anything else)."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Tell whether a host name is listed as a whole."""
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, ip: Address) -> bool:
        """Tell whether an address (or the IPv4 address embedded in it) lies in a listed network."""
        candidates = [ip, *([embedded] if (embedded := embedded_ipv4(ip)) else [])]
        return any(a.version == n.version and a in n for a in candidates for n in self.networks)


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries in a NAT64/6to4/Teredo/mapped form, else None."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _EMBEDDING[3][0] or ip in _EMBEDDING[1][0] or ip in _EMBEDDING[2][0]:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: Address) -> str | None:
    """Return why a fetch must not connect to an address (private, loopback, ...), or None if public."""
    if ip.is_loopback or ip.is_unspecified:
        return "a loopback address" if ip.is_loopback else "the unspecified address"
    if isinstance(ip, ipaddress.IPv6Address):
        for network, name in _EMBEDDING:
            if ip in network:
                return f"an IPv6 address with an IPv4 address inside ({name})"
    checks = (
        (ip.is_link_local, "a link-local address (cloud metadata lives there)"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def check_address(ip: Address, host: str, allow: AllowList) -> str | None:
    """Return why connecting to ip for host is refused under the allow list, or None when it may go."""
    if allow.allows_host(host) or allow.allows_address(ip):
        return None
    return address_refusal(ip)
