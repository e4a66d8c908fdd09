"""``SHOPTRACK_SMTP_URL`` read into what aiosmtplib needs, with the password kept out of reprs.

* ``smtp://user:pass@host:587``: plain connection upgraded with STARTTLS, then AUTH. With a
  login STARTTLS is required, not only used when offered: aiosmtplib would otherwise log in
  over the plain connection when a server (or someone in between) leaves STARTTLS out, and
  the password would cross the network in clear;
* ``smtps://user:pass@host:465``: TLS from the first byte (implicit TLS);
* ``smtp://host:25``: no login (a relay that trusts this host), STARTTLS still when offered.

The user and password are percent-decoded (``%40`` for ``@``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from shoptrack.errors import Reason, ShoptrackError

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # the dataclass repr would be fine; this one also says why
        login = f"{self.username}:***@" if self.username else ""
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"SmtpServer({scheme}://{login}{self.host}:{self.port})"

    __str__ = __repr__

    @property
    def address(self) -> str:
        """``host:port``: what an attempt's record names (no login, no password)."""
        return f"{self.host}:{self.port}"

    @property
    def start_tls(self) -> bool | None:
        """aiosmtplib's ``start_tls``: required with a login, else used when offered."""
        if self.implicit_tls:
            return False
        return True if self.username else None


def parse_smtp_url(url: str) -> SmtpServer:
    """The server ``url`` names; ShoptrackError naming SHOPTRACK_SMTP_URL (never its value)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise _bad("is not a URL (smtp://user:password@host:587)") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _bad("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise _bad("names no host")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpServer(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        implicit_tls=scheme == "smtps",
        username=username,
        password=password,
    )


def _bad(message: str) -> ShoptrackError:
    return ShoptrackError(
        Reason.INVALID_VALUE, f"SHOPTRACK_SMTP_URL {message}", "SHOPTRACK_SMTP_URL"
    )
