"""``shoptrack demo``: a small shop under ``/demo/`` that uses the real snippet and sends every
event of the spec, so a newcomer sees events arrive in ``shoptrack events tail`` at once.

The pages are plain HTML written by hand (no template engine to install); the snippet in them
is the spec's loader, with the script host set to the server the page came from.
"""

from __future__ import annotations

import html
import json
import socket

import orjson
import uvicorn
from rich.console import Console
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from shoptrack.config import Settings
from shoptrack.demo.store_files import DEMO_SITE_ID
from shoptrack.store.db import redacted_url
from shoptrack.web.app import create_app

PRODUCTS = {
    "24-MB02": ("Fusion Backpack", "59.00"),
    "24-WG02": ("Didi Sport Watch", "92.00"),
    "430738": ("Trail Running Shoes", "201.95"),
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__ · shoptrack demo shop</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
__HEAD__
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
nav a{margin-right:1rem}button{margin:.2rem .4rem .2rem 0;padding:.3rem .8rem}
.card{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;margin:.5rem 0}
pre{background:#f4f4f4;padding:.6rem;white-space:pre-wrap;font-size:13px}
</style></head>
<body>
<nav><a href="/demo/">Home</a><a href="/demo/category">Backpacks</a>
<a href="/demo/product/24-MB02">A product</a><a href="/demo/cart">Cart</a>
<a href="/demo/search?q=umbrella">Search "umbrella"</a>
<a href="/demo/missing">A broken link</a></nav>
<h1>__TITLE__</h1>
__BODY__
<h2>What this page sent</h2>
<pre id="sent">(watch them arrive: shoptrack events tail --site __SITE__)</pre>
<script>
!function(t, e, c, n) {
    var s = e.createElement(c);
    s.async = 1, s.src = __SCRIPT_BASE__ + n + '.js';
    var r = e.scripts[0];
    r.parentNode.insertBefore(s, r);
    var f = function() {
        f.c(arguments);
    };
    f.q = [];
    f.c = function() {
        f.q.push(arguments);
    };
    t['eS'] = t['eS'] || f;
}(window, document, 'script', __SITE_JSON__);

eS('init', {TRACKING: true, RECOMS: true, debug: true});

// The demo's own helper: send with eS and show the call on the page.
function send(style, name, payload) {
    eS(style, name, payload);
    document.getElementById('sent').textContent +=
        '\\n' + style + ' ' + name + (payload ? ' ' + JSON.stringify(payload) : '');
}
function cart() { return JSON.parse(localStorage.getItem('demo_cart') || '[]'); }
function guid() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now())); }
function addToCart(key, price) {
    var items = cart();
    items.push({productKey: key, price: price, quantity: '1', currency: 'USD'});
    var id = guid();
    localStorage.setItem('demo_cart', JSON.stringify(items));
    localStorage.setItem('demo_guid', id);
    send('sendEvent', 'StatusCart', {StatusCart: items, GUID: id});
}
__SCRIPT__
</script>
</body></html>
"""


def _product_card(key: str, link_suffix: str = "") -> str:
    name, price = PRODUCTS[key]
    return (
        f'<div class="card"><a href="/demo/product/{key}{link_suffix}">{html.escape(name)}</a>'
        f" — ${price} <button onclick=\"addToCart('{key}', '{price}')\">Add to cart</button>"
        "</div>"
    )


def _main_page() -> tuple[str, str, str, str]:
    cards = "".join(
        _product_card(key, "?sc_content=1_r1v1").replace(
            '<div class="card">', f'<div class="card rec" data-key="{key}">'
        )
        for key in PRODUCTS
    )
    body = (
        "<p>A tiny shop wired with the shoptrack snippet. Every page sends events; the "
        "recommended products below report impressions when they scroll into view, and their "
        "links carry <code>sc_content</code> so the product page and a purchase are attributed "
        "to the block.</p><h2>Recommended for you</h2>" + cards
    )
    script = """send('sendEvent', 'MainPage');
// All blocks that come into view together are reported in one call, as the spec asks.
var observer = new IntersectionObserver(function (entries) {
    var seen = entries.filter(function (e) { return e.isIntersecting; }).map(function (e) {
        observer.unobserve(e.target);
        return {product_id: e.target.dataset.key, container_type: '1_r1v1'};
    });
    if (seen.length) send('sendEvent', 'ProductImpressions', {ProductImpression: seen});
});
document.querySelectorAll('.rec').forEach(function (el) { observer.observe(el); });"""
    return "Welcome", "", body, script


def _product_page(key: str) -> tuple[str, str, str, str]:
    name, price = PRODUCTS[key]
    # schema.org markup: with TRACKING on, the tracker sends ProductPage from it by itself.
    markup = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": name,
        "sku": key,
        "offers": {
            "@type": "Offer",
            "price": price,
            "priceCurrency": "USD",
            "availability": "https://schema.org/InStock",
        },
    }
    head = (
        '<script type="application/ld+json">'
        + orjson.dumps(markup).decode().replace("</", "<\\/")
        + "</script>"
    )
    body = (
        f"<p>${price}. This page sends no ProductPage itself: the tracker reads it from the "
        "page's JSON-LD.</p>"
        f"<button onclick=\"addToCart('{key}', '{price}')\">Add to cart</button>"
        f"<button onclick=\"send('sendEvent', 'AddToWishlist', "
        f"{{AddToWishlist: {{productKey: '{key}', price: '{price}', isInStock: 1}}}})\">"
        "Add to wishlist</button>"
        f"<button onclick=\"send('sendEventWithTags', 'ProductPage', {{ProductPage: "
        f"{{Product: {{productKey: '{key}', price: '{price} USD', isInStock: '1'}}, "
        f"Tags: {{colour: ['green']}}}}}})\">Send ProductPage with tags</button>"
    )
    return name, head, body, ""


def _cart_page() -> tuple[str, str, str, str]:
    body = """<div id="items"></div>
