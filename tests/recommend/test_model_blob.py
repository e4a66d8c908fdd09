"""Stored models: they round-trip, name no module path, run no code when read, and the pickles
of older releases are still read (with the allow-list) and rewritten once."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from sqlalchemy import select

from shoptrack.recommend import snapshot_codec
from shoptrack.recommend.algorithms.registry import make
from shoptrack.recommend.model import Counters, SiteModel, empty_model
from shoptrack.recommend.snapshot_codec import (
    _HEADER,
    ALIGN,
    MAGIC,
    VERSION,
    SnapshotFormatError,
    dump,
    load,
    load_as,
)
from shoptrack.recommend.training import latest_snapshot, rewrite_pickled_blobs
from shoptrack.store.tables import rec_counters, rec_snapshots
from tests.recommend.shop import Shop, item


class _RunsAShellCommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def _fitted(shop: Shop) -> SiteModel:
    shop.catalog(item("a"), item("b"), item("c"))
    shop.views("v1", "a", "b", "c")
    shop.views("v2", "b", "c")
    shop.cart("v2", "c")
    shop.purchase("v2", "c")
    shop.train()
    with shop.engine.connect() as conn:
        snap = latest_snapshot(conn, shop.site_id)
    assert snap is not None
    return snap[1]


def test_a_trained_model_round_trips_without_module_paths(shop: Shop) -> None:
    model = _fitted(shop)
    data = dump(model)
    assert b"shoptrack.recommend" not in data and b"SessionKNN" not in data
    loaded = load_as(data, SiteModel)
    assert sorted(loaded.session_models) == sorted(model.session_models)
    prefix = np.array([0, 1], dtype=np.int64)
    for name, algorithm in model.session_models.items():
        want = algorithm.recommend(prefix, 3)
        got = loaded.session_models[name].recommend(prefix, 3)
        assert np.array_equal(want, got), name
    assert loaded.counters.views.tolist() == model.counters.views.tolist()
    assert dump(loaded) == data  # nothing lost or added on the way


def test_a_pickle_of_an_older_release_is_read_and_rewritten_once(shop: Shop) -> None:
    model = _fitted(shop)
    with shop.engine.begin() as conn:
        conn.execute(rec_snapshots.update().values(data=pickle.dumps(model, protocol=5)))
        conn.execute(rec_counters.update().values(data=pickle.dumps(model.counters)))
    variant = shop.variant_of(shop.block("personal"))
    before = shop.keys(variant, visitor="v1")
    assert rewrite_pickled_blobs(shop.engine) >= 1
    with shop.engine.connect() as conn:
        blobs = [*conn.execute(select(rec_snapshots.c.data)).scalars()]
        blobs += [*conn.execute(select(rec_counters.c.data)).scalars()]
    assert blobs and not any(snapshot_codec.is_pickle(b) for b in blobs)
    assert shop.keys(variant, visitor="v1") == before
    assert rewrite_pickled_blobs(shop.engine) == 0


@pytest.mark.parametrize("kind", [SiteModel, Counters])
def test_an_old_pickle_naming_any_other_callable_is_refused(kind: type) -> None:
    hostile = pickle.dumps(_RunsAShellCommand())
    with pytest.raises(pickle.UnpicklingError, match="may not reference"):
        load_as(hostile, kind)


def _with_manifest(data: bytes, change: dict[str, object], version: int = VERSION) -> bytes:
    """``data`` with its manifest changed (and its arrays kept where they were)."""
    _, _, length = _HEADER.unpack_from(data)
    end = _HEADER.size + length
    manifest = {**json.loads(data[_HEADER.size : end]), **change}
    arrays = data[end + (-end % ALIGN) :]
    text = json.dumps(manifest).encode()
    head = _HEADER.pack(MAGIC, version, len(text)) + text
    return head + bytes(-len(head) % ALIGN) + arrays


def test_a_manifest_naming_an_unknown_type_or_version_is_refused() -> None:
    model = empty_model()
    model.session_models["popular"] = make("popular")
    data = dump(model)
    assert isinstance(load(_with_manifest(data, {})), SiteModel)

    hostile = {"root": {"$object": "os.system", "fields": {}}}
    with pytest.raises(SnapshotFormatError, match=r"unknown stored type 'os\.system'"):
        load(_with_manifest(data, hostile))
    with pytest.raises(SnapshotFormatError, match="cannot be read"):
        load(_with_manifest(data, {"arrays": [{"dtype": "|O", "shape": [1], "offset": 0}]}))
    with pytest.raises(SnapshotFormatError, match="version 99"):
        load(_with_manifest(data, {}, version=99))
    with pytest.raises(SnapshotFormatError, match="expected a stored Counters"):
        load_as(data, Counters)
    with pytest.raises(SnapshotFormatError, match="not a stored model"):
        load(b"PK not a model at all")
    with pytest.raises(SnapshotFormatError, match="damaged"):
        load(data[:200])
