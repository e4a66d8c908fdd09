"""Serving: response shape, the unknown-variant error, every filter, algorithms and fallbacks."""

from __future__ import annotations

import orjson

from tests.recommend.shop import Shop, item
from tests.support.payloads import browser_event


def test_shape_url_all_fields_and_unknown_variant(shop: Shop) -> None:
    shop.catalog(
        item("a", link="https://shop.example/p/a?ref=1#top", brand="Acme", color="red"),
        item("b"),
    )
    block = shop.block("popular", placement_id=19534)
    variant = shop.variant_of(block)
    response = shop.get(variant, all_fields=1)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    first = response.json()["products"][0]
    container = f"19534_{variant}"
    assert first["product_id"] == "a"
    assert first["container_type"] == container
    assert first["url"] == f"https://shop.example/p/a?ref=1&sc_content={container}#top"
    assert first["name"] == "Product a" and first["price"] == 10.0 and first["currency"] == "USD"
    assert first["image"] == "https://shop.example/img/a.jpg" and first["in_stock"] is True
    assert first["brand"] == "Acme" and first["attributes"] == {"tags_color": ["red"]}
    assert first["categories"] == ["Shoes > Sneakers"]
    plain = shop.get(variant).json()["products"][1]
    assert set(plain) == {
        "product_id",
        "container_type",
        "url",
        "name",
        "price",
        "currency",
        "image",
        "in_stock",
    }
    assert plain["url"] == f"https://shop.example/p/b?sc_content={container}"

    missing = shop.get("r12v34")
    assert missing.status_code == 404
    assert missing.json() == {"error": "variantId r12v34 was not found in config"}
    assert shop.get("nonsense").json() == {"error": "variantId nonsense was not found in config"}
    # A variant of one site is not found through another (real) site.
    other, _ = shop.client.app.state.services.site_repo.create("Other shop")  # type: ignore[attr-defined]
    other_site = shop.client.get(f"/recs/{other.site_id}?variant={variant}")
    assert other_site.status_code == 404
    assert other_site.json() == {"error": f"variantId {variant} was not found in config"}
    # A made-up site answers at once, without loading anything for it.
    unknown = shop.client.get(f"/recs/no-such-site?variant={variant}")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "site 'no-such-site' does not exist"}
    assert shop.client.get(f"/recs/{shop.site_id}/blocks?visitor=a%00b").status_code == 400
    assert shop.client.get(f"/recs/{shop.site_id}").status_code == 400
    assert shop.get(variant, filters="{not json").status_code == 400
    assert shop.get(variant, limit=0).status_code == 400
    assert shop.client.options(f"/recs/{shop.site_id}").status_code == 204


def test_filters(shop: Shop) -> None:
    shop.catalog(
        item("a", price="10 USD", color="red", item_group_id="g1"),
        item("a2", price="11 USD", color="red", item_group_id="g1"),
        item("b", price="20 USD", color="blue", product_type="Shoes > Boots"),
        item("c", price="30 USD", color="red", availability="out of stock"),
        item("d", price="40 USD", color="green", brand="Acme"),
        item("e", price="50 USD", color="blue"),
    )
    # Popularity by views: a, a2, b, c, d, e (more views first).
    for n, key in enumerate(["a", "a2", "b", "c", "d", "e"]):
        for v in range(6 - n):
            shop.views(f"pop-{key}-{v}", key)
    shop.train()
    variant = shop.variant_of(shop.block("popular", {"by": "views"}, count=10))

    # In stock only and one per item_group_id by default; the current product left out.
    assert shop.keys(variant) == ["a", "b", "d", "e"]
    assert shop.keys(variant, product="b") == ["a", "d", "e"]
    assert shop.keys(variant, filters='{"in_stock": false, "one_per_group": false}') == [
        "a",
        "a2",
        "b",
        "c",
        "d",
        "e",
    ]
    # Cart items (the visitor's latest cart) and, when asked, purchases are left out.
    shop.cart("shopper", "a")
    assert shop.keys(variant, visitor="shopper") == ["a2", "b", "d", "e"]
    shop.purchase("buyer", "d")
    assert shop.keys(variant, visitor="buyer") == ["a", "b", "d", "e"]
    assert shop.keys(variant, visitor="buyer", filters='{"exclude_purchased": true}') == [
        "a",
        "b",
        "e",
    ]

    def keys(filters: dict[str, object]) -> list[str]:
        return shop.keys(variant, filters=orjson.dumps(filters).decode())

    red = {"name": "color", "values": ["RED"]}
    assert keys({"include": [red]}) == ["a"]
    assert keys({"exclude": [red]}) == ["b", "d", "e"]
    boots = {"name": "category", "values": ["Boots"]}
    assert keys({"include": [boots]}) == ["b"]
    assert keys({"include": [{"name": "category", "values": ["Shoes"]}], "exclude": [boots]}) == [
        "a",
        "d",
        "e",
    ]
    assert keys({"include": [{"name": "brand", "values": ["acme"]}]}) == ["d"]
    assert keys({"should": [{"name": "color", "values": ["blue"]}]}) == ["b", "e", "a", "d"]
    assert keys({"price_min": 15, "price_max": 45}) == ["b", "d"]
    assert keys({"include": [{"name": "color", "values": ["purple"]}]}) == []
    # The block's own filters apply, and the request's add to them.
    blue_block = shop.block(
        "popular",
        {"by": "views"},
        filters={"include": [{"name": "color", "values": ["blue", "red"]}]},
    )
    blue = shop.variant_of(blue_block)
    assert shop.keys(blue) == ["a", "b", "e"]
    assert shop.keys(blue, filters='{"price_min": 15}') == ["b", "e"]
    assert shop.keys(variant, limit=2) == ["a", "b"]


