"""Every dashboard page, in a real Chromium, on a small demo fill.

The test signs in at ``/admin/login`` as ``shoptrack demo``'s user and follows every link under
``/admin`` it finds on the signed-in pages (same origin, GET only, deduplicated by path and
query), starting from where sign-in lands and from every GET route of the dashboard's routers
that needs no value but the site id (so an area no page links to yet is visited all the same):
pages landed later are visited without changing it. It goes breadth first and
visits at most ``MAX_PER_SHAPE`` pages of one shape (the path with its id-like segments
blanked, and the query's names: ``…/products/*?page``), ``MAX_PAGES`` in all: every kind of
page, not every product of a listing. Each page must:

* answer 200, with no console error, no uncaught error and no failed request (a broken link,
  stylesheet or image); a link to a file (``<a download>``, an export) is fetched with the
  session and must answer 200;
* have exactly one ``<h1>``;
* label every field (``<input>`` but hidden or buttons, ``<select>``, ``<textarea>``);
* let the keyboard reach every main navigation link with Tab;
* show its text at a contrast of at least 4.5:1 (3:1 for large text), WCAG's AA level.

A "live" page reloads itself (``<meta http-equiv="refresh">``); the crawler takes that tag out
of the HTML it receives, so a reload cannot land in the middle of the checks.

A full-page screenshot of each is saved under ``test-artifacts/admin/`` (or
``$SHOPTRACK_TEST_ARTIFACTS/admin/``). Problems are collected over the whole crawl and reported
together, page by page.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urldefrag, urlsplit

import pytest

from shoptrack.demo.store_files import DEMO_SITE_ID
from shoptrack.web.admin import ROUTERS
from tests.support.browser import launch_chromium
from tests.support.demo_server import DEMO_USER, DemoServer, artifacts_dir

pytestmark = pytest.mark.browser

MAX_PAGES = 200
MAX_PER_SHAPE = 3
# A path segment that names one thing (a product key, a contact id, a day) rather than a page.
ID_LIKE = re.compile(r"\d|^[A-Za-z0-9_-]{20,}$")
# Links the crawler must not follow: they end the session.
SKIP_PATH = re.compile(r"/(logout|sign-?out)\b")
# Links to a file rather than a page (also any <a download>): fetched, not opened.
FILE_PATH = re.compile(r"\.(csv|json|ndjson|zip)$|/export\b")
WIDTH, HEIGHT = 1280, 800
TAB_PRESSES_BEYOND_NAV = 40
REFRESH_TAG = re.compile(r"<meta[^>]*http-equiv=[\"']?refresh[^>]*>", re.IGNORECASE)

UNLABELLED_FIELDS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
  .filter(el => !(el.labels && el.labels.length)
      && !(el.getAttribute('aria-label') || '').trim()
      && !(el.getAttribute('aria-labelledby') || '').trim())
  .map(el => el.outerHTML.slice(0, 160))"""

# The main navigation: every <nav> outside <main> (a page's own pager or breadcrumbs are inside).
NAV_LINKS = """() => [...document.querySelectorAll('nav a[href]')]
  .filter(a => !a.closest('main') && a.getClientRects().length > 0)
  .map(a => a.href)"""

FOCUSED_LINK = "() => document.activeElement && document.activeElement.href || null"

# WCAG 2.x contrast of each visible text node's colour against the background it is drawn on
# (the first ancestor with an opaque-enough background, alpha-blended over white). Text in SVG
# (charts: drawn with fill, checked by their own tests) is left out.
LOW_CONTRAST = """() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 1];
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, below) => { const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + below[i] * (1 - a)).concat([1]); };
  const background = el => { const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let colour = [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour; };
  const luminance = c => { const f = v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05); };
  const seen = new Set(), low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || seen.has(el) || !node.textContent.trim() || el.closest('svg')) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || parseFloat(style.opacity) === 0
        || el.getClientRects().length === 0) continue;
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const needed = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    const bg = background(el), fg = over(parse(style.color), bg);
    const r = ratio(fg, bg);
    if (r < needed) low.push(`${r.toFixed(2)}:1 (needs ${needed}) ${style.color} on ` +
        `rgb(${bg.slice(0, 3).map(Math.round).join(', ')}): ` +
        `<${el.tagName.toLowerCase()}> ${node.textContent.trim().slice(0, 60)}`);
  }
  return low;
}"""


