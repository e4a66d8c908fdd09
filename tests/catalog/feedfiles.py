"""Feed documents made by the tests: Google Merchant RSS 2.0, Atom 1.0 and CSV / TSV."""

from __future__ import annotations

import csv
import io
from xml.sax.saxutils import escape, quoteattr

G = "http://base.google.com/ns/1.0"
Item = dict[str, str | list[str]]
_RSS_OWN = ("title", "link", "description")


def _values(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def rss(*items: Item, channel_title: str = "Test shop") -> bytes:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<rss version="2.0" xmlns:g="{G}">',
        f"<channel><title>{escape(channel_title)}</title><link>https://shop.example/</link>",
    ]
    for item in items:
        out.append("<item>")
        for name, value in item.items():
            tag = name if name in _RSS_OWN else f"g:{name}"
            out.extend(f"  <{tag}>{escape(v)}</{tag}>" for v in _values(value))
        out.append("</item>")
    out.append("</channel></rss>")
    return "\n".join(out).encode()


def atom(*items: Item) -> bytes:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="{G}">',
        "<title>Test shop</title><id>tag:shop.example,2026:feed</id>",
    ]
    for item in items:
        out.append(
            "<entry><id>tag:shop.example,2026:entry</id><updated>2026-01-01T00:00:00Z</updated>"
        )
        for name, value in item.items():
            for v in _values(value):
                if name == "link":
                    out.append(f'  <link rel="alternate" href={quoteattr(v)}/>')
                elif name == "title":
                    out.append(f"  <title>{escape(v)}</title>")
                elif name == "description":
                    out.append(f"  <summary>{escape(v)}</summary>")
                else:
                    out.append(f"  <g:{name}>{escape(v)}</g:{name}>")
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out).encode()


def table(*items: Item, delimiter: str = ",") -> bytes:
    columns: list[str] = []
    for item in items:
        columns.extend(name for name in item if name not in columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow([";".join(_values(item.get(c, ""))) for c in columns])
    return buffer.getvalue().encode()


def product(key: str, **fields: str | list[str]) -> Item:
    """An item with the usual fields filled in; keyword arguments override or add fields."""
    item: Item = {
        "id": key,
        "title": f"Product {key}",
        "link": f"https://shop.example/p/{key}",
        "image_link": f"https://shop.example/img/{key}.jpg",
        "price": "10.00 USD",
        "availability": "in stock",
        "google_product_category": "Shoes > Sneakers",
    }
    item.update(fields)
    return {k: v for k, v in item.items() if v != ""}


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (n, (b"&lol%d;" % (n - 1) if n > 2 else b"&lol;") * 10)
        for n in range(2, 10)
    )
    + b"]>\n"
    + f'<rss version="2.0" xmlns:g="{G}"><channel>'.encode()
    + b"<item><g:id>1</g:id><title>&lol9;</title></item></channel></rss>\n"
)


def xxe(secret_path: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret_path}">]>\n'
        f'<rss version="2.0" xmlns:g="{G}"><channel>'
        "<item><g:id>X1</g:id><title>&xxe;</title><g:description>&xxe;</g:description></item>"
        "</channel></rss>\n"
    ).encode()