def test_fallbacks_never_empty(shop: Shop) -> None:
    # Nothing at all: an empty list, not an error.
    variant = shop.variant_of(shop.block("personal"))
    assert shop.keys(variant, visitor="new") == []
    # A new shop with a catalogue and no events: the newest products, in catalogue order.
    shop.catalog(item("x", new="true"), item("y"), item("z", product_type="Bags"))
    for algorithm in (
        "personal",
        "similar",
        "also-viewed",
        "bought-together",
        "trending",
        "recently-viewed",
        "next-item",
        "popular-category",
        "vstan",
        "sr",
    ):
        got = shop.keys(shop.variant_of(shop.block(algorithm)), product="nope", visitor="v")
        assert got[0] == "x" and sorted(got) == ["x", "y", "z"], algorithm
    # An unknown product with a category: that category's popular products come first.
    shop.views("v1", "z", "z", "y")
    shop.train()
    similar = shop.variant_of(shop.block("also-viewed"))
    assert shop.keys(similar, product="ghost", category="Bags") == ["z", "y", "x"]


def test_shop_without_feed_recommends_event_products(shop: Shop) -> None:
    shop.views("v1", "k1", "k2")
    shop.views("v2", "k2")
    shop.train()
    products = shop.get(shop.variant_of(shop.block("popular", {"by": "views"}))).json()["products"]
    assert [p["product_id"] for p in products] == ["k2", "k1"]
    assert products[0]["url"] is None


def test_algorithms(shop: Shop) -> None:
    shop.catalog(
        item("shoe", price="100 USD", color="black", brand="Run"),
        item("shoe2", price="110 USD", color="black", brand="Run"),
        item("shoe3", price="400 USD", color="white"),
        item("sock", product_type="Accessories", price="5 USD"),
        item("lace", product_type="Accessories", price="3 USD"),
        item("hat", product_type="Hats", new="true"),
    )
    for n in range(5):
        shop.views(f"s{n}", "shoe", "sock")
        shop.purchase(f"s{n}", "shoe", "lace")
    shop.views("t0", "hat", "shoe3")
    shop.train()
    get = shop.keys
    also = shop.variant_of(shop.block("also-viewed"))
    assert get(also, product="shoe")[0] == "sock"
    together = shop.variant_of(shop.block("bought-together"))
    assert get(together, product="shoe")[0] == "lace"
    cart = shop.variant_of(shop.block("cart-complements", page_type="cart"))
    shop.cart("c1", "shoe")
    assert get(cart, visitor="c1")[0] == "lace"
    assert get(cart, products="shoe")[0] == "lace"
    similar = shop.variant_of(shop.block("similar"))
    assert get(similar, product="shoe")[:2] == ["shoe2", "shoe3"]
    new = shop.variant_of(shop.block("new"))
    assert get(new)[0] == "hat"
    by_purchases = shop.variant_of(shop.block("popular", {"by": "purchases"}))
    assert get(by_purchases)[:2] in (["shoe", "lace"], ["lace", "shoe"])
    in_category = shop.variant_of(shop.block("popular-category"))
    assert get(in_category, category="Accessories")[:2] in (["lace", "sock"], ["sock", "lace"])
    recent = shop.variant_of(shop.block("recently-viewed"))
    shop.views("r1", "hat", "shoe3", "sock")
    assert get(recent, visitor="r1")[:3] == ["sock", "shoe3", "hat"]
    assert get(recent, visitor="r1", product="sock")[:2] == ["shoe3", "hat"]
    personal = shop.variant_of(shop.block("personal"))
    shop.views("p1", "shoe")
    assert get(personal, visitor="p1")[0] in ("sock", "shoe")
    personal_cat = shop.variant_of(shop.block("personal-category"))
    assert set(get(personal_cat, visitor="p1", category="Accessories")[:2]) == {"sock", "lace"}
    nxt = shop.variant_of(shop.block("next-item"))
    assert get(nxt, product="shoe")[0] == "sock"
    trending = shop.variant_of(shop.block("trending"))
    assert len(get(trending)) == 6


def test_contact_recommendations(shop: Shop) -> None:
    shop.catalog(item("a"), item("b"), item("c"))
    shop.views("phone", "a")
    shop.views("laptop", "b")
    for visitor in ("phone", "laptop"):
        event = browser_event("CustomerData", {"CustomerData": {"user_email": "ann@example.com"}})
        shop.send(visitor, event)
    shop.services.runner.drain()
    found = shop.client.get("/api/v1/contacts?email=ann@example.com", headers=shop.auth).json()
    contact_id = found["contacts"][0]["id"]
    shop.train()
    recent = shop.block("recently-viewed", page_type="email", count=2)
    url = f"/api/v1/contacts/{contact_id}/recommendations"
    got = shop.client.get(url, params={"block": recent["block_id"]}, headers=shop.auth).json()
    assert [p["product_id"] for p in got["products"]] == ["b", "a"]
    assert got["variant_id"] == shop.variant_of(recent)
    assert got["products"][0]["container_type"] == f"{recent['block_id']}_{got['variant_id']}"
    filtered = shop.client.get(
        url,
        params={"block": recent["block_id"], "products": "b", "filters": '{"in_stock": true}'},
        headers=shop.auth,
    ).json()
    assert [p["product_id"] for p in filtered["products"]] == ["a", "c"]
    personal = shop.client.get(url, headers=shop.auth).json()
    assert personal["block_id"] is None and len(personal["products"]) == 3
    assert (
        shop.client.get("/api/v1/contacts/nobody/recommendations", headers=shop.auth).status_code
        == 404
    )
    assert shop.client.get(url).status_code == 401
