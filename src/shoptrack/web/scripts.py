"""``GET {script_path}/{site_id}.js``: the tracker, minified, with the site and collector baked in;
``GET {script_path}/{site_id}.recs.js``: its recommendations part, loaded by the tracker when
needed (``tracker/eS.recs.js``), with the site's recommendations endpoint baked in.

The readable source is ``tracker/eS.js`` at the repository root. It is minified once when the
routes are built (rjsmin: pure whitespace and comment removal, so the served code is the
source's code), then rendered per site and collector address with its gzip and brotli forms
and cached, so a request costs a dictionary lookup. The cache is keyed by the collector
address too, because without ``public_url`` that address is the origin the script was
requested from; it is bounded, since that origin comes from the ``Host`` header.

Unknown sites get a one-line script that warns in the console: a 404 would only show as a
failed request, and the shop's page must keep working either way.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shoptrack.config import Settings
from shoptrack.web.hosts import TrustedHosts, untrusted_host

try:
    import brotli
except ImportError:  # optional: gzip alone is fine, brotli saves another ~12 %
    brotli = None

SITE_TOKEN = "'%%SITE_ID%%'"
ENDPOINT_TOKEN = "'%%ENDPOINT%%'"
RECS_TOKEN = "'%%RECS_API%%'"
MEDIA_TYPE = "application/javascript; charset=utf-8"
_PREFIX = re.compile(r"^/[A-Za-z0-9._~/-]{0,200}$")
_CACHE_ENTRIES = 256
_UNKNOWN_MAX_AGE_S = 60


def tracker_source_path(name: str = "eS.js") -> Path:
    """``tracker/<name>`` of the checkout this package runs from (src layout, editable install),
    else the copy a wheel carries in ``shoptrack/tracker/`` (there ``eS.js`` is a symlink to the
    checkout's file, which the wheel build copies as a file)."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "tracker" / name, here.parents[1] / "tracker" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"tracker/{name} not found: shoptrack must run from its source tree")


def minify(source: str, tokens: tuple[str, ...] = (SITE_TOKEN, ENDPOINT_TOKEN)) -> str:
    minified: str = rjsmin.jsmin(source)
    for token in tokens:
        if minified.count(token) != 1:
            raise ValueError(f"the tracker source must contain {token} exactly once")
    return minified


def render(minified: str, site_id: str, endpoint: str, token: str = ENDPOINT_TOKEN) -> str:
    """The script for one site; json.dumps quotes (and escapes) the values as JS strings.
    ``token`` is where ``endpoint`` goes (the collector, or the recommendations API)."""
    return minified.replace(SITE_TOKEN, json.dumps(site_id)).replace(token, json.dumps(endpoint))


@dataclass(frozen=True, slots=True)
class ServedScript:
    """One script body in every encoding we serve, with its content hash for the ETag."""

    plain: bytes
    gzipped: bytes
    br: bytes | None
    digest: str

    @classmethod
    def build(cls, text: str) -> ServedScript:
        plain = text.encode()
        return cls(
            plain=plain,
            gzipped=gzip.compress(plain, compresslevel=9, mtime=0),
            br=brotli.compress(plain, quality=11) if brotli is not None else None,
            digest=hashlib.sha256(plain).hexdigest()[:24],
        )

    def encoded(self, accept_encoding: str) -> tuple[bytes, str | None]:
        accepted = accepted_encodings(accept_encoding)
        if self.br is not None and "br" in accepted:
            return self.br, "br"
        if "gzip" in accepted:
            return self.gzipped, "gzip"
        return self.plain, None


def accepted_encodings(header: str) -> set[str]:
    """Codings of an Accept-Encoding header that are not refused with ``q=0``."""
    names: set[str] = set()
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        quality = params.strip()
        if quality.startswith("q="):
            try:
                if float(quality[2:]) <= 0:
                    continue
            except ValueError:
                continue
        if name:
            names.add(name.strip())
    return names


def etag_matches(if_none_match: str | None, digest: str) -> bool:
    """Weak comparison, as for GET revalidation: any encoding of the same body matches."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag.split("-", 1)[0] == digest:
            return True
    return False


class TrackerScripts:
    """The minified tracker and its rendered, compressed forms per (site, collector URL)."""

    def __init__(
        self,
        source_path: Path | None = None,
        tokens: tuple[str, ...] = (SITE_TOKEN, ENDPOINT_TOKEN),
    ) -> None:
        self.source_path = source_path or tracker_source_path()
        self.token = tokens[-1]
        self.minified = minify(self.source_path.read_text(encoding="utf-8"), tokens)
        self._cache: OrderedDict[tuple[str, str], ServedScript] = OrderedDict()
        self._lock = threading.Lock()

    def for_site(self, site_id: str, endpoint: str) -> ServedScript:
        key = (site_id, endpoint)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        built = ServedScript.build(render(self.minified, site_id, endpoint, self.token))
        with self._lock:
            self._cache[key] = built
            if len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return built

    def cached(self, site_id: str, endpoint: str) -> ServedScript | None:
        with self._lock:
            return self._cache.get((site_id, endpoint))


def unknown_site_script(site_id: str) -> bytes:
    message = (
        f"shoptrack: there is no site {site_id[:64]} on this server; check the site id in the "
        "tracking snippet. No events are sent."
    )
    return f"window.console&&console.warn({json.dumps(message)});\n".encode()


def collector_url(request: Request, settings: Settings, hosts: TrustedHosts) -> str:
    """Where the tracker posts: the public URL when configured, else the script's own origin."""
    return public_base(request, settings, hosts) + settings.event_path


def recs_url(request: Request, settings: Settings, hosts: TrustedHosts, site_id: str) -> str:
    """The site's recommendations endpoint, on the same public base as the collector."""
    base = public_base(request, settings, hosts)
    return base + "/" + settings.recs_path.strip("/") + "/" + site_id


def public_base(request: Request, settings: Settings, hosts: TrustedHosts) -> str:
    """This server as the browser reaches it (no trailing slash). Without ``public_url`` the
    origin comes from the request, whose Host the app has checked already (web/hosts.py); a
    forwarded host must be trusted too, or ShoptrackError (400)."""
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    else:
        scheme = request.url.scheme
        host = request.headers.get("host") or request.url.netloc
        prefix = str(request.scope.get("root_path", ""))
        if settings.trust_proxy_headers:
            # First-party serving: the shop's own server proxies a path of its domain to us.
            scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
            host = request.headers.get("x-forwarded-host", host).split(",")[0].strip()
            if not hosts.allows(host):
                raise untrusted_host(host, "X-Forwarded-Host")
            if scheme not in ("http", "https"):
                scheme = request.url.scheme
            forwarded_prefix = request.headers.get("x-forwarded-prefix", "").strip()
            if _PREFIX.match(forwarded_prefix):
                prefix = forwarded_prefix
        base = f"{scheme}://{host}{prefix}".rstrip("/")
    return base


def script_route_path(settings: Settings) -> str:
    return "/" + settings.script_path.strip("/") + "/{site_id}.js"


def recs_route_path(settings: Settings) -> str:
    return "/" + settings.script_path.strip("/") + "/{site_id}.recs.js"


def tracker_routes(
    settings: Settings,
    scripts: TrackerScripts | None = None,
    recs_scripts: TrackerScripts | None = None,
) -> list[Route]:
    """The tracker's routes; the sources are read and minified here, once per process."""
    tracker = scripts or TrackerScripts()
    recs = recs_scripts or TrackerScripts(tracker_source_path("eS.recs.js"), (RECS_TOKEN,))
    hosts = TrustedHosts.from_settings(settings)
    return [
        # First: ``{site_id}.js`` would also match ``<site>.recs.js`` (site "<site>.recs").
        Route(
            recs_route_path(settings),
            _script_endpoint(settings, recs, lambda r, s: recs_url(r, settings, hosts, s)),
            methods=["GET", "HEAD"],
        ),
        Route(
            script_route_path(settings),
            _script_endpoint(settings, tracker, lambda r, _s: collector_url(r, settings, hosts)),
            methods=["GET", "HEAD"],
        ),
    ]


def _script_endpoint(
    settings: Settings,
    tracker: TrackerScripts,
    address: Callable[[Request, str], str],
) -> Callable[[Request], Awaitable[Response]]:
    cache_control = f"public, max-age={settings.script_max_age_s}"
    vary = "Accept-Encoding"
    if not settings.public_url:
        # The baked-in address is then the Host the script was asked from: caches key on it.
        vary += ", Host"
    if settings.trust_proxy_headers and not settings.public_url:
        # The baked-in address then follows these headers: a shared cache must key on them,
        # or one forged request could serve every shopper a script posting elsewhere.
        vary += ", X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Prefix"

    async def serve_script(request: Request) -> Response:
        site_id: str = request.path_params["site_id"]
        sites = request.app.state.services.sites
        if not await sites.exists(site_id):
            return Response(
                unknown_site_script(site_id),
                media_type=MEDIA_TYPE,
                headers={"Cache-Control": f"public, max-age={_UNKNOWN_MAX_AGE_S}"},
            )
        endpoint = address(request, site_id)
        script = tracker.cached(site_id, endpoint)
        if script is None:
            # Compressing (brotli at quality 11) takes milliseconds: not on the event loop.
            script = await run_in_threadpool(tracker.for_site, site_id, endpoint)
        body, encoding = script.encoded(request.headers.get("accept-encoding", ""))
        headers = {
            "Cache-Control": cache_control,
            "ETag": f'"{script.digest}-{encoding or "id"}"',
            "Vary": vary,
            "X-Content-Type-Options": "nosniff",
            # Shops that isolate their pages (COEP) may still load it.
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if etag_matches(request.headers.get("if-none-match"), script.digest):
            return Response(status_code=304, headers=headers)
        if encoding:
            headers["Content-Encoding"] = encoding
        return Response(body, media_type=MEDIA_TYPE, headers=headers)

    return serve_script
