"""Feed import results reach /metrics: ``shoptrack_feed_imports_total`` by status."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from tests.catalog.conftest import Catalog
from tests.catalog.feedfiles import product, rss


def imports(status: str) -> float:
    value = REGISTRY.get_sample_value("shoptrack_feed_imports_total", {"status": status})
    return value or 0.0


def timed(status: str) -> float:
    name = "shoptrack_feed_import_duration_seconds_count"
    return REGISTRY.get_sample_value(name, {"status": status}) or 0.0


def test_each_import_is_counted_by_its_result(catalog: Catalog) -> None:
    ok, failed, timed_ok = imports("ok"), imports("failed"), timed("ok")
    feed = catalog.file_feed(rss(product("M1"), product("M2")))
    assert catalog.run(feed).status == "ok"
    Path(feed.url).unlink()
    assert catalog.run(feed).status == "failed"
    assert imports("ok") - ok == 1
    assert imports("failed") - failed == 1
    assert timed("ok") - timed_ok == 1
