"""Which ``Host`` headers this server answers (``SHOPTRACK_TRUSTED_HOSTS``).

Without a check, ``Host: evil.example`` flows into what the server writes back: the slash
redirects' ``Location`` and, without ``public_url``, the collector address baked into the
tracker script, which a shared cache may then serve to every shopper. A request with another
Host is answered 400 in the one error shape, before any route runs (ingestion paths too, which
skip FastAPI's middlewares: hence a check ``ShoptrackApp.__call__`` makes itself, a set lookup
per request rather than Starlette's ``TrustedHostMiddleware`` and its plain-text answer).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope

from shoptrack.config import Settings
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.web.responses import Reply

ANY_HOST = "*"
_SEEN_MAX = 256


class TrustedHosts:
    """Exact names in a frozenset; ``*.domain`` patterns as suffixes, tried only on a miss."""

    def __init__(self, patterns: Iterable[str]) -> None:
        patterns = frozenset(patterns)
        self.any = ANY_HOST in patterns
        self.exact = frozenset(p for p in patterns if not p.startswith("*"))
        # "*.myshop.com" → ".myshop.com": its subdomains, not myshop.com itself.
        self.suffixes = tuple(p[1:] for p in patterns if p.startswith("*."))
        # Raw Host values already allowed ("shop.example:443" …): one set lookup per request
        # after the first. Bounded, and only allowed values enter (clients choose the rest).
        self._seen: set[bytes] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustedHosts:
        return cls(settings.trusted_host_patterns())

    def allows(self, host: str) -> bool:
        """``host`` as a Host header carries it (a port is ignored, case too)."""
        if self.any:
            return True
        name = host_name(host)
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    def refusal(self, scope: Scope) -> Reply | None:
        """The 400 for a request whose Host is not trusted, else ``None``."""
        if self.any:
            return None
        host = b""
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
                break
        if host in self._seen:
            return None
        text = host.decode("latin-1")
        if self.allows(text):
            if len(self._seen) < _SEEN_MAX:
                self._seen.add(host)
            return None
        return Reply.error(untrusted_host(text, "Host"))


def host_name(host: str) -> str:
    """``Shop.example:8080`` → ``shop.example``; ``[::1]:8000`` → ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0]


def untrusted_host(host: str, header: str) -> ShoptrackError:
    shown = host[:100] or "nothing"
    return ShoptrackError(
        Reason.INVALID_VALUE,
        f"{header}: {shown!r} is not a host this server answers for (SHOPTRACK_TRUSTED_HOSTS)",
        header,
    )
