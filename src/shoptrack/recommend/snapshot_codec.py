"""Trained models as bytes that do not depend on where the code lives.

A snapshot (:class:`~.model.SiteModel`) and the counters folded in after it
(:class:`~.model.Counters`) are stored as a small header, a JSON manifest and the raw bytes of
every array, each at an aligned offset. The manifest describes the objects around the arrays by
*stable type names* (``"sknn"``, ``"counters"`` …, never a module path) with their fields, and
each array by dtype, shape and offset. Moving or renaming a module therefore leaves stored
models readable, and reading one runs no code: arrays are rebuilt with ``numpy.frombuffer``
from dtypes that cannot hold Python objects, and only the types listed in :data:`TYPES` can be
built, by setting the fields the manifest names on an instance made without ``__init__``.
Fields a class lists in ``TRANSIENT`` are caches it works out again, and are not stored.
An array shared by several objects (the sessions every neighbourhood model keeps) is stored
once. Not ``.npz``: a zip member per array made loading a model tens of times slower.

Snapshots written before this format were pickles. :func:`load` still reads them, through an
unpickler that resolves only our own recommendation classes and numpy's array machinery, and
the worker rewrites them in this format once (:func:`~.training.rewrite_pickled_blobs`).
"""

from __future__ import annotations

import io
import json
import pickle
import struct
from typing import Any

import numpy as np
from scipy import sparse

from shoptrack.recommend.algorithms.data import Sessions
from shoptrack.recommend.algorithms.hybrid import Blend
from shoptrack.recommend.algorithms.knn import KNNParams, SessionKNN
from shoptrack.recommend.algorithms.popular import Popularity, SessionPopularity
from shoptrack.recommend.algorithms.rules import CoOccurrence, SequentialRules
from shoptrack.recommend.model import Counters, SiteModel

MAGIC = b"SHOPTRACK-MODEL\n"
VERSION = 1
ALIGN = 64
_HEADER = struct.Struct("<16sII")  # magic, format version, manifest length
# Stable names of every type a stored model may hold. A name never changes meaning; a new
# class gets a new name. Algorithms use their registry name.
TYPES: dict[str, type] = {
    "site-model": SiteModel,
    "counters": Counters,
    "sessions": Sessions,
    "knn-params": KNNParams,
    **{cls.name: cls for cls in (Popularity, SessionPopularity, CoOccurrence, SequentialRules)},
    **{cls.name: cls for cls in (SessionKNN, Blend)},
}
_NAMES = {cls: name for name, cls in TYPES.items()}
_SPARSE = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


class SnapshotFormatError(ValueError):
    """Stored bytes that are not a model this release can read."""


