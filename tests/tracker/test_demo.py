"""``shoptrack demo`` as a newcomer runs it: the demo shop's events show in ``events tail``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.support.server import free_port
from tests.tracker.helpers import ShopServer, shop_page, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("demo")
    port = free_port()
    # As a newcomer runs it: in a folder, with no settings; the demo picks its own store.
    plain = {k: v for k, v in os.environ.items() if not k.startswith("SHOPTRACK_")}
    env = {**plain, "SHOPTRACK_LOG_LEVEL": "warning"}
    log = (workdir / "demo.log").open("wb")
    process = subprocess.Popen(
        # A small fill: the demo shop's own events are what this test looks for.
        [sys.executable, "-m", "shoptrack", "demo", "--port", str(port), "--events", "1000"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (workdir / "demo.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "shoptrack demo did not start"
            time.sleep(0.1)
        # The shop's own ./shoptrack.db is never created nor given a demo site.
        assert not (workdir / "shoptrack.db").exists()
        assert (workdir / "shoptrack-demo.db").exists()
        tail_env = {
            **env,
            "SHOPTRACK_DATABASE_URL": f"sqlite:///{workdir / 'shoptrack-demo.db'}",
            "SHOPTRACK_KEY_FILE": str(workdir / "shoptrack-demo.keys"),
        }
        yield url, tail_env
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    output = (workdir / "demo.log").read_text()
    assert "created site 'demo'" in output
    assert "--database-url sqlite:///./shoptrack-demo.db" in output


def test_a_taken_port_is_said_before_anything_is_created(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        plain = {k: v for k, v in os.environ.items() if not k.startswith("SHOPTRACK_")}
        result = subprocess.run(
            [sys.executable, "-m", "shoptrack", "demo", "--port", str(port)],
            cwd=tmp_path,
            env=plain,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "shown once" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no store, no key file


def _tail(env: dict[str, str]) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shoptrack",
            "events",
            "tail",
            "--site",
            "demo",
            "--no-follow",
            "--last",
            "100",
        ],
        env=env,
        capture_output=True,
        check=True,
        timeout=30,
    )
    events = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    # The demo shop's own events, not the demo fill's (its pages are at the shop's address).
    return [e for e in events if "/demo/" in ((e.get("page") or {}).get("url") or "")]


def test_demo_shop_events_show_in_events_tail(
    page: Any, demo_server: tuple[str, dict[str, str]]
) -> None:
    url, env = demo_server
    page.goto(f"{url}/demo/")
    page.wait_for_function("window.eS && window.eS.shoptrack === true")
    page.click("a[href='/demo/product/24-MB02?sc_content=1_r1v1']")
    page.wait_for_load_state("load")
    page.click("text=Add to cart")
    page.click("text=Add to wishlist")
    page.goto(f"{url}/demo/cart")
    page.click("text=Log in")
    page.click("text=Buy")
    # Bought: the cart is empty, on this page and on the next visit.
    assert page.text_content("#items") == "empty"
    page.goto(f"{url}/demo/cart")
    assert page.text_content("#items") == "empty"
    page.goto(f"{url}/demo/search?q=umbrella")
    page.goto(f"{url}/demo/category")
    page.goto(f"{url}/demo/no-such-page")
    page.wait_for_function("window.eS && window.eS.shoptrack === true")

    expected = {
        "PageView",
        "MainPage",
        "ProductImpression",
        "ProductPage",
        "StatusCart",
        "AddToWishlist",
        "StatusCartPage",
        "CustomerData",
        "PurchasedItems",
        "SearchRequest",
        "CategoryPage",
        "NotFound",
    }
    seen: set[str] = set()

    def all_arrived() -> bool:
        nonlocal seen
        seen = {e["type"] for e in _tail(env)}
        return expected <= seen

    wait_until(all_arrived, timeout=20, what=f"demo events; have {seen}")
    events = _tail(env)
    product_views = [e for e in events if e["type"] == "ProductPage"]
    # Recognised from the page's JSON-LD, attributed to the recommendation block clicked.
    assert product_views[0]["products"][0]["key"] == "24-MB02"
    assert product_views[0]["location"] == "1_r1v1"
    purchase = next(e for e in events if e["type"] == "PurchasedItems")
    assert purchase["location"] == "1_r1v1" and purchase["identified"] is True


def test_unknown_site_script_only_warns_in_the_page(
    page: Any, demo_server: tuple[str, dict[str, str]]
) -> None:
    url, _ = demo_server
    shop = ShopServer()
    try:
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        page.goto(shop.add("/", shop_page(url, "not-a-site", "eS('sendEvent', 'MainPage');")))
        page.wait_for_load_state("load")
        wait_until(lambda: any("no site not-a-site" in m for m in messages), page=page)
        # The loader's queue is still there and calling eS still works without an error.
        assert page.evaluate("eS('sendEvent', 'NotFound'), window.eS.q.length") == 2
    finally:
        shop.close()