def _site_pages(origin: str, site_id: str) -> list[str]:
    """Every dashboard GET route whose only parameter is the site id, for ``site_id``."""
    found = []
    for router in ROUTERS:
        for route in router.routes:
            path = getattr(route, "path", "")
            if "GET" not in (getattr(route, "methods", None) or ()):
                continue
            if set(re.findall(r"{(\w+)[^}]*}", path)) <= {"site_id"}:
                found.append(origin + re.sub(r"{site_id[^}]*}", site_id, path))
    return found


def _shape(parts: SplitResult) -> str:
    """``/admin/sites/demo/products/SKU-1?page=2&q=x`` → ``/admin/sites/demo/products/*?page&q``."""
    path = "/".join(
        "*" if ID_LIKE.search(segment) else segment for segment in parts.path.split("/")
    )
    names = sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return path + ("?" + "&".join(names) if names else "")


def _shot_name(path: str, query: str) -> str:
    name = path.removeprefix("/admin").strip("/").replace("/", "-") or "home"
    if query:
        name += "--" + re.sub(r"[^A-Za-z0-9]+", "-", query).strip("-")[:60]
    return name


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("admin-demo"), events=2000)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(playwright_driver: Any) -> Iterator[Any]:
    launched = launch_chromium(playwright_driver)
    yield launched
    launched.close()


class PageWatch:
    """What went wrong while one page loaded: console errors, page errors, failed requests."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # The browser asks for /favicon.ico by itself, whatever the page links to: its 404 is
        # no broken link of a page.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            where = message.location.get("url") or ""
            self.problems.append(f"console error: {message.text} {where}".strip())

    def _failed(self, request: Any) -> None:
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} for {response.url}")

    def take(self) -> list[str]:
        taken, self.problems = self.problems, []
        return taken


def _without_refresh(route: Any) -> None:
    """Pages as the server sent them, less a ``<meta http-equiv="refresh">``; redirects are
    left to the browser (``max_redirects=0``), so it sees where it was sent."""
    request = route.request
    if request.resource_type != "document" or request.method != "GET":
        route.fallback()
        return
    response = route.fetch(max_redirects=0)
    if "text/html" not in response.headers.get("content-type", ""):
        route.fulfill(response=response)
        return
    route.fulfill(response=response, body=REFRESH_TAG.sub("", response.text()))


def _check_page(page: Any, shots: Path, name: str) -> list[str]:
    """The page-level checks of the module's docstring; saves the screenshot."""
    problems: list[str] = []
    headings = page.locator("h1").count()
    if headings != 1:
        problems.append(f"{headings} <h1> elements, not one")
    problems += [f"field without a label: {html}" for html in page.evaluate(UNLABELLED_FIELDS)]
    problems += [f"low contrast {text}" for text in page.evaluate(LOW_CONTRAST)]
    nav = set(page.evaluate(NAV_LINKS))
    reached: set[str] = set()
    # Start from the top of the page, wherever an autofocus put the focus.
    page.evaluate("document.body.tabIndex = -1; document.body.focus()")
    for _ in range(len(nav) + TAB_PRESSES_BEYOND_NAV):
        page.keyboard.press("Tab")
        href = page.evaluate(FOCUSED_LINK)
        if href:
            reached.add(href)
        if nav <= reached:
            break
    problems += [f"navigation link not reached with Tab: {href}" for href in sorted(nav - reached)]
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    return problems


def _links(page: Any, origin: str) -> list[tuple[str, bool]]:
    """The page's links under /admin, each with whether it is a file (fetched, not opened)."""
    anchors = page.eval_on_selector_all(
        "a[href]", "els => els.map(e => [e.href, e.hasAttribute('download')])"
    )
    found = []
    for href, download in anchors:
        href = urldefrag(href)[0]
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin:
            continue
        if not parts.path.startswith("/admin") or SKIP_PATH.search(parts.path):
            continue
        found.append((href, bool(download) or bool(FILE_PATH.search(parts.path))))
    return found


def _fetch_file(context: Any, url: str) -> list[str]:
    """A download link must answer 200 with the signed-in session's cookies."""
    status = context.request.get(url, max_redirects=0).status
    return [] if status == 200 else [f"file link answered {status}"]


