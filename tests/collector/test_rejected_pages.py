"""Refused events a page at a time (``collector/rejected_pages.py``) on both stores: bodies
opened with the keyring, filters by code and step on their indexes, the seq cursor."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, text

from shoptrack.collector.rejected_pages import (
    RejectedFilter,
    readable_body,
    rejected_page,
    rejected_statement,
)
from shoptrack.identity.crypto import PURPOSE_REJECTED_BODY, Keyring
from shoptrack.store.events_repo import EventLog
from shoptrack.store.rows import RejectedRow
from shoptrack.store.sites_repo import SiteRepository


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load_or_create(tmp_path / "shoptrack.keys")


def _rejected(keyring: Keyring, site_id: str | None, n: int, code: str, step: str) -> RejectedRow:
    body = orjson.dumps({"n": n, "user_email": f"ann{n}@example.com"})
    return RejectedRow(
        site_id=site_id,
        event_id=f"r{n}",
        received_at=1_764_000_000_000 + n,
        source="browser",
        endpoint="/webevent",
        code=code,
        message=f"refusal {n}",
        field="GeneralInfo.eventName",
        body_size=len(body),
        body_enc=keyring.encrypt(body, PURPOSE_REJECTED_BODY),
        step=step,
    )


@pytest.fixture
def site_id(engine: Engine, keyring: Keyring) -> str:
    """12 refusals: codes alternate unknown_event/invalid_value, steps type/normalize/validate;
    one of another site and one of no site."""
    site, _ = SiteRepository(engine).create("Refusing shop")
    codes = ("unknown_event", "invalid_value")
    steps = ("type", "normalize", "validate")
    rows = [_rejected(keyring, site.site_id, n, codes[n % 2], steps[n % 3]) for n in range(12)]
    rows += [_rejected(keyring, "other", 50, "unknown_event", "type")]
    rows += [_rejected(keyring, None, 51, "unknown_site", "site")]
    EventLog(engine).append([], rows)
    return site.site_id


def _ns(engine: Engine, keyring: Keyring, site_id: str, wanted: RejectedFilter) -> list[int]:
    page = rejected_page(engine, keyring, site_id, wanted)
    return [orjson.loads(r.body)["n"] for r in page.rejected]


def test_newest_first_decrypted(engine: Engine, keyring: Keyring, site_id: str) -> None:
    page = rejected_page(engine, keyring, site_id, RejectedFilter())
    assert [orjson.loads(r.body)["n"] for r in page.rejected] == list(range(11, -1, -1))
    first = page.rejected[0]
    assert first.body_is_json and '"user_email": "ann11@example.com"' in first.body
    assert first.body.startswith("{\n  ")  # pretty-printed
    assert (first.code, first.step, first.field) == (
        "invalid_value",
        "validate",
        "GeneralInfo.eventName",
    )
    assert first.body_kept == first.body_size and first.problem is None


def test_filters_and_cursor(engine: Engine, keyring: Keyring, site_id: str) -> None:
    assert _ns(engine, keyring, site_id, RejectedFilter(code="unknown_event")) == [
        10,
        8,
        6,
        4,
        2,
        0,
    ]
    assert _ns(engine, keyring, site_id, RejectedFilter(step="type")) == [9, 6, 3, 0]
    assert _ns(engine, keyring, site_id, RejectedFilter("invalid_value", "normalize")) == [7, 1]
    seen: list[int] = []
    before = None
    while True:
        page = rejected_page(engine, keyring, site_id, RejectedFilter(before_seq=before), 5)
        seen += [orjson.loads(r.body)["n"] for r in page.rejected]
        if page.older is None:
            break
        before = page.older
    assert seen == list(range(11, -1, -1))


def test_a_body_without_its_key_is_explained(engine: Engine, site_id: str) -> None:
    stranger = Keyring.generate()
    page = rejected_page(engine, stranger, site_id, RejectedFilter())
    assert page.rejected[0].body == "" and "cannot be decrypted" in str(page.rejected[0].problem)


def test_readable_body() -> None:
    assert readable_body(b'{"a":[1]}') == ('{\n  "a": [\n    1\n  ]\n}', True)
    assert readable_body(b'{"a": tru') == ('{"a": tru', False)
    assert readable_body(b"\xff<x>") == ("\ufffd<x>", False)


def test_filters_walk_the_sites_index(engine: Engine) -> None:
    """20,000 refusals of the site under test, then 20,000 of another: no page may walk the
    other's (newer) rows, whatever the filter."""
    numbers = {
        "sqlite": "(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
        "WHERE n < 20000) SELECT n FROM c)",
        "postgresql": "generate_series(1, 20000) AS n",
    }[engine.dialect.name]
    blob = "X''" if engine.dialect.name == "sqlite" else "''::bytea"
    with engine.begin() as conn:
        for site in ("quiet", "busy"):
            conn.execute(
                text(
                    "INSERT INTO rejected_events (site_id, received_at, source, endpoint, code,"
                    f" step, message, body_size, body_enc) SELECT '{site}', n, 'browser',"
                    " 'webevent', 'c' || (n % 50), 's' || (n % 40), '', 0,"
                    f" {blob} FROM {numbers}"
                )
            )
        conn.execute(text("ANALYZE"))
    cases = [
        (RejectedFilter(), "ix_rejected_site_seq"),
        (RejectedFilter(before_seq=5_000), "ix_rejected_site_seq"),
        (RejectedFilter(code="c3"), "ix_rejected_site_code_seq"),
        (RejectedFilter(step="s3"), "ix_rejected_site_step_seq"),
        (RejectedFilter(code="c3", step="s3", before_seq=5_000), "ix_rejected_site_code_seq"),
    ]
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    for wanted, index in cases:
        stmt = rejected_statement(engine.dialect.name, "quiet", wanted, 51)
        sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plan = " | ".join(str(r[-1]) for r in conn.execute(text(explain + sql)))
        assert index in plan, (wanted, plan)
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, (wanted, plan)
        assert "pkey" not in plan and "PRIMARY KEY" not in plan, (wanted, plan)