class _Arrays:
    """The arrays of one stored model, each once, at aligned offsets."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.described: list[dict[str, Any]] = []
        self.by_identity: dict[int, int] = {}
        self.size = 0

    def add(self, array: np.ndarray) -> int:
        known = self.by_identity.get(id(array))
        if known is not None:
            return known
        if array.dtype.hasobject:
            raise SnapshotFormatError("arrays of Python objects cannot be stored")
        contiguous = np.ascontiguousarray(array)
        self.size += -self.size % ALIGN
        self.described.append(
            {"dtype": contiguous.dtype.str, "shape": list(contiguous.shape), "offset": self.size}
        )
        self.parts.append(contiguous)
        self.size += contiguous.nbytes
        self.by_identity[id(array)] = len(self.parts) - 1
        return len(self.parts) - 1


def dump(value: SiteModel | Counters) -> bytes:
    arrays = _Arrays()
    root = _encode(value, arrays)
    manifest = json.dumps({"root": root, "arrays": arrays.described}).encode()
    head = _HEADER.pack(MAGIC, VERSION, len(manifest)) + manifest
    out = bytearray(head + bytes(-len(head) % ALIGN))
    start = len(out)
    for part, described in zip(arrays.parts, arrays.described, strict=True):
        out += bytes(start + described["offset"] - len(out))
        out += part.tobytes()
    return bytes(out)


def load(data: bytes) -> Any:
    """The stored object; a pickle from before this format is read with the allow-list."""
    if is_pickle(data):
        return _legacy_loads(data)
    if len(data) < _HEADER.size or data[: len(MAGIC)] != MAGIC:
        raise SnapshotFormatError("not a stored model")
    _, version, length = _HEADER.unpack_from(data)
    if version != VERSION:
        raise SnapshotFormatError(
            f"stored model format version {version} is not {VERSION} (written by another release?)"
        )
    end = _HEADER.size + length
    try:
        manifest = json.loads(data[_HEADER.size : end])
        start = end + (-end % ALIGN)
        arrays = [_array(data, start, described) for described in manifest["arrays"]]
        return _decode(manifest["root"], arrays)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        if isinstance(exc, SnapshotFormatError):
            raise
        raise SnapshotFormatError(f"a damaged stored model: {type(exc).__name__}: {exc}") from None


def _array(data: bytes, start: int, described: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(described["dtype"])
    if dtype.hasobject:
        raise SnapshotFormatError("arrays of Python objects cannot be read")
    shape = tuple(int(n) for n in described["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=start + int(described["offset"]))
    return flat.reshape(shape).copy()  # writable, and not holding the whole blob alive


def load_as(data: bytes, kind: type[Any]) -> Any:
    value = load(data)
    if not isinstance(value, kind):
        raise SnapshotFormatError(
            f"expected a stored {kind.__name__}, found {type(value).__name__}"
        )
    return value


def is_pickle(data: bytes) -> bool:
    return data[:1] == b"\x80"


def _encode(value: Any, arrays: _Arrays) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray):
        return {"$array": arrays.add(value)}
    if isinstance(value, np.generic):
        return value.item()
    if sparse.issparse(value):
        matrix = value.tocsr() if value.format not in _SPARSE else value
        parts = {p: _encode(getattr(matrix, p), arrays) for p in ("data", "indices", "indptr")}
        return {"$sparse": matrix.format, "shape": list(matrix.shape), **parts}
    if isinstance(value, list | tuple | set | frozenset):
        kind = {list: "$list", tuple: "$tuple", set: "$set", frozenset: "$frozenset"}[type(value)]
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return {kind: [_encode(v, arrays) for v in items]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise SnapshotFormatError("only dictionaries with text keys can be stored")
        return {"$dict": {k: _encode(v, arrays) for k, v in value.items()}}
    stable = _NAMES.get(type(value))
    if stable is None:
        raise SnapshotFormatError(f"{type(value).__name__} has no stable name in TYPES")
    # A class's TRANSIENT fields are caches it works out again from the others.
    transient: frozenset[str] = getattr(type(value), "TRANSIENT", frozenset())
    fields = {k: _encode(v, arrays) for k, v in vars(value).items() if k not in transient}
    return {"$object": stable, "fields": fields}


def _decode(node: Any, arrays: list[np.ndarray]) -> Any:
    if not isinstance(node, dict):
        return node
    if "$array" in node:
        return arrays[node["$array"]]
    if "$sparse" in node:
        make = _SPARSE.get(node["$sparse"])
        if make is None:
            raise SnapshotFormatError(f"unknown sparse format {node['$sparse']!r}")
        parts = tuple(_decode(node[p], arrays) for p in ("data", "indices", "indptr"))
        return make(parts, shape=tuple(node["shape"]))
    for kind, build in (
        ("$list", list),
        ("$tuple", tuple),
        ("$set", set),
        ("$frozenset", frozenset),
    ):
        if kind in node:
            return build(_decode(v, arrays) for v in node[kind])
    if "$dict" in node:
        return {k: _decode(v, arrays) for k, v in node["$dict"].items()}
    cls = TYPES.get(node.get("$object", ""))
    if cls is None:
        raise SnapshotFormatError(f"unknown stored type {node.get('$object')!r}")
    instance: Any = object.__new__(cls)
    for field, value in node["fields"].items():
        object.__setattr__(instance, field, _decode(value, arrays))  # frozen dataclasses too
    return instance


# --- pickles from before this format ---------------------------------------------------------

# The only globals an old snapshot may name besides our own ``shoptrack.recommend`` classes.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "slice"),
        ("builtins", "complex"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
    }
)
_SPARSE_CLASSES = frozenset(
    {"csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array", "coo_array"}
)
# Our classes by the (module, name) an old pickle names them with, wherever they live now.
_OUR_CLASSES = {(cls.__module__, cls.__qualname__): cls for cls in TYPES.values()}
_LEGACY_MODULES = {cls.__name__: cls for cls in TYPES.values()}


class _LegacyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS or (
            module.startswith("scipy.sparse.") and name in _SPARSE_CLASSES
        ):
            return super().find_class(module, name)
        found = _OUR_CLASSES.get((module, name))
        if found is None and module.startswith("shoptrack.recommend."):
            found = _LEGACY_MODULES.get(name)  # a class that moved since the pickle was made
        if found is not None:
            return found
        raise pickle.UnpicklingError(f"a snapshot may not reference {module}.{name}")


def _legacy_loads(data: bytes) -> Any:
    return _LegacyUnpickler(io.BytesIO(data)).load()