<p><label>E-mail <input id="email" value="newcomer@example.com"></label>
<button onclick="send('sendEvent', 'CustomerData', {CustomerData: {user_email:
 document.getElementById('email').value, user_name: 'Newcomer'}})">Log in</button></p>
<button onclick="buy()">Buy</button>
<button onclick="localStorage.removeItem('demo_cart');
 send('sendEvent', 'StatusCart', {StatusCart: [], GUID: guid()})">Empty the cart</button>"""
    script = """document.getElementById('items').textContent =
    cart().map(function (i) { return i.productKey + ' × ' + i.quantity; }).join(', ') || 'empty';
send('sendEvent', 'StatusCartPage');
function buy() {
    send('sendEvent', 'PurchasedItems', {OrderNumber: 'demo-' + Date.now(),
        PurchasedItems: cart(), GUID: localStorage.getItem('demo_guid') || guid()});
    // Bought: the cart is empty now, and the next one is a new cart.
    localStorage.removeItem('demo_cart');
    localStorage.removeItem('demo_guid');
    document.getElementById('items').textContent = 'empty';
}"""
    return "Your cart", "", body, script


def render_page(request: Request, site_id: str, settings: Settings) -> HTMLResponse:
    path = request.url.path.removeprefix("/demo").strip("/")
    status = 200
    if path == "":
        title, head, body, script = _main_page()
    elif path == "category":
        title, head = "Backpacks", ""
        body = "".join(_product_card(k) for k in PRODUCTS)
        script = "send('sendEvent', 'CategoryPage', {CategoryPage: {categoryKey: 'Backpacks'}});"
    elif path.startswith("product/") and path.removeprefix("product/") in PRODUCTS:
        title, head, body, script = _product_page(path.removeprefix("product/"))
    elif path == "cart":
        title, head, body, script = _cart_page()
    elif path == "search":
        query = request.query_params.get("q", "")
        title, head, body = f"Search: {html.escape(query)}", "", "<p>Nothing found.</p>"
        script = (
            "send('sendEvent', 'SearchRequest', "
            f"{{SearchRequest: {{search: {json.dumps(query)}, isFound: 0}}}});"
        )
    else:
        status = 404
        title, head, body = "Page not found", "", "<p>This page does not exist.</p>"
        script = "send('sendEvent', 'NotFound');"
    script_base = f"{request.url.scheme}://{request.url.netloc}/{settings.script_path.strip('/')}/"
    page = (
        _PAGE.replace("__HEAD__", head)
        .replace("__BODY__", body)
        .replace("__SCRIPT__", script.replace("</", "<\\/"))
        .replace("__TITLE__", html.escape(title))
        .replace("__SCRIPT_BASE__", json.dumps(script_base))
        .replace("__SITE_JSON__", json.dumps(site_id))
        .replace("__SITE__", html.escape(site_id))
    )
    return HTMLResponse(page, status_code=status)


def demo_routes(settings: Settings, site_id: str = DEMO_SITE_ID) -> list[Route]:
    async def demo_page(request: Request) -> HTMLResponse:
        return render_page(request, site_id, settings)

    return [
        Route("/demo", demo_page, methods=["GET"]),
        Route("/demo/{rest:path}", demo_page, methods=["GET"]),
    ]


class PortTaken(Exception):
    pass


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, taken before anything is created: a taken port is said at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortTaken(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}. Another program (perhaps "
            f"shoptrack serve) uses it: stop it, or choose another port with --port"
        ) from None
    return sock


def run_demo(settings: Settings, site_id: str = DEMO_SITE_ID, *, sock: socket.socket) -> None:
    """Serve the app (the dashboard included) with the demo pages added, on ``sock``."""
    err = Console(stderr=True, soft_wrap=True)  # commands printed whole, to copy
    app = create_app(settings)
    app.router.routes.extend(demo_routes(settings, site_id))
    address = f"http://{settings.host}:{settings.port}"
    store = redacted_url(settings.database_url)
    err.print(f"demo shop: [bold]{address}/demo/[/bold] (its own store: {store})")
    err.print(f"dashboard: [bold]{address}/admin/[/bold]")
    err.print(
        f"watch the events arrive: shoptrack events tail --site {site_id} --database-url {store}"
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