def test_every_dashboard_page_loads_cleanly_and_is_accessible(
    demo: DemoServer, browser: Any
) -> None:
    shots = artifacts_dir("admin")
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    context.route(f"{demo.url}/admin/**", _without_refresh)
    page = context.new_page()
    watch = PageWatch(page)
    report: dict[str, list[str]] = defaultdict(list)
    try:
        response = page.goto(f"{demo.url}/admin/login")
        assert response is not None and response.status == 200, "no sign-in page"
        report["/admin/login"] += watch.take() + _check_page(page, shots, "login")
        page.fill("input[name=email]", DEMO_USER)
        page.fill("input[name=password]", demo.password)
        with page.expect_navigation():
            page.locator("input[name=password]").press("Enter")
        assert "/admin/login" not in page.url, f"sign-in failed: {page.content()[:2000]}"
        report["/admin/login (signing in)"] += watch.take()
        # The demo fill has no segment: one is made with the builder (its first row as it
        # starts), so a segment's page, with its chart, members and form, is crawled too.
        page.goto(f"{demo.url}/admin/sites/{DEMO_SITE_ID}/segments")
        page.get_by_label("Name", exact=True).fill("Viewers of the last 30 days")
        with page.expect_navigation():
            page.get_by_role("button", name="Save segment").click()
        assert re.search(r"/segments/\d+$", page.url), f"no segment made: {page.content()[:2000]}"
        report["/admin/…/segments (saving one)"] += watch.take()

        starts = [page.url, f"{demo.url}/admin/", *_site_pages(demo.url, DEMO_SITE_ID)]
        queue: deque[tuple[str, bool]] = deque((url, False) for url in starts)
        visited: set[str] = set()
        per_shape: dict[str, int] = defaultdict(int)
        while queue and len(visited) < MAX_PAGES:
            url, is_file = queue.popleft()
            parts = urlsplit(url)
            key = parts.path + ("?" + parts.query if parts.query else "")
            if key in visited or per_shape[_shape(parts)] >= MAX_PER_SHAPE:
                continue
            visited.add(key)
            per_shape[_shape(parts)] += 1
            if is_file:
                report[key] += _fetch_file(context, url)
                continue
            try:
                response = page.goto(url)
            except Exception as exc:  # Playwright's Error; an attachment is no page to look at
                if "Download is starting" not in str(exc):
                    raise
                report[key] += _fetch_file(context, url)
                continue
            problems = []
            if response is None or response.status != 200:
                problems.append(f"answered {response.status if response else 'nothing'}")
            elif "text/html" in response.headers.get("content-type", ""):
                problems += _check_page(page, shots, _shot_name(parts.path, parts.query))
                queue.extend(_links(page, demo.url))
            report[key] += watch.take() + problems
            assert "/admin/login" not in page.url, f"signed out by visiting {key}"
    finally:
        context.close()
    failures = {page_key: found for page_key, found in report.items() if found}
    assert not failures, (
        "\n".join(
            f"{page_key}:\n  " + "\n  ".join(found) for page_key, found in sorted(failures.items())
        )
        + f"\n(log: {demo.log_tail(500)})"
    )
    assert len(visited) >= 1


BAD_PAGE = """<!doctype html><html lang="en"><body>
<nav><a href="/admin/a">A</a><a href="/admin/b" tabindex="-1">B</a></nav>
<h1>One</h1><h1>Two</h1>
<p class="pale">Pale text</p><p>Readable text</p>
<label>Named <input name="named" autofocus></label>
<label for="by-id">By id</label><input id="by-id">
<input aria-label="Searched" name="q"><input type="hidden" name="h"><input type="submit">
<input name="nameless"><select name="choice"><option>x</option></select>
<style>.pale { color: #999 } </style>
</body></html>"""


def test_the_page_checks_find_what_they_look_for(browser: Any, tmp_path: Path) -> None:
    """The crawler's checks on a page made to fail each of them (so a pass means something)."""
    context = browser.new_context()
    page = context.new_page()
    try:
        page.set_content(BAD_PAGE)
        problems = _check_page(page, tmp_path, "bad")
    finally:
        context.close()
    assert "2 <h1> elements, not one" in problems
    unlabelled = [p for p in problems if p.startswith("field without a label")]
    assert len(unlabelled) == 2
    assert any('name="nameless"' in p for p in unlabelled)
    assert any("<select" in p for p in unlabelled)
    low = [p for p in problems if p.startswith("low contrast")]
    assert len(low) == 1 and "2.85:1" in low[0] and "Pale text" in low[0]
    untabbable = [p for p in problems if "not reached with Tab" in p]
    assert len(untabbable) == 1 and untabbable[0].endswith("/admin/b"), problems
    assert (tmp_path / "bad.png").exists()
