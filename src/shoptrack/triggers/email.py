"""E-mail delivery: one MIME message (text + HTML) per trigger message, sent with aiosmtplib.

The worker that sends is a plain thread, so each send runs its own short event loop
(``asyncio.run``; on a helper thread when the calling thread already runs a loop): no loop is
shared between threads. How a send ends:

* the server accepted the message (2xx): ``SENT``;
* a 4xx answer anywhere, a connection that fails, drops or times out, a server that offers
  no STARTTLS when a login is configured: ``RETRY``;
* the recipient refused with a 5xx (no such mailbox), or the message refused with a 5xx after
  DATA (its content): ``FAILED``, since sending the same again cannot succeed;
* login refused, or the sender refused even with 5xx: ``RETRY``: those are this server's
  settings, and the message should still go once the operator mends them.

Details never carry the recipient's address (the server's text often quotes it) nor the
password.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any

import aiosmtplib

from shoptrack.config import Settings
from shoptrack.triggers.links import with_tracked_links
from shoptrack.triggers.model import Channel, DeliveryResult, Outcome, OutgoingMessage
from shoptrack.triggers.render import EmailRenderer, UnknownTemplate, one_line
from shoptrack.triggers.smtp import SmtpServer, parse_smtp_url

_ADDRESS = re.compile(r"[^\s<>\"'@]+@[^\s<>\"']+")
_MAX_DETAIL = 300


def _run(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end from synchronous code, in any thread.

    The worker's delivery thread has no event loop: ``asyncio.run`` makes one for this send.
    A thread that already runs a loop (a caller inside async code, or a library such as
    Playwright's sync API that parks one in the main thread) cannot nest another, so the send
    then gets a short-lived thread of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(work)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp-send") as pool:
        pool.submit(asyncio.run, work).result()


def _clean(text: str) -> str:
    return one_line(_ADDRESS.sub("<address>", text), _MAX_DETAIL)


class EmailDelivery:
    channel = Channel.EMAIL

    def __init__(
        self,
        settings: Settings,
        *,
        tls_context: ssl.SSLContext | None = None,
        renderer: EmailRenderer | None = None,
    ) -> None:
        """``tls_context``: whom to trust for TLS (default: the system's CA store)."""
        url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
        self.server: SmtpServer | None = parse_smtp_url(url) if url else None
        self.mail_from = settings.mail_from
        self.timeout_s = settings.smtp_timeout_s
        self.tls_context = tls_context
        self.renderer = renderer or EmailRenderer()

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The MIME message as it will be sent (raises UnknownTemplate, ValueError)."""
        if not self.mail_from:
            raise ValueError("SHOPTRACK_MAIL_FROM is not set")
        if not message.email:
            raise ValueError("the message has no recipient address")
        message = with_tracked_links(message)
        rendered = self.renderer.render(message)
        mail = EmailMessage()
        mail["From"] = formataddr((one_line(message.site_name, 80), self.mail_from))
        mail["To"] = message.email
        mail["Subject"] = rendered.subject
        mail["Date"] = formatdate(usegmt=True)
        domain = self.mail_from.rpartition("@")[2] or "shoptrack.invalid"
        mail["Message-ID"] = f"<{message.message_id}@{domain}>"
        if message.unsubscribe_url:
            # RFC 2369 and RFC 8058: clients show an unsubscribe button that POSTs
            # "List-Unsubscribe=One-Click" to this URL, without opening a page.
            mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(rendered.text)
        mail.add_alternative(rendered.html, subtype="html")
        return mail

    def send(self, message: OutgoingMessage, attempt: int) -> DeliveryResult:
        if self.server is None:
            return DeliveryResult(Outcome.FAILED, "no mail server: SHOPTRACK_SMTP_URL is not set")
        try:
            mail = self.build(message)
        except (ValueError, UnknownTemplate) as exc:
            return DeliveryResult(Outcome.FAILED, _clean(str(exc)))
        try:
            _run(self._send(self.server, mail, message.email or ""))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            permanent = any(code >= 500 for code in codes)
            first = exc.recipients[0] if exc.recipients else None
            text = f"{first.code} {first.message}" if first else "no recipient accepted"
            return DeliveryResult(
                Outcome.FAILED if permanent else Outcome.RETRY,
                _clean(f"recipient refused: {text}"),
            )
        except aiosmtplib.SMTPRecipientRefused as exc:
            outcome = Outcome.FAILED if exc.code >= 500 else Outcome.RETRY
            return DeliveryResult(outcome, _clean(f"recipient refused: {exc.code} {exc.message}"))
        except aiosmtplib.SMTPDataError as exc:
            outcome = Outcome.FAILED if exc.code >= 500 else Outcome.RETRY
            return DeliveryResult(outcome, _clean(f"message refused: {exc.code} {exc.message}"))
        except aiosmtplib.SMTPAuthenticationError as exc:
            return DeliveryResult(
                Outcome.RETRY, _clean(f"login refused (SHOPTRACK_SMTP_URL): {exc.code}")
            )
        except aiosmtplib.SMTPSenderRefused as exc:
            return DeliveryResult(
                Outcome.RETRY,
                _clean(f"sender refused (SHOPTRACK_MAIL_FROM): {exc.code} {exc.message}"),
            )
        except aiosmtplib.SMTPTimeoutError:
            return DeliveryResult(Outcome.RETRY, f"timed out talking to {self.server.address}")
        except aiosmtplib.SMTPResponseException as exc:
            return DeliveryResult(Outcome.RETRY, _clean(f"server said {exc.code} {exc.message}"))
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            return DeliveryResult(
                Outcome.RETRY,
                _clean(f"cannot send through {self.server.address}: {type(exc).__name__}: {exc}"),
            )
        return DeliveryResult(Outcome.SENT, f"accepted by {self.server.address}")

    async def _send(self, server: SmtpServer, mail: EmailMessage, recipient: str) -> None:
        await aiosmtplib.send(
            mail,
            sender=self.mail_from,
            recipients=[recipient],
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=server.start_tls,
            timeout=self.timeout_s,
            tls_context=self.tls_context,
        )
