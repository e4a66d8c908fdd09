"""Item-to-item rules: co-occurrence ("also viewed", "bought together") and sequential rules.

Both are sparse item × item matrices built in one pass of scipy sparse products, so training
is linear in the number of clicks; a recommendation reads one row (or a few, for a cart).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

# scipy ships no type information; its sparse matrices are used through a few plain calls.
import scipy.sparse as sp

from shoptrack.recommend.algorithms.base import EMPTY_ITEMS, EMPTY_SCORES, Recommender, sum_by_item
from shoptrack.recommend.algorithms.data import FloatArray, IntArray, Sessions

Context = Literal["last", "all"]
Weighting = Literal["same", "div", "linear"]


def _empty_matrix(n: int) -> sp.csr_matrix:
    return sp.csr_matrix((n, n), dtype=np.float64)


# Rules kept per item: a popular item co-occurs with most of the catalogue, and a serving call
# should read a few hundred numbers, not the whole catalogue; past this the weakest rules are
# too weak to reach a top list anyway.
MAX_RULES_PER_ITEM = 500


def prune_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Only the ``keep`` largest values of each row (ties: lower column first)."""
    matrix = matrix.tocsr()
    lengths = np.diff(matrix.indptr)
    if keep <= 0 or lengths.size == 0 or lengths.max() <= keep:
        return matrix
    rows = np.repeat(np.arange(lengths.size), lengths)
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    rank = np.arange(order.size) - np.repeat(matrix.indptr[:-1], lengths)
    chosen = np.sort(order[rank < keep])  # back to CSR order (rows, then columns)
    pruned = sp.csr_matrix(
        (matrix.data[chosen], matrix.indices[chosen], _indptr(rows[chosen], lengths.size)),
        shape=matrix.shape,
    )
    return pruned


def _indptr(rows: IntArray, n_rows: int) -> IntArray:
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr


def _row(matrix: sp.csr_matrix, item: int) -> tuple[IntArray, FloatArray]:
    lo, hi = int(matrix.indptr[item]), int(matrix.indptr[item + 1])
    return matrix.indices[lo:hi].astype(np.int64), matrix.data[lo:hi].astype(np.float64)


def _rows(
    matrix: sp.csr_matrix, items: IntArray, weights: FloatArray
) -> tuple[IntArray, FloatArray]:
    """Weighted sum of several rows, as (items, scores)."""
    if items.size == 0:
        return EMPTY_ITEMS, EMPTY_SCORES
    parts = [_row(matrix, int(i)) for i in items]
    cols = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] * w for p, w in zip(parts, weights, strict=True)])
    return sum_by_item(cols, vals)


class CoOccurrence(Recommender):
    """Association rules: items that appear in the same sessions (or baskets) as the context.

    ``C[a, b]`` is the number of sessions holding both ``a`` and ``b`` (a session counts once
    however often it repeats them, so one visitor's reloads do not make a rule). With
    ``context="last"`` the last item of the prefix is the context (the "also viewed" block on
    a product page); with ``"all"`` every distinct prefix item contributes its row normalised
    to conditional frequencies ``P(b | a)`` (cart complements, next basket from history).
    With ``repeats``, ``C[a, a]`` is the number of sessions that came back to ``a`` (clicked
    it twice or more): in click streams the next click is often the same product again, and
    only the item itself can predict that; an "also viewed" block leaves it off.
    """

    name: ClassVar[str] = "ar"

    def __init__(
        self, context: Context = "last", repeats: bool = False, max_rules: int = MAX_RULES_PER_ITEM
    ) -> None:
        super().__init__()
        self.context = context
        self.repeats = repeats
        self.max_rules = max_rules
        self._matrix = _empty_matrix(0)

    def _fit(self, sessions: Sessions) -> None:
        incidence = sp.csr_matrix(
            (np.ones(sessions.items.size), sessions.items, sessions.offsets),
            shape=(sessions.n_sessions, self.n_items),
        )
        incidence.sum_duplicates()
        came_back = np.bincount(incidence.indices[incidence.data > 1], minlength=self.n_items)
        incidence.data[:] = 1.0
        matrix = (incidence.T @ incidence).tocsr()
        matrix.setdiag(came_back.astype(np.float64) if self.repeats else 0.0)
        matrix.eliminate_zeros()
        if self.context == "all":
            totals = np.asarray(matrix.sum(axis=1)).ravel()
            matrix = sp.diags(1.0 / np.maximum(totals, 1.0)) @ matrix
        self._matrix = prune_rows(matrix, self.max_rules)

    def _candidates(self, prefix: IntArray, now: float, want: int) -> tuple[IntArray, FloatArray]:
        if prefix.size == 0:
            return EMPTY_ITEMS, EMPTY_SCORES
        if self.context == "last":
            return _row(self._matrix, int(prefix[-1]))
        items = np.unique(prefix)
        return _rows(self._matrix, items, np.ones(items.size))


class SequentialRules(Recommender):
    """Rules ``a → b`` for ``b`` clicked after ``a`` in a session, at most ``steps`` later.

    A rule observed ``d`` clicks apart weighs ``1/d`` (``"div"``), ``1 - 0.1 (d - 1)``
    (``"linear"``) or 1 (``"same"``): what is clicked right after an item says most about
    it. The prefix's last item is the context. ``repeats`` keeps ``a → a`` (a visitor coming
    back to the same product is common and worth predicting).
    """

    name: ClassVar[str] = "sr"

    def __init__(
        self,
        steps: int = 10,
        weighting: Weighting = "div",
        repeats: bool = True,
        context: int = 1,
        max_rules: int = MAX_RULES_PER_ITEM,
    ) -> None:
        super().__init__()
        self.max_rules = max_rules
        self.steps = steps
        self.weighting = weighting
        self.repeats = repeats
        self.context = context
        self._matrix = _empty_matrix(0)

    def _gap_weight(self, d: int) -> float:
        if self.weighting == "div":
            return 1.0 / d
        if self.weighting == "linear":
            return max(0.1, 1.0 - 0.1 * (d - 1))
        return 1.0

    def _fit(self, sessions: Sessions) -> None:
        owner = sessions.session_of_click()
        rows: list[IntArray] = []
        cols: list[IntArray] = []
        vals: list[FloatArray] = []
        for d in range(1, self.steps + 1):
            if sessions.items.size <= d:
                break
            same = owner[d:] == owner[:-d]
            a, b = sessions.items[:-d][same], sessions.items[d:][same]
            if not self.repeats:
                a, b = a[a != b], b[a != b]
            rows.append(a)
            cols.append(b)
            vals.append(np.full(a.size, self._gap_weight(d)))
        if not rows:
            self._matrix = _empty_matrix(self.n_items)
            return
        matrix = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n_items, self.n_items),
        )
        matrix.sum_duplicates()
        self._matrix = prune_rows(matrix, self.max_rules)

    def _candidates(self, prefix: IntArray, now: float, want: int) -> tuple[IntArray, FloatArray]:
        if prefix.size == 0:
            return EMPTY_ITEMS, EMPTY_SCORES
        if self.context <= 1:
            return _row(self._matrix, int(prefix[-1]))
        # The last ``context`` clicks, each through its rule row at the rule's own gap weight.
        recent = prefix[-self.context :][::-1]
        gaps = np.arange(1, recent.size + 1)
        return _rows(self._matrix, recent, np.array([self._gap_weight(int(d)) for d in gaps]))
