"""The parsers alone: field mapping per format, line numbers, refusals (no database)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.fields import FeedItem, Problem, RawItem, build_item, category_id
from shoptrack.catalog.formats import open_items
from shoptrack.catalog.schedule import ScheduleError, parse_schedule
from tests.catalog.feedfiles import BILLION_LAUGHS, atom, product, rss, table, xxe

MB = 1024 * 1024


def read(data: bytes) -> tuple[str | None, list[FeedItem], list[Problem]]:
    reader = open_items(io.BytesIO(data), max_bytes=10 * MB)
    items: list[FeedItem] = []
    problems: list[Problem] = []
    for entry in reader:
        if isinstance(entry, Problem):
            problems.append(entry)
            continue
        assert isinstance(entry, RawItem)
        item, found = build_item(entry)
        problems.extend(found)
        if item is not None:
            items.append(item)
    return reader.format, items, problems


def refused(data: bytes) -> FeedError:
    with pytest.raises(FeedError) as caught:
        read(data)
    return caught.value


FULL = product(
    "SKU-1",
    title="Running shoe",
    description="Light & fast",
    brand="Acme",
    price="15.00 USD",
    sale_price="12.50 USD",
    google_product_category="Apparel > Shoes > Sneakers",
    product_type=["Sale > Summer", "Shoes"],
    new="true",
    item_group_id="G-1",
    color="red",
    size=["41", "42"],
)


def check_full(item: FeedItem) -> None:
    assert item.key == "SKU-1"
    assert item.title == "Running shoe"
    assert item.description == "Light & fast"
    assert item.link == "https://shop.example/p/SKU-1"
    assert item.image_link == "https://shop.example/img/SKU-1.jpg"
    assert item.brand == "Acme"
    assert (item.regular_price, item.sale_price, item.price) == (15.0, 12.5, 12.5)
    assert item.currency == "USD"
    assert item.in_stock is True and item.availability == "in stock"
    assert item.categories == ["Apparel > Shoes > Sneakers", "Sale > Summer", "Shoes"]
    assert item.is_new is True
    assert item.item_group_id == "G-1"
    assert item.attributes["tags_color"] == ["red"]


def test_rss_maps_every_field_and_keeps_the_rest_as_tags() -> None:
    fmt, items, problems = read(rss(FULL))
    assert fmt == "rss" and problems == []
    check_full(items[0])
    assert items[0].attributes["tags_size"] == ["41", "42"]
    assert items[0].line == 4


def test_atom_maps_the_same_fields() -> None:
    fmt, items, problems = read(atom(FULL))
    assert fmt == "atom" and problems == []
    check_full(items[0])
    assert "tags_id" not in items[0].attributes  # Atom's own <id> is not the product key


def test_csv_and_tsv_use_the_same_field_names() -> None:
    one = {**FULL, "size": "41", "product_type": "Sale > Summer"}
    for delimiter, expected in ((",", "csv"), ("\t", "tsv")):
        data = table(one, product("SKU-2"), delimiter=delimiter)
        data = data.replace(b"Apparel > Shoes > Sneakers", b"Apparel>Shoes >Sneakers")
        fmt, items, problems = read(data)
        assert fmt == expected and problems == []
        items[0].categories.append("Shoes")
        check_full(items[0])
        assert items[0].attributes["tags_size"] == ["41"]
        assert [i.line for i in items] == [2, 3]


def test_csv_line_numbers_count_quoted_newlines() -> None:
    data = b'id,title,price\n1,"two\nlines",1 USD\n2,b,oops\n'
    _, items, problems = read(data)
    assert [i.line for i in items] == [2, 4]
    assert problems[0].line == 4 and problems[0].field == "price"


def test_missing_fields_and_bad_values_are_reported_per_line() -> None:
    data = rss(
        {"id": "A", "title": "only a title"},
        {"title": "no id here"},
        {"id": "B", "price": "abc", "availability": "maybe", "new": "perhaps"},
    )
    _, items, problems = read(data)
    assert [i.key for i in items] == ["A", "B"]
    assert items[0].price is None and items[0].categories == []
    by_field = {(p.field, p.line) for p in problems}
    assert ("id", 8) in by_field
    assert {f for f, _ in by_field} == {"id", "price", "availability", "new"}
    assert all(p.line > 0 for p in problems)


def test_malformed_xml_is_refused_with_its_line() -> None:
    data = rss(product("A"), product("B")).replace(b"</g:price>", b"", 1)
    error = refused(data)
    assert error.code is FeedErrorCode.INVALID_XML
    assert error.line is not None and error.line > 3
    assert f"line {error.line}" in error.message


def test_xml_bomb_is_refused_before_expansion() -> None:
    error = refused(BILLION_LAUGHS)
    assert error.code is FeedErrorCode.FORBIDDEN_DTD
    assert "DOCTYPE" in error.message


@pytest.mark.parametrize(
    "prolog",
    [
        b"",
        b'<?xml version="1.0" encoding="utf-8"?>\n<!-- made by the shop -->\n',
        b"\xef\xbb\xbf  \n<?xml-stylesheet href='a.xsl'?>",
    ],
)
def test_any_doctype_is_refused_by_name_before_parsing(prolog: bytes) -> None:
    # A DOCTYPE with no entities at all: only our own rule can refuse it, and the message
    # must not depend on which libxml2 error comes first.
    error = refused(prolog + b"<!DOCTYPE rss>\n" + rss(product("A")))
    assert error.code is FeedErrorCode.FORBIDDEN_DTD
    assert "DOCTYPE" in error.message


def test_a_utf16_feed_is_read_and_its_doctype_refused() -> None:
    text = rss(product("A"), product("B")).decode()
    _, items, _ = read(text.encode("utf-16"))
    assert [i.key for i in items] == ["A", "B"]
    error = refused(BILLION_LAUGHS.decode().encode("utf-16"))
    assert error.code is FeedErrorCode.FORBIDDEN_DTD and "DOCTYPE" in error.message


def test_a_prolog_longer_than_the_sniffed_head_is_refused() -> None:
    padding = b"<!--" + b"x" * (70 * 1024) + b"-->"
    error = refused(padding + rss(product("A")))
    assert error.code is FeedErrorCode.INVALID_XML
    assert "no root element" in error.message


def test_items_before_a_syntax_error_are_read() -> None:
    data = rss(*(product(f"N{n}") for n in range(5)))
    broken = b"".join(data.rsplit(b"</g:price>", 1))
    reader = open_items(io.BytesIO(broken), max_bytes=MB)
    seen: list[str] = []
    with pytest.raises(FeedError) as caught:
        for entry in reader:
            assert isinstance(entry, RawItem)
            seen.append(entry.fields["id"][0])
    assert caught.value.code is FeedErrorCode.INVALID_XML
    assert seen == ["N0", "N1", "N2", "N3"]


def test_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    error = refused(xxe(str(secret)))
    assert error.code is FeedErrorCode.FORBIDDEN_DTD
    assert "TOP-SECRET" not in error.message


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", FeedErrorCode.NOT_A_FEED),
        (b'{"products": []}', FeedErrorCode.NOT_A_FEED),
        (b"<html><body>Shop</body></html>", FeedErrorCode.UNSUPPORTED_FORMAT),
        (b"<products><product/></products>", FeedErrorCode.UNSUPPORTED_FORMAT),
        (b"name,price\nshoe,1\n", FeedErrorCode.NOT_A_FEED),
        (b"<rss><channel><item><g:id>1</g:id>", FeedErrorCode.INVALID_XML),
    ],
)
def test_not_a_feed(data: bytes, code: FeedErrorCode) -> None:
    assert refused(data).code is code


def test_gzip_files_are_unpacked_within_the_size_cap() -> None:
    data = rss(*(product(f"K{n}") for n in range(50)))
    _, items, _ = read(gzip.compress(data))
    assert len(items) == 50
    bomb = gzip.compress(b"<rss>" + b" " * (3 * MB) + b"</rss>")
    with pytest.raises(FeedError) as caught:
        list(open_items(io.BytesIO(bomb), max_bytes=MB))
    assert caught.value.code is FeedErrorCode.TOO_LARGE


def test_category_ids_are_stable_and_case_blind() -> None:
    assert category_id("Shoes > Sneakers") == category_id("shoes > SNEAKERS")
    assert 0 < category_id("Shoes") < 2**48


def test_schedules() -> None:
    now = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
    hour, day = 3_600_000, 86_400_000
    assert parse_schedule("hourly").next_after(now) == now + hour
    assert parse_schedule("daily@03:00").next_after(now) == now + 3 * hour
    assert parse_schedule("daily@03:00").next_after(now + 4 * hour) == now + day + 3 * hour
    assert parse_schedule("every 6h").next_after(now) == now + 6 * hour
    assert parse_schedule("weekly").next_after(now) == now + 4 * day  # next Monday 00:00
    assert parse_schedule("Weekly@Fri@12:30").next_after(now) == now + day + 12 * hour + 1_800_000
    for bad in ("daily@25:00", "every 1m", "sometimes", "weekly@xyz"):
        with pytest.raises(ScheduleError):
            parse_schedule(bad)


def test_only_web_addresses_are_kept_for_links_and_images() -> None:
    data = rss(
        product("A", link="javascript:alert(1)", image_link="data:image/svg+xml;base64,PHN2Zz4="),
        product("B", link="HTTPS://shop.example/b", image_link="//cdn.example/b.jpg"),
    )
    _, items, problems = read(data)
    a, b = items
    assert (a.link, a.image_link) == (None, None)
    assert (b.link, b.image_link) == ("HTTPS://shop.example/b", None)
    refused = sorted((p.line, p.field) for p in problems)
    assert [field for _, field in refused] == ["image_link", "link", "image_link"]
    assert all("alert" not in p.message and "PHN2" not in p.message for p in problems)
