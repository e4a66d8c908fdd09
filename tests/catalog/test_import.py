"""Feed imports on SQLite and PostgreSQL: reports, products, categories, failures, history."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text

from shoptrack.catalog import generations
from shoptrack.catalog.fields import category_id
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import catalog_products, metadata
from tests.catalog.conftest import Catalog
from tests.catalog.feedfiles import BILLION_LAUGHS, atom, product, rss, table, xxe


def item_lines(content: bytes) -> list[int]:
    """The line of each <item> of a document, as a parser reports it."""
    return [n for n, line in enumerate(content.split(b"\n"), 1) if line.startswith(b"<item")]


def test_rss_import_counts_everything_in_its_report(catalog: Catalog) -> None:
    content = rss(
        product("A", sale_price="8.00 USD", google_product_category="Shoes > Sneakers > Run"),
        product("B", price="0.00 USD", availability="out of stock"),
        product("C", google_product_category=""),
        product("A", title="A again"),  # a duplicate in the next batch
        {"title": "an item without id"},
        product("F", price="", image_link="", extra_field="kept"),
    )
    lines = item_lines(content)
    outcome = catalog.run(catalog.file_feed(content))
    assert outcome.status == "ok", outcome.error
    report = outcome.report
    assert report["format"] == "rss"
    assert report["items"] == 6
    assert report["products"] == 4
    assert report["in_stock"] == 3 and report["out_of_stock"] == 1
    assert report["price_zero"] == 2  # B's 0.00 and F's missing price
    assert report["without_category"] == 1
    assert report["missing"] == {"image_link": 1, "price": 1}
    assert report["duplicates"]["count"] == 1
    duplicate = report["duplicates"]["examples"][0]
    assert duplicate == {"key": "A", "line": lines[3], "first_line": None}
    message = "item without g:id (the product key)"
    assert report["errors"]["examples"] == [{"line": lines[4], "field": "id", "message": message}]
    assert report["categories"] == 3  # Shoes, Shoes > Sneakers, Shoes > Sneakers > Run

    assert catalog.keys() == ["A", "B", "C", "F"]
    a = catalog.product("A")
    assert (a["price"], a["regular_price"], a["sale_price"], a["currency"]) == (8, 10, 8, "USD")
    assert a["title"] == "Product A" and a["in_stock"] is True
    assert a["categories"] == ["Shoes > Sneakers > Run"]
    assert [(h["source"], h["price"], h["old_price"]) for h in a["history"]] == [("feed", 8, None)]
    assert catalog.product("F")["attributes"] == {"tags_extra_field": ["kept"]}

    stored = catalog.feeds.imports(catalog.site_id, outcome.feed_id)
    assert stored[0]["status"] == "ok" and stored[0]["report"]["products"] == 4


def test_atom_and_csv_feeds_import_the_same_way(catalog: Catalog) -> None:
    items = [product("A1", description="first"), product("A2", brand="Acme")]
    for content, name, fmt in (
        (atom(*items), "feed.atom", "atom"),
        (table(*items), "feed.csv", "csv"),
        (table(*items, delimiter="\t"), "feed.tsv", "tsv"),
    ):
        feed = catalog.file_feed(content, name)
        outcome = catalog.run(feed)
        assert outcome.status == "ok", outcome.error
        assert outcome.report["format"] == fmt and outcome.report["products"] == 2
        first = catalog.product("A1")
        assert first["link"] == "https://shop.example/p/A1"
        assert first["description"] == "first"
        assert catalog.product("A2")["brand"] == "Acme"


def test_category_keys_match_any_level_a_path_or_an_id(catalog: Catalog) -> None:
    feed = catalog.file_feed(
        rss(
            product("run", google_product_category="Shoes > Sneakers > Running"),
            product("trail", google_product_category="Shoes > Sneakers > Trail"),
            product("boot", google_product_category="Shoes > Boots", product_type="Winter"),
            product("google", google_product_category="2271"),
            product("none", google_product_category=""),
        )
    )
    assert catalog.run(feed).status == "ok"
    assert catalog.keys(category="Shoes") == ["boot", "run", "trail"]
    assert catalog.keys(category="sneakers") == ["run", "trail"]
    assert catalog.keys(category="Shoes > Sneakers > Trail") == ["trail"]
    assert catalog.keys(category="winter") == ["boot"]
    assert catalog.keys(category="2271") == ["google"]
    assert catalog.keys(category=str(category_id("Shoes > Boots"))) == ["boot"]
    assert catalog.keys(category="Hats") == []

    tree = catalog.queries.category_tree(catalog.site_id)
    assert [(n["name"], n["total"]) for n in tree] == [("2271", 1), ("Shoes", 3), ("Winter", 1)]
    shoes = tree[1]
    assert [(n["name"], n["products"], n["total"]) for n in shoes["children"]] == [
        ("Boots", 1, 1),
        ("Sneakers", 0, 2),
    ]
    sneakers = shoes["children"][1]
    assert [n["path"] for n in sneakers["children"]] == [
        "Shoes > Sneakers > Running",
        "Shoes > Sneakers > Trail",
    ]


def test_text_search_stock_filter_and_paging(catalog: Catalog) -> None:
    feed = catalog.file_feed(
        rss(
            product("p1", title="Red 100% cotton shirt"),
            product("p2", title="Blue shirt", availability="out of stock"),
            product("p3", title="Green hat", brand="ShirtCo"),
        )
    )
    assert catalog.run(feed).status == "ok"
    assert catalog.keys(q="SHIRT") == ["p1", "p2", "p3"]
    assert catalog.keys(q="100%") == ["p1"]
    assert catalog.keys(q="_") == []
    assert catalog.keys(in_stock=True) == ["p1", "p3"]
    assert catalog.keys(in_stock=False) == ["p2"]
    page = catalog.queries.products(catalog.site_id, limit=2, after="p1")
    assert [p["key"] for p in page] == ["p2", "p3"]


def _row_count(catalog: Catalog) -> int:
    with catalog.engine.connect() as conn:
        stmt = select(func.count()).select_from(catalog_products)
        return int(conn.execute(stmt).scalar_one())


FAILURES: list[tuple[str, bytes | None, str]] = [
    (
        "malformed",
        b"".join(rss(*(product(f"N{n}") for n in range(5))).rsplit(b"</g:price>", 1)),
        "invalid_xml",
    ),
    ("json", b'{"items": [1, 2]}', "not_a_feed"),
    ("html", b"<html><head><title>Shop</title></head></html>", "unsupported_format"),
    ("empty", rss(), "no_items"),
    ("no-ids", rss({"title": "no id"}), "no_items"),
    ("xml-bomb", BILLION_LAUGHS, "forbidden_dtd"),
    ("missing-file", None, "unreachable"),
]


def test_a_failed_import_keeps_the_last_good_catalogue(catalog: Catalog) -> None:
    feed = catalog.file_feed(rss(product("K1"), product("K2"), product("K3"), product("K4")))
    assert catalog.run(feed).status == "ok"
    before = catalog.product("K1")
    for name, content, code in FAILURES:
        if content is None:
            Path(feed.url).unlink()
        else:
            catalog.rewrite(feed, content)
        outcome = catalog.run(feed)
        assert outcome.status == "failed", name
        assert outcome.error is not None and outcome.error["code"] == code, name
        if name == "malformed":
            assert outcome.error["line"] > 1
            assert outcome.report["products"] == 3  # staged before the error, then discarded
        assert catalog.keys() == ["K1", "K2", "K3", "K4"], name
        assert catalog.product("K1") == before, name
        assert _row_count(catalog) == 4, name  # the staging generation is gone
        stored = catalog.feeds.get(feed.site_id, feed.feed_id)
        assert stored is not None and stored.last_status == "failed"
        record = catalog.feeds.imports(catalog.site_id, feed.feed_id)[0]
        assert record["error"]["code"] == code and record["status"] == "failed"


def test_external_entities_are_never_read_into_the_catalogue(catalog: Catalog) -> None:
    secret = catalog.tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE-42")
    outcome = catalog.run(catalog.file_feed(xxe(str(secret))))
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["code"] == "forbidden_dtd"
    with catalog.engine.connect() as conn:
        for table_ in metadata.sorted_tables:
            if table_.name.startswith("catalog_"):
                for row in conn.execute(select(table_)):
                    assert "TOP-SECRET" not in repr(tuple(row)), table_.name


def test_a_second_import_adds_removes_and_records_changes(catalog: Catalog) -> None:
    feed = catalog.file_feed(rss(product("A"), product("B", price="20 USD"), product("C")))
    assert catalog.run(feed).status == "ok"
    catalog.rewrite(
        feed,
        rss(
            product("A"),
            product("B", price="25 USD", availability="out of stock"),
            product("D"),
        ),
    )
    outcome = catalog.run(feed)
    assert outcome.status == "ok"
    assert outcome.report["new_products"] == 1 and outcome.report["removed_products"] == 1
    assert catalog.keys() == ["A", "B", "D"]
    history = catalog.product("B")["history"]
    assert [(h["price"], h["old_price"], h["in_stock"], h["old_in_stock"]) for h in history] == [
        (25, 20, False, True),
        (20, None, True, None),
    ]
    assert len(catalog.product("A")["history"]) == 1  # unchanged: no new row
    assert _row_count(catalog) == 3  # the previous generation was deleted


def test_one_import_at_a_time_per_site(catalog: Catalog) -> None:
    feed = catalog.file_feed(rss(product("A")))
    assert catalog.run(feed).status == "ok"
    other = generations.Lease(catalog.site_id, "another-process", 60_000)
    generations.acquire(catalog.engine, other, now_ms())
    outcome = catalog.run(feed)
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["code"] == "busy"
    generations.release(catalog.engine, other, discard=True)
    assert catalog.keys() == ["A"]
    assert catalog.run(feed).status == "ok"


def test_no_staging_rows_survive_an_import(catalog: Catalog) -> None:
    feed = catalog.file_feed(rss(*(product(f"P{n}") for n in range(10))))
    for _ in range(3):
        assert catalog.run(feed).status == "ok"
    with catalog.engine.connect() as conn:
        generations_left = conn.execute(
            text("SELECT DISTINCT generation FROM catalog_products")
        ).all()
    assert len(generations_left) == 1
