"""Snapshots round-trip, and a blob planted in the database cannot run code when loaded."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from shoptrack.recommend.model import Counters, SiteModel, empty_model
from shoptrack.recommend.registry import make


class _RunsAShellCommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_a_fitted_model_round_trips() -> None:
    model = empty_model()
    model.session_models["popular"] = make("popular")
    model.counters = Counters.empty(3)
    model.counters.views += np.array([1.0, 2.0, 3.0])
    loaded = SiteModel.from_bytes(model.to_bytes())
    assert loaded.counters.views.tolist() == [1.0, 2.0, 3.0]
    assert type(loaded.session_models["popular"]) is type(model.session_models["popular"])


@pytest.mark.parametrize("loader", [SiteModel.from_bytes, Counters.from_bytes])
def test_a_blob_naming_any_other_callable_is_refused(loader: object) -> None:
    hostile = pickle.dumps(_RunsAShellCommand())
    with pytest.raises(pickle.UnpicklingError, match="may not reference"):
        loader(hostile)  # type: ignore[operator]


class _CallsOneOfOurFunctions:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        from shoptrack.recommend.training import all_sites

        return (all_sites, ())


def test_functions_of_our_modules_are_refused_too() -> None:
    # REDUCE on an allowed *function* would call it with the blob's arguments.
    with pytest.raises(pickle.UnpicklingError, match="may not reference"):
        SiteModel.from_bytes(pickle.dumps(_CallsOneOfOurFunctions()))
