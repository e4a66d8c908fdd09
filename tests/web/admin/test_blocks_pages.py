"""Recommendations pages: blocks and variants through the forms, on both stores."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from shoptrack.store.tables import report_block_daily
from tests.recommend.shop import Shop, item
from tests.support.admin import AdminClient, admin_client_for

NEW_BLOCK = {"name": "Similar products", "page_type": "product", "count": "4",
             "position": "beforeend", "algorithm": "similar", "weight": "1"}  # fmt: skip


def base(admin: AdminClient) -> str:
    return f"/admin/sites/{admin.site_id}/blocks"


def create(admin: AdminClient, **fields: str) -> int:
    answer = admin.submit(base(admin), {**NEW_BLOCK, **fields})
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(rf"{base(admin)}/(\d+)", answer.headers["location"])
    assert found is not None, answer.headers["location"]
    return int(found.group(1))


def page(admin: AdminClient, path: str = "", status: int = 200) -> str:
    answer = admin.get(base(admin) + path)
    assert answer.status_code == status, answer.text
    return html.unescape(answer.text)


def field_error(text: str, input_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{input_id}-error">([^<]*)</p>', text)
    assert found is not None, f"no error shown for {input_id}"
    return html.unescape(found.group(1))


def test_a_created_block_appears_in_the_list_in_preview(admin_client: AdminClient) -> None:
    empty = page(admin_client)
    assert "No blocks yet" in empty
    assert f'<a href="{base(admin_client)}" aria-current="page">Recommendations</a>' in empty
    form = page(admin_client, "/new")
    for name in ("name", "page_type", "count", "filters", "algorithm", "weight", "params"):
        assert f'<label for="{name}">' in form and f'name="{name}"' in form
    block_id = create(admin_client)
    listed = page(admin_client)
    assert f'href="{base(admin_client)}/{block_id}">Block {block_id}</a>' in listed
    assert "Similar products" in listed and "preview" in listed
    assert f"r{block_id}v1: similar (100 %)" in listed
    shown = page(admin_client, f"/{block_id}")
    assert f"Block {block_id}: Similar products" in shown and "(control)" in shown


def test_editing_a_block_saves_it_and_records_who(admin_client: AdminClient) -> None:
    block_id = create(admin_client)
    fields = {**NEW_BLOCK, "name": "Others also viewed", "count": "8", "title": "You may like",
              "filters": '{"in_stock": true}'}  # fmt: skip
    answer = admin_client.submit(f"{base(admin_client)}/{block_id}", fields)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{base(admin_client)}/{block_id}"
    shown = page(admin_client, f"/{block_id}")
    assert f"Block {block_id}: Others also viewed" in shown and "8 products" in shown
    assert 'value="You may like"' in shown and '{"in_stock":true}' in shown
    assert "admin:staff@example.com" in shown and "update" in shown
    emptied = admin_client.submit(f"{base(admin_client)}/{block_id}", {**NEW_BLOCK, "name": ""})
    assert emptied.status_code == 303
    assert f"Block {block_id}: Block {block_id}" in page(admin_client, f"/{block_id}")


def test_go_live_and_pause_change_what_the_shop_is_served(
    client: TestClient, admin_client: AdminClient
) -> None:
    block_id = create(admin_client)

    def served() -> list[int]:
        answer = client.get(f"/recs/{admin_client.site_id}/blocks", params={"page_type": "product"})
        return [b["block_id"] for b in answer.json()["blocks"]]

    assert served() == []
    status_path = f"{base(admin_client)}/{block_id}/status"
    assert admin_client.submit(status_path, {"status": "live"}).status_code == 303
    assert 'class="status status-live"' in page(admin_client, f"/{block_id}")
    assert served() == [block_id]
    shown = page(admin_client, f"/{block_id}")
    assert ">Pause</button>" in shown and ">Go live</button>" not in shown
    assert admin_client.submit(status_path, {"status": "paused"}).status_code == 303
    assert served() == []
    refused = admin_client.submit(status_path, {"status": "deleted"})
    assert refused.status_code == 400 and "status must be one of" in refused.text


def test_delete_asks_first_then_deletes(admin_client: AdminClient) -> None:
    block_id = create(admin_client)
    question = page(admin_client, f"/{block_id}/delete")
    assert f"Delete block {block_id} “Similar products”?" in question
    assert f'<form method="post" action="{base(admin_client)}/{block_id}/delete">' in question
    assert f'href="{base(admin_client)}/{block_id}"' in page(admin_client)  # asking deleted nothing
    answer = admin_client.submit(f"{base(admin_client)}/{block_id}/delete")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{base(admin_client)}?deleted={block_id}"
    listed = page(admin_client, f"?deleted={block_id}")
    assert f"Block {block_id} was deleted" in listed and "No blocks yet" in listed
    assert "Not found" in page(admin_client, f"/{block_id}", status=404)
    assert admin_client.submit(f"{base(admin_client)}/{block_id}/delete").status_code == 404


def test_invalid_input_shows_the_fields_error_and_keeps_what_was_typed(
    admin_client: AdminClient,
) -> None:
    cases = [
        ({"count": "abc"}, "count", "count must be 1..100"),
        ({"count": "500"}, "count", "count must be 1..100"),
        ({"filters": "{"}, "filters", "filters must be JSON"),
        ({"filters": '{"colour": "red"}'}, "filters", "unknown filter 'colour'"),
        ({"filters": '{"include": 3}'}, "filters", "include must be a list"),
        ({"algorithm": "magic"}, "algorithm", "unknown algorithm 'magic'"),
        ({"weight": "heavy"}, "weight", "weight must be a number"),
        ({"name": "x" * 201}, "name", "name must be at most 200 characters"),
        ({"name": "nul\x00"}, "name", "must not contain NUL"),
    ]
    for fields, input_id, message in cases:
        answer = admin_client.submit(base(admin_client), {**NEW_BLOCK, **fields})
        assert answer.status_code == 400, (fields, answer.text)
        text = html.unescape(answer.text)
        assert message in field_error(text, input_id), (fields, field_error(text, input_id))
        assert f'id="{input_id}"' in text and 'aria-invalid="true"' in text
    assert "No blocks yet" in page(admin_client)
    kept = admin_client.submit(base(admin_client), {**NEW_BLOCK, "count": "abc"}).text
    assert 'value="Similar products"' in kept and 'value="abc"' in kept

    block_id = create(admin_client)
    edit = admin_client.submit(f"{base(admin_client)}/{block_id}", {**NEW_BLOCK, "count": "0"})
    assert edit.status_code == 400
    assert "count must be 1..100" in field_error(html.unescape(edit.text), "count")


def test_variants_are_added_and_reweighted(admin_client: AdminClient) -> None:
    block_id = create(admin_client)
    variants = f"{base(admin_client)}/{block_id}/variants"
    added = admin_client.submit(variants, {"algorithm": "popular", "weight": "3", "params": ""})
    assert added.status_code == 303
    shown = page(admin_client, f"/{block_id}")
    assert f"r{block_id}v1 (control)" in shown and f"r{block_id}v2" in shown
    assert "25 %" in shown and "75 %" in shown
    changed = admin_client.submit(f"{variants}/1", {"weight": "0", "params": ""})
    assert changed.status_code == 303
    assert f"r{block_id}v1: similar (0 %)" in page(admin_client)
    refused = admin_client.submit(f"{variants}/2", {"weight": "-1", "params": ""})
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    assert "weight must be between 0 and 1000000" in field_error(text, "variant_2-weight")
    not_object = admin_client.submit(f"{variants}/2", {"weight": "1", "params": "[1]"})
    assert "params must be a JSON object" in field_error(
        html.unescape(not_object.text), "variant_2-params"
    )
    bad_new = admin_client.submit(variants, {"algorithm": "magic", "weight": "1", "params": ""})
    assert bad_new.status_code == 400
    assert "unknown algorithm" in field_error(html.unescape(bad_new.text), "new-algorithm")
    assert admin_client.submit(f"{variants}/99", {"weight": "1", "params": ""}).status_code == 404


def test_another_sites_user_gets_404(client: TestClient, admin_client: AdminClient) -> None:
    block_id = create(admin_client)
    other_site, _key = client.app.state.services.site_repo.create("Other shop")  # type: ignore[attr-defined]
    other = admin_client_for(client, other_site.site_id, email="other@example.com")
    theirs = f"/admin/sites/{admin_client.site_id}/blocks"
    for path in ("", "/new", f"/{block_id}", f"/{block_id}/delete", f"/{block_id}/preview",
                 "/report"):  # fmt: skip
        assert other.get(theirs + path).status_code == 404, path
    assert other.submit(theirs, NEW_BLOCK).status_code == 404
    assert other.submit(f"{theirs}/{block_id}/delete").status_code == 404
    # Their own site has no block of that number.
    mine = f"/admin/sites/{other_site.site_id}/blocks/{block_id}"
    assert other.get(mine).status_code == 404
    assert f"Block {block_id}" in page(admin_client)


def test_forms_without_the_csrf_token_are_refused(admin_client: AdminClient) -> None:
    block_id = create(admin_client)
    for path, data in [
        ("", NEW_BLOCK),
        (f"/{block_id}", NEW_BLOCK),
        (f"/{block_id}/status", {"status": "live"}),
        (f"/{block_id}/delete", {}),
        (f"/{block_id}/variants", {"algorithm": "popular", "weight": "1"}),
        (f"/{block_id}/variants/1", {"weight": "5"}),
    ]:
        refused = admin_client.post(base(admin_client) + path, data=data)
        assert refused.status_code == 403, path
        wrong = admin_client.post(base(admin_client) + path, data={**data, "csrf_token": "x"})
        assert wrong.status_code == 403, path
    shown = page(admin_client, f"/{block_id}")
    assert "status-preview" in shown and "version 1" in shown


def test_preview_shows_the_recommended_products(
    admin_client: AdminClient, client: TestClient, tmp_path: Path
) -> None:
    shop = Shop(client, admin_client.site_id, "", tmp_path)
    shop.catalog(item("a", title="Red shoe"), item("b", title="Blue shoe"), item("c"))
    block_id = create(admin_client, algorithm="popular")
    shown = page(admin_client, f"/{block_id}/preview?product=a&variant=r{block_id}v1")
    assert '<label for="product">' in shown and 'value="a"' in shown
    assert "Blue shoe" in shown and "Red shoe" not in shown  # not the page's own product
    assert f"sc_content={block_id}_r{block_id}v1" in shown
    unknown = page(admin_client, f"/{block_id}/preview?variant=r9v9")
    assert "choose one of the block" in unknown


def test_the_report_shows_the_funnel_and_the_verdict(
    client: TestClient, admin_client: AdminClient
) -> None:
    block_id = create(admin_client)
    variants = f"{base(admin_client)}/{block_id}/variants"
    assert admin_client.submit(variants, {"algorithm": "popular", "weight": "1"}).status_code == 303
    today = datetime.now(UTC).date().isoformat()
    rows = [
        {"variant_id": "1", "impressions": 1000, "clicks": 50, "add_to_carts": 20,
         "purchases": 10, "revenue": 200.0},
        {"variant_id": "2", "impressions": 1000, "clicks": 90, "add_to_carts": 60,
         "purchases": 35, "revenue": 700.0},
    ]  # fmt: skip
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(
                insert(report_block_daily).values(
                    site_id=admin_client.site_id, day=today, block_id=str(block_id), **row
                )
            )
    shown = page(admin_client, "/report")
    assert f"r{block_id}v2 wins on conversion" in shown
    assert "Beta–Binomial" in shown and "computed exactly" in shown
    assert "1,000" in shown and "5.00 %" in shown and "3.50 %" in shown  # CTR r1v1, conv r1v2
    assert "700.00" in shown and "20.00" in shown  # revenue, AOV
    assert shown.count('<svg class="chart"') == 2  # impressions and clicks; carts and purchases
    assert f"Block {block_id}: add-to-carts and purchases per day" in shown
    assert f"{today} v1 create" in shown and f"{today} v2 add_variant" in shown
    narrowed = page(admin_client, f"/report?block={block_id}&from=2020-01-01&to=2020-01-31")
    assert "no impressions yet" in narrowed and "2020-01-01 to 2020-01-31" in narrowed
    listed = page(admin_client)
    assert "2,000 impressions" in listed and f"r{block_id}v2 wins</strong> on conversion" in listed
    assert "no block has figures" not in page(admin_client, "/report?block=" + "9" * 5000).lower()
    refused = admin_client.get(base(admin_client) + "/report?from=yesterday")
    assert refused.status_code == 400 and "from: expected a day as YYYY-MM-DD" in refused.text


def test_a_deleted_blocks_figures_stay_in_the_report(
    client: TestClient, admin_client: AdminClient
) -> None:
    block_id = create(admin_client)
    today = datetime.now(UTC).date().isoformat()
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for variant, purchases in (("1", 10), ("2", 40)):
            conn.execute(
                insert(report_block_daily).values(
                    site_id=admin_client.site_id, day=today, block_id=str(block_id),
                    variant_id=variant, impressions=1000, clicks=60, purchases=purchases,
                )
            )  # fmt: skip
    assert admin_client.submit(f"{base(admin_client)}/{block_id}/delete").status_code == 303
    shown = page(admin_client, "/report")
    assert f"Block {block_id}: deleted" in shown
    assert f"r{block_id}v2 wins on conversion" in shown
    assert f"{today} v2 delete" in shown
