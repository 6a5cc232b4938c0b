"""The bearer-key check and the bind-address check of the server.

Why constant time: comparing a secret with ``==`` stops at the first wrong character, so response
times leak how much of a guess was right. Both sides are hashed first, so neither the content nor
the length of the key shows in the timing of :func:`hmac.compare_digest`.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress

__all__ = ["KeyCheck", "is_loopback", "bind_warning", "API_KEY_ENV"]

API_KEY_ENV = "ARIADNE_API_KEY"
"""Environment variable ``ariadne serve`` reads the API key from when ``--api-key`` is not given."""


class KeyCheck:
    """Checks ``Authorization: Bearer <key>`` headers against one key, in constant time."""

    def __init__(self, api_key: str) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("the API key must be a non-empty string")
        self._digest = hashlib.sha256(api_key.encode("utf-8")).digest()

    def allows(self, authorization: bytes | None) -> bool:
        """Whether the raw ``Authorization`` header value carries the key (scheme ``Bearer``, any case)."""
        scheme, _, token = (authorization or b"").strip().partition(b" ")
        given = hashlib.sha256(token.strip()).digest()
        ok = hmac.compare_digest(given, self._digest)  # computed whatever the scheme, so timing is the same
        return ok and scheme.lower() == b"bearer"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``; anything else
    (0.0.0.0, ::, a LAN address, another host name) may be reachable from other machines."""
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bind_warning(host: str, api_key: str | None) -> str | None:
    """The warning to print when binding ``host`` without an API key exposes the models; None when fine."""
    if api_key or is_loopback(host):
        return None
    return (f"binding to {host!r} (not a loopback address) without an API key: anyone who can reach this port can use "
            f"the models; set --api-key or ${API_KEY_ENV}, or bind to 127.0.0.1")
