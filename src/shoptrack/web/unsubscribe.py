"""``/unsubscribe/{token}``: the link and the one-click header of every trigger message.

No API key: the token (``triggers/unsubscribe.py``) is the authority. ``GET`` shows a small
page with one button, because mail scanners and link previews follow links and must not
unsubscribe anyone; ``POST`` (that button, or a mail client's RFC 8058 one-click request with
the body ``List-Unsubscribe=One-Click``) records it. A token that is not ours answers 404 in
the one error shape; a valid one answers the same whether its contact exists or not, so the
endpoint cannot be used to learn who is a contact. Tokens are HMACs, so guessing one is out
of reach whatever the request rate.
"""

from __future__ import annotations

from html import escape

from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shoptrack.errors import NotFound
from shoptrack.services import Services
from shoptrack.triggers.unsubscribe import (
    UNSUBSCRIBE_PATH,
    Unsubscribe,
    record_unsubscribe,
    verify_token,
)

# Pages must not be cached by proxies or kept by the browser's history cache for others.
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_CHANNEL_WORDS = {"email": "e-mails", "webhook": "messages"}


def _who(request: Request) -> Unsubscribe:
    services: Services = request.app.state.services
    who = verify_token(services.keyring, request.path_params["token"])
    if who is None:
        raise NotFound("no such unsubscribe link", "token")
    return who


def _page(title: str, body: str) -> HTMLResponse:
    html = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:Arial,Helvetica,sans-serif;max-width:32rem;margin:3rem auto;"
        "padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}"
        "</style></head>\n"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )
    return HTMLResponse(html, headers=_HEADERS)


async def confirm(request: Request) -> Response:
    who = _who(request)
    words = _CHANNEL_WORDS.get(who.channel.value, "messages")
    # The form posts the RFC 8058 field too, so both ways in are one request shape.
    return _page(
        "Unsubscribe",
        f"<p>Stop receiving these {escape(words)} (reminders about your cart, products you "
        "viewed, price drops)?</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


async def unsubscribe(request: Request) -> Response:
    who = _who(request)
    services: Services = request.app.state.services
    await run_in_threadpool(record_unsubscribe, services.engine, who)
    return _page("You are unsubscribed", "<p>You will not receive these messages any more.</p>")


def unsubscribe_routes() -> list[Route]:
    path = f"{UNSUBSCRIBE_PATH}/{{token}}"
    return [
        Route(path, confirm, methods=["GET"]),
        Route(path, unsubscribe, methods=["POST"]),
    ]
