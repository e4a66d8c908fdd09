"""The Catalogue pages: feeds added, imported now and deleted by form; reports; products."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shoptrack.catalog.service import CatalogService
from shoptrack.config import Settings
from tests.catalog.feedfiles import product, rss
from tests.catalog.httpserver import FeedServer, Route, feed_server
from tests.support.admin import AdminClient, admin_client_for


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        key_file=tmp_path / "shoptrack.keys",
        commit_interval_ms=1,
        run_processors=False,
        feed_timeout_s=5,
        feed_allow_private_hosts=True,  # the tests' feed server listens on 127.0.0.1
    )


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def catalog_of(admin: AdminClient) -> CatalogService:
    service: CatalogService = admin.app.state.catalog  # type: ignore[attr-defined]
    return service


def page(admin: AdminClient, path: str) -> str:
    answer = admin.get(path)
    assert answer.status_code == 200, answer.text
    return html.unescape(answer.text)


def base(admin: AdminClient) -> str:
    return f"/admin/sites/{admin.site_id}/catalog"


def add_feed(admin: AdminClient, url: str, schedule: str = "") -> str:
    answer = admin.submit(f"{base(admin)}/feeds", {"url": url, "schedule": schedule})
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{base(admin)}?added=fd_")
    return location.split("added=")[1]


def import_now(admin: AdminClient, feed_id: str) -> str:
    """Import by the page's button; the import's page once it has ended."""
    answer = admin.submit(f"{base(admin)}/feeds/{feed_id}/import")
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{base(admin)}/imports/im_")
    deadline = time.monotonic() + 20
    while True:
        text = page(admin, location)
        if "still running" not in text:
            return text
        assert time.monotonic() < deadline, "the import did not end"
        time.sleep(0.05)


def test_a_feed_added_by_form_is_listed_with_its_schedule(
    admin_client: AdminClient, server: FeedServer
) -> None:
    feed_id = add_feed(admin_client, server.url("/feed.xml"), "daily@03:00")
    text = page(admin_client, f"{base(admin_client)}?added={feed_id}")
    assert f"Feed {feed_id} added." in text
    assert server.url("/feed.xml") in text and "daily@03:00" in text
    assert "Import now" in text and "Delete…" in text
    # The same feed through the API's reader: one repository, not a copy.
    [feed] = catalog_of(admin_client).feeds.list_feeds(admin_client.site_id)
    assert (feed.feed_id, feed.schedule) == (feed_id, "daily@03:00")


def test_a_bad_feed_is_refused_on_the_form_naming_the_field(
    admin_client: AdminClient, tmp_path: Path
) -> None:
    cases = [
        ({"url": "https://shop.example/feed.xml", "schedule": "sometimes"}, "schedule"),
        ({"url": "ftp://shop.example/feed.xml", "schedule": ""}, "url"),
        # A file on the server: the CLI may add one, a dashboard user may not.
        ({"url": str(tmp_path / "feed.xml"), "schedule": ""}, "url"),
        ({"url": "https://shop.example/" + "x" * 4100, "schedule": ""}, "url"),
    ]
    (tmp_path / "feed.xml").write_bytes(rss(product("a")))
    for data, field in cases:
        answer = admin_client.submit(f"{base(admin_client)}/feeds", data)
        assert answer.status_code == 400, (data, answer.text)
        text = html.unescape(answer.text)
        assert f'id="feed-{field}-error"' in text, (data, text)
        assert f"{field}:" in text or "schedule" in text
        assert 'aria-invalid="true"' in text
    assert catalog_of(admin_client).feeds.list_feeds(admin_client.site_id) == []


def test_import_now_queues_an_import_whose_report_is_shown(
    admin_client: AdminClient, server: FeedServer
) -> None:
    server.routes["/feed.xml"] = Route(
        rss(product("a"), product("b", availability="out of stock"), {"title": "no id"})
    )
    feed_id = add_feed(admin_client, server.url("/feed.xml"))
    report = import_now(admin_client, feed_id)
    assert "<dd>ok</dd>" in report and "Started by</dt><dd>api" in report
    assert '<th scope="row">Products</th><td>2</td>' in report
    assert '<th scope="row">Out of stock</th><td>1</td>' in report
    assert "Errors: 1" in report and "item without g:id" in report
    listing = page(admin_client, base(admin_client))
    assert "Last imports" in listing and f"<td>{feed_id}</td>" in listing
    assert " s</td>" in listing  # its duration


def test_import_now_of_a_local_file_feed_and_a_failing_one(
    admin_client: AdminClient, server: FeedServer, tmp_path: Path
) -> None:
    # A file feed, added on the server's command line (files are the CLI's only).
    path = tmp_path / "feed.csv"
    path.write_bytes(b"id,title,price,availability\nk1,Kettle,20.00 EUR,in stock\n")
    feed = catalog_of(admin_client).feeds.add(
        admin_client.site_id, str(path), None, allow_files=True
    )
    report = import_now(admin_client, feed.feed_id)
    assert "<dd>ok</dd>" in report and '<th scope="row">Products</th><td>1</td>' in report
    # A feed whose server answers 500: the failure and its message are shown.
    server.routes["/down.xml"] = Route(status=500)
    failing = add_feed(admin_client, server.url("/down.xml"))
    report = import_now(admin_client, failing)
    assert "<dd>failed</dd>" in report and "The last good catalogue is still live." in report


def test_delete_asks_first_then_deletes(admin_client: AdminClient, server: FeedServer) -> None:
    feed_id = add_feed(admin_client, server.url("/feed.xml"))
    confirm = page(admin_client, f"{base(admin_client)}/feeds/{feed_id}/delete")
    assert f"Delete feed {feed_id}?" in confirm and 'name="csrf_token"' in confirm
    assert catalog_of(admin_client).feeds.get(admin_client.site_id, feed_id) is not None
    answer = admin_client.submit(f"{base(admin_client)}/feeds/{feed_id}/delete")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{base(admin_client)}?deleted={feed_id}"
    assert catalog_of(admin_client).feeds.get(admin_client.site_id, feed_id) is None
    listing = page(admin_client, answer.headers["location"])
    assert f"Feed {feed_id} deleted." in listing and server.url("/feed.xml") not in listing
    gone = admin_client.get(f"{base(admin_client)}/feeds/{feed_id}/delete")
    assert gone.status_code == 404
    # The notice names feed ids only: a crafted link cannot put words on the page.
    crafted = page(admin_client, f"{base(admin_client)}?deleted=every+product")
    assert "every product" not in crafted and "deleted." not in crafted


def test_products_are_searched_and_paged_and_a_product_shows_its_history(
    admin_client: AdminClient, server: FeedServer
) -> None:
    server.routes["/feed.xml"] = Route(
        rss(
            product("shoe/1", title="Red shoe", price="10.00 USD"),
            product("shoe-2", title="Blue shoe"),
            product("hat", title="Green hat"),
        )
    )
    feed_id = add_feed(admin_client, server.url("/feed.xml"))
    import_now(admin_client, feed_id)
    server.routes["/feed.xml"] = Route(
        rss(
            product("shoe/1", title="Red shoe", price="8.00 USD", availability="out of stock"),
            product("shoe-2", title="Blue shoe"),
            product("hat", title="Green hat"),
        )
    )
    import_now(admin_client, feed_id)

    products = f"{base(admin_client)}/products"
    found = page(admin_client, f"{products}?q=SHOE")
    assert "Red shoe" in found and "Blue shoe" in found and "Green hat" not in found
    first = page(admin_client, f"{products}?limit=2")
    assert "Green hat" in first and "Blue shoe" in first and "Red shoe" not in first
    assert "after=shoe-2&limit=2" in first  # the next page starts after the last key
    second = page(admin_client, f"{products}?limit=2&after=shoe-2")
    assert "Red shoe" in second and "Green hat" not in second
    assert "product?key=shoe/1" in second

    detail = page(admin_client, f"{base(admin_client)}/product?key=shoe/1")
    assert "<h1>Red shoe</h1>" in detail
    # Both changes were today: a table, no chart (a chart of one day would be a dot).
    assert '<svg class="chart"' not in detail and "spans two days" in detail
    rows = detail.split("<h2>Price history</h2>")[1]
    assert rows.index("8.00") < rows.index("10.00")  # newest first
    assert rows.count('<th scope="row">') == 2
    missing = admin_client.get(f"{base(admin_client)}/product?key=nope")
    assert missing.status_code == 404 and "no product" in missing.text


def test_another_sites_user_gets_404_and_changes_need_the_forms_token(
    client: TestClient,
    admin_client: AdminClient,
    server: FeedServer,
    site: tuple[str, str],
) -> None:
    feed_id = add_feed(admin_client, server.url("/feed.xml"))
    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    other_site = repo.create("Another shop")[0].site_id
    stranger = admin_client_for(client, other_site, "stranger@example.com")
    mine = base(admin_client)
    for path in (mine, f"{mine}/products", f"{mine}/feeds/{feed_id}/delete"):
        assert stranger.get(path).status_code == 404, path
    for path in (
        f"{mine}/feeds",
        f"{mine}/feeds/{feed_id}/import",
        f"{mine}/feeds/{feed_id}/delete",
    ):
        assert stranger.submit(path, {"url": server.url("/x.xml")}).status_code == 404, path
    # The site's own user without the form's token: 403, nothing changed.
    forged = admin_client.post(f"{mine}/feeds/{feed_id}/delete", data={})
    assert forged.status_code == 403 and "expired" in forged.text
    wrong = admin_client.post(
        f"{mine}/feeds", data={"url": server.url("/y.xml"), "csrf_token": "x"}
    )
    assert wrong.status_code == 403
    feeds = catalog_of(admin_client).feeds.list_feeds(site[0])
    assert [f.feed_id for f in feeds] == [feed_id]


def test_an_unchanged_feed_can_be_imported_anyway(
    admin_client: AdminClient, server: FeedServer
) -> None:
    server.routes["/feed.xml"] = Route(rss(product("a")), etag='"v1"')
    feed_id = add_feed(admin_client, server.url("/feed.xml"))
    first = import_now(admin_client, feed_id)
    assert "<dd>ok</dd>" in first and "Import it anyway" not in first
    again = import_now(admin_client, feed_id)
    assert "<dd>not_modified</dd>" in again and "has not changed" in again
    assert server.requests[-1].get("if-none-match") == '"v1"'
    answer = admin_client.submit(f"{base(admin_client)}/feeds/{feed_id}/import", {"force": "on"})
    assert answer.status_code == 303
    deadline = time.monotonic() + 20
    while "still running" in (forced := page(admin_client, answer.headers["location"])):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "<dd>ok</dd>" in forced
    assert "if-none-match" not in server.requests[-1]  # asked for the whole feed
