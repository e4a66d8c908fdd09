"""Schemathesis over the app's own schema, in-process: every operation, every check.

Used by tests/web/test_schemathesis.py (a few examples per operation, in the normal suite) and
by ``scripts/fuzz-api`` (many more). Each operation gets Hypothesis-generated requests that
fit its schema (positive) and that do not (negative); every response goes through all of
Schemathesis' checks (not_a_server_error, status_code_conformance, content_type_conformance,
response_schema_conformance, response_headers_conformance, negative_data_rejection,
positive_data_acceptance, ignored_auth, …). Derandomized, so a run is reproducible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXAMPLES_ENV = "SHOPTRACK_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 5


def examples_per_operation() -> int:
    return int(os.environ.get(EXAMPLES_ENV) or DEFAULT_EXAMPLES)


@dataclass
class FuzzReport:
    cases: int = 0
    operations: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.operations} operations, {self.cases} cases, {len(self.failures)} failures"


def fuzz(
    schema: Any,
    *,
    examples: int,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    semantic_refusals: frozenset[str] = frozenset(),
) -> FuzzReport:
    """Every operation of ``schema``, both generation modes; failures collected, not raised.

    ``semantic_refusals``: labels of operations that may refuse a request fitting the schema
    for reasons a schema cannot state (the site or event name must exist, one of three
    parameters must be given…); positive_data_acceptance is not applied to them, every other
    check is.
    """
    report = FuzzReport()
    run_settings = hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        # No shrinking: the first failing case of each operation is reported as it is.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        parameters = {
            name: value
            for name, value in (path_parameters or {}).items()
            if f"{{{name}}}" in operation.path
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters=parameters or None
            )
            excluded: list[CheckFunction] = (
                [positive_data_acceptance] if operation.label in semantic_refusals else []
            )
            run = run_settings(_calls(strategy, report, headers, excluded))
            try:
                run()
            except Unsatisfiable:
                # Nothing to negate: no parameters or body, or only free-form strings.
                if mode is not GenerationMode.NEGATIVE:
                    report.failures.append(f"{operation.label}: no request could be generated")
            except BaseExceptionGroup as failure:  # schemathesis' FailureGroup is one
                report.failures.append(f"{operation.label} ({mode.value}): {failure}")
            except Exception as error:  # the app raised: a failure too, with its request
                report.failures.append(f"{operation.label} ({mode.value}): {error!r}")
    return report


def _calls(
    strategy: Any, report: FuzzReport, headers: dict[str, str] | None, excluded: list[Any]
) -> Any:
    """A Hypothesis test that sends each generated case and runs the checks on its answer."""

    @given(case=strategy)
    def run(case: Any) -> None:
        report.cases += 1
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    return run


def load(app: Any) -> Any:
    """The app's schema as served at /openapi.json; this starts the app's lifespan."""
    return schemathesis.openapi.from_asgi("/openapi.json", app)
