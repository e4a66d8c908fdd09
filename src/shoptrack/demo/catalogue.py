"""The demo shop's catalogue: generated products written as a Google Merchant feed and imported
through the real feed importer, twice, so the catalogue has import reports and a price and
stock history.

The second import changes what a shop's next feed would: some prices drop or rise, some
products sell out or come back, a few are new, a few are gone, and two items are malformed
(the import report lists them). Products carry no image links: the demo has no image server,
and pages showing a product must not try to fetch from a host that does not exist.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import Engine

from shoptrack.catalog.feeds import FeedRepository
from shoptrack.catalog.importer import FeedImporter, ImportOutcome
from shoptrack.config import Settings

SHOP_URL = "https://shop.example"
CURRENCY = "USD"
_G = "http://base.google.com/ns/1.0"

# (category path, typical price, the nouns its products are named after)
_CATEGORIES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("Apparel > Shoes > Running", 95, ("Running Shoe", "Trail Shoe", "Racing Flat")),
    ("Apparel > Shoes > Casual", 70, ("Sneaker", "Loafer", "Canvas Shoe")),
    ("Apparel > Jackets", 140, ("Rain Jacket", "Down Jacket", "Softshell", "Windbreaker")),
    ("Apparel > Shirts", 35, ("T-Shirt", "Polo", "Flannel Shirt", "Base Layer")),
    ("Bags > Backpacks", 80, ("Backpack", "Daypack", "Rolltop Pack")),
    ("Bags > Travel", 160, ("Duffel", "Carry-on", "Weekender")),
    ("Outdoor > Camping", 120, ("Tent", "Sleeping Bag", "Camp Stove", "Headlamp")),
    ("Outdoor > Cycling", 60, ("Bike Light", "Helmet", "Saddle Bag", "Bottle Cage")),
    ("Home > Kitchen", 45, ("Coffee Grinder", "Chef Knife", "Cast Iron Pan", "Kettle")),
    ("Home > Living", 55, ("Throw Blanket", "Floor Lamp", "Cushion", "Wall Clock")),
    ("Electronics > Audio", 110, ("Headphones", "Earbuds", "Speaker")),
    ("Electronics > Wearables", 190, ("Sport Watch", "Fitness Band", "Smart Ring")),
)
_BRANDS = (
    "Northpeak", "Fjordline", "Kestrel", "Alder & Co", "Brightwater", "Summit Lab",
    "Urban Fox", "Helio", "Marlow", "Tundra", "Quillon", "Saltmarsh", "Vireo", "Oakhaven",
)  # fmt: skip
_ADJECTIVES = (
    "Classic", "Lightweight", "Pro", "Everyday", "Ultra", "Compact", "Insulated", "Recycled",
    "Waterproof", "Merino", "Essential", "Trail", "City", "Heritage", "Active", "Studio",
)  # fmt: skip
_COLOURS = ("black", "navy", "olive", "grey", "red", "sand", "white", "blue")


@dataclass(frozen=True, slots=True)
class DemoProduct:
    key: str
    title: str
    brand: str
    category: str
    price: float
    sale_price: float | None
    in_stock: bool
    colour: str

    @property
    def selling_price(self) -> float:
        return self.sale_price if self.sale_price is not None else self.price

    @property
    def link(self) -> str:
        return f"{SHOP_URL}/product/{self.key}"


def generate_products(count: int, rng: random.Random) -> list[DemoProduct]:
    """``count`` products over the categories, with brands, prices (charm-rounded) and stock."""
    products: list[DemoProduct] = []
    for number in range(count):
        category, typical, nouns = _CATEGORIES[number % len(_CATEGORIES)]
        brand = rng.choice(_BRANDS)
        title = f"{brand} {rng.choice(_ADJECTIVES)} {rng.choice(nouns)}"
        price = max(4.0, round(typical * rng.lognormvariate(0, 0.35))) - 0.01
        sale = round(price * rng.choice((0.7, 0.8, 0.85)), 2) if rng.random() < 0.12 else None
        products.append(
            DemoProduct(
                key=f"SKU-{10001 + number}",
                title=title,
                brand=brand,
                category=category,
                price=price,
                sale_price=sale,
                in_stock=rng.random() < 0.9,
                colour=rng.choice(_COLOURS),
            )
        )
    return products


def next_season(products: list[DemoProduct], rng: random.Random) -> list[DemoProduct]:
    """The next feed: ~10 % of prices change, ~5 % of stock flips, 2 % gone, a few new."""
    changed: list[DemoProduct] = []
    for product in products:
        roll = rng.random()
        if roll < 0.02:
            continue  # no longer sold
        if roll < 0.12:
            factor = rng.choice((0.8, 0.9, 1.1))
            product = replace(product, price=round(product.price * factor, 2), sale_price=None)
        elif roll < 0.17:
            product = replace(product, in_stock=not product.in_stock)
        changed.append(product)
    newcomers = generate_products(len(products) + 8, rng)[len(products) :]
    return changed + newcomers


def _item(product: DemoProduct) -> str:
    fields = [
        f"<g:id>{escape(product.key)}</g:id>",
        f"<title>{escape(product.title)}</title>",
        f"<link>{escape(product.link)}</link>",
        f"<description>{escape(product.title)} in {product.colour}.</description>",
        f"<g:brand>{escape(product.brand)}</g:brand>",
        f"<g:product_type>{escape(product.category)}</g:product_type>",
        f"<g:price>{product.price:.2f} {CURRENCY}</g:price>",
        f"<g:availability>{'in stock' if product.in_stock else 'out of stock'}</g:availability>",
        f"<g:color>{product.colour}</g:color>",
    ]
    if product.sale_price is not None:
        fields.append(f"<g:sale_price>{product.sale_price:.2f} {CURRENCY}</g:sale_price>")
    return "<item>" + "".join(fields) + "</item>"


def feed_document(products: list[DemoProduct], *, malformed: bool = False) -> bytes:
    """A Merchant RSS feed; ``malformed`` adds two items an import reports as problems."""
    items = [_item(p) for p in products]
    if malformed:
        items.append("<item><title>A product without an id</title></item>")
        items.append(
            "<item><g:id>SKU-BROKEN</g:id><title>Price in words</title>"
            "<g:price>forty dollars</g:price></item>"
        )
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:g="{_G}">'
        f"<channel><title>Demo shop</title><link>{SHOP_URL}/</link>\n"
    )
    return (head + "\n".join(items) + "\n</channel></rss>\n").encode()


def import_catalogue(
    engine: Engine,
    settings: Settings,
    site_id: str,
    feed_path: Path,
    count: int,
    rng: random.Random,
) -> tuple[list[DemoProduct], list[ImportOutcome]]:
    """Import the generated catalogue twice (this season, then the next); the live products."""
    first = generate_products(count, rng)
    feed_path.write_bytes(feed_document(first))
    feed = FeedRepository(engine, settings.feed_timezone).add(
        site_id, str(feed_path), None, allow_files=True
    )
    importer = FeedImporter(engine, settings)
    outcomes = [importer.run(feed, trigger="cli")]
    second = next_season(first, rng)
    # The file the feed names holds the live catalogue, so "import now" in the dashboard
    # imports it again unchanged.
    feed_path.write_bytes(feed_document(second, malformed=True))
    outcomes.append(importer.run(feed, trigger="cli", force=True))
    return second, outcomes
