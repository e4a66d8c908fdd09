"""Schemathesis against the app's own /openapi.json, in-process, on SQLite and PostgreSQL,
with the site's API key and without one: zero failures (issue 13 point 11).

A few examples per operation keep this in the normal suite (``SHOPTRACK_FUZZ_EXAMPLES``
raises it; ``scripts/fuzz-api`` runs many more).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from schemathesis.python import asgi

from shoptrack.config import Settings
from shoptrack.web.app import create_app
from tests.support.databases import empty_all_tables, migrated_engine
from tests.support.fuzzing import examples_per_operation, fuzz, load

# Operations that refuse some requests fitting their schema, for reasons the schema cannot
# state: the check that such requests are accepted is skipped for these alone (every other
# check runs on them). Each names its rule; anything not listed must accept what its schema
# allows.
SEMANTIC_REFUSALS = {
    "POST /webevent": "the site must exist; events must be ones shoptrack knows",
    "POST /api/v2": "the site must exist; the event name must be one shoptrack knows",
    "POST /api/v1/events": "as /api/v2, for each event",
    "GET /recs/{site_id}": "variant or variantId is required, and must be a live variant",
    "GET /recs/{site_id}/blocks": "page_type must be a page type (an empty one means any)",
    "GET /api/v1/events": "since: an ISO 8601 time or milliseconds, either",
    "PATCH /api/v1/triggers/{rule}": "thresholds: each rule's own names and ranges; the "
    "webhook channel needs a webhook_url",
    "GET /api/v1/contacts": "at most one of externalCustomerId, email, phone",
    "POST /api/v1/contacts": "one of externalCustomerId, email, phone; a real e-mail or phone",
    "GET /api/v1/contacts/recommendations": "exactly one of externalCustomerId, email, phone",
    "GET /api/v1/contacts/{contact_id}/recommendations": "filters: JSON text, a block's filters",
    "PATCH /api/v1/site/settings": "default_region: a region the phone library knows",
    "POST /api/v1/feeds": "url: an http(s) address; schedule: the schedule grammar",
    "POST /api/v1/blocks": "the block rules: page types, positions, algorithms, filters",
    "PATCH /api/v1/blocks/{block_id}": "the block rules",
    "POST /api/v1/blocks/{block_id}/variants": "the block rules: algorithms and their params",
    "PATCH /api/v1/blocks/{block_id}/variants/{variant_id}": "variant ids read r<block>v<n>",
    "GET /api/v1/reports/blocks": "from/to: days as YYYY-MM-DD, from before to",
    "GET /api/v1/reports/triggers": "from/to: days as YYYY-MM-DD, from before to",
    "GET /api/v1/processor-failures": "status: retrying, skipped, resolved or all",
    "POST /api/v1/segments": "definition: the segment schema (version 1, match, conditions)",
    "POST /api/v1/segments/preview": "definition: the segment schema",
    "PATCH /api/v1/segments/{segment_id}": "definition: the segment schema; webhook_url http(s)",
}


@dataclass
class FuzzedApp:
    schema: Any
    site_id: str
    key: str


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fuzzed_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzedApp]:
    """One app per store for the whole module: starting one costs more than its requests."""
    directory: Path = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'shoptrack.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        engine = migrated_engine(url)
        empty_all_tables(engine)
        engine.dispose()
    settings = Settings(
        database_url=url, key_file=directory / "shoptrack.keys", commit_interval_ms=1
    )
    app = create_app(settings)
    schema = load(app)  # starts the app's lifespan, as a server would
    try:
        created, key = app.state.services.site_repo.create("Fuzzed shop")
        yield FuzzedApp(schema, created.site_id, key)
    finally:
        asgi.shutdown_lifespans()


@pytest.mark.parametrize("with_key", [True, False], ids=["with-key", "without-key"])
def test_every_operation_passes_every_check(fuzzed_app: FuzzedApp, with_key: bool) -> None:
    headers = {"Authorization": f"Bearer {fuzzed_app.key}"} if with_key else None
    # With the key the public paths get the real site too, so their full answers are checked;
    # without it they get made-up site ids (the unknown-site answers).
    path_parameters = {"site_id": fuzzed_app.site_id} if with_key else None
    report = fuzz(
        fuzzed_app.schema,
        examples=examples_per_operation(),
        headers=headers,
        path_parameters=path_parameters,
        semantic_refusals=frozenset(SEMANTIC_REFUSALS),
    )
    print(report.summary())
    assert report.operations >= 35
    assert report.failures == [], "\n\n".join(report.failures)
