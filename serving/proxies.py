"""The real client address behind the reverse proxies we trust (POLICYBOT_TRUSTED_PROXIES).

`X-Forwarded-For` is believed only when the connection comes from a configured proxy, and
only as far as the chain of configured proxies goes: walking the header from the right, the
first address that is not one of ours is the client. Anything a client wrote further left is
ignored, and without the setting the header is ignored altogether, so no outsider can choose
the address that login throttling counts. (Werkzeug's ProxyFix trusts the last N entries from
whoever connects; waitress's `trusted_proxy` exists only under waitress. This works under any
WSGI server.) The proxy's own address is kept in the environ as `policybot.peer`.
"""
from __future__ import annotations

import ipaddress


def parse_networks(setting) -> tuple:
    """'127.0.0.1, 10.0.0.0/8' (or a list) → networks; a bad entry refuses to start."""
    items = setting.split(",") if isinstance(setting, str) else list(setting or ())
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())
    except ValueError as error:
        raise ValueError(f"POLICYBOT_TRUSTED_PROXIES: {error}") from None


class TrustedProxies:
    def __init__(self, app, networks: tuple):
        self.app, self.networks = app, networks

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        environ["policybot.peer"] = peer
        if self.networks and self._trusted(peer):
            environ["REMOTE_ADDR"] = self.client(peer, environ.get("HTTP_X_FORWARDED_FOR", ""))
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)

    def client(self, peer: str, forwarded_for: str) -> str:
        address = peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not self._trusted(address) or _ip(hop) is None:
                break
            address = str(_ip(hop))
        return address

    def _trusted(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)


def _ip(text: str):
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    return getattr(ip, "ipv4_mapped", None) or ip
