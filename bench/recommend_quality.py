"""Recommendation quality: every algorithm on every real data sample, as one table.

Run it from the repository root (not a test)::

    python bench/recommend_quality.py             # the table (README's table comes from it)
    python bench/recommend_quality.py --tune      # re-run the hyper-parameter search

The data is read from ``../shared/data`` (or ``$SHOPTRACK_DATA_DIR``); a dataset that is not
there is skipped with a note.

* ``yoochoose`` — ``train_tr`` → ``train_valid`` of the session-rec rsc15 100k sample: the
  split the published peer figures were measured on (next-item protocol, 12,455
  predictions);
* ``diginetica``, ``retailrocket`` — for orientation: the last 20% of sessions by end time are
  the test; the parameters are those tuned on yoochoose;
* ``instacart`` — next basket (each user's last order), HR@10 / precision@10 / recall@10.

``--tune`` never reads ``train_valid``: it carves validation days from the end of
``train_tr`` (see ``shoptrack.recommend.research.tuning``) and prints the chosen parameters, to be
copied into ``shoptrack.recommend.algorithms.registry.TUNED``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoptrack.recommend.algorithms.data import Clicks, read_clicks, split_last
from shoptrack.recommend.algorithms.registry import ALGORITHMS, make
from shoptrack.recommend.research.baskets import evaluate_basket_file
from shoptrack.recommend.research.evaluation import Split, evaluate, prediction_count, prepare
from shoptrack.recommend.research.tuning import SPACES, START, coordinate_descent, validation_folds

ROOT = Path(__file__).resolve().parent.parent
YOOCHOOSE = "yoochoose-rsc15-sample"
TRAIN_TR = "yoochoose-clicks-100k_train_tr.txt"
TRAIN_VALID = "yoochoose-clicks-100k_train_valid.txt"
PUBLISHED_PREDICTIONS = 12_455
TEST_FRACTION = 0.2


def data_dir() -> Path:
    return Path(os.environ.get("SHOPTRACK_DATA_DIR", ROOT.parent / "shared" / "data"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def yoochoose() -> Split | None:
    folder = data_dir() / YOOCHOOSE
    if not (folder / TRAIN_TR).exists():
        return None
    split = prepare(
        read_clicks(folder / TRAIN_TR, "session-rec"),
        read_clicks(folder / TRAIN_VALID, "session-rec"),
    )
    count = prediction_count(split.test)
    if count != PUBLISHED_PREDICTIONS:
        log(f"warning: {count} predictions, the published protocol has {PUBLISHED_PREDICTIONS}")
    return split


def by_time(path: Path, fmt: str) -> Split | None:
    if not path.exists():
        return None
    clicks: Clicks = read_clicks(path, fmt)  # type: ignore[arg-type]
    return prepare(*split_last(clicks, fraction=TEST_FRACTION))


DATASETS: dict[str, Callable[[], Split | None]] = {
    "yoochoose": yoochoose,
    "diginetica": lambda: by_time(
        data_dir() / "diginetica-sample" / "sample_train-item-views.csv", "diginetica"
    ),
    "retailrocket": lambda: by_time(
        data_dir() / "retailrocket-sample" / "sample_events.csv", "retailrocket"
    ),
}


def table(datasets: list[str], algorithms: list[str], k: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for dataset in datasets:
        split = DATASETS[dataset]()
        if split is None:
            log(f"{dataset}: data not found under {data_dir()}, skipped")
            continue
        log(
            f"{dataset}: {split.train.n_sessions} training sessions, {len(split.index)} items, "
            f"{prediction_count(split.test)} predictions"
        )
        for name in algorithms:
            result = evaluate(make(name), split, k, name=name).as_dict()
            rows.append({"dataset": dataset, **result})
            log(json.dumps(rows[-1]))
    return rows


def print_markdown(rows: list[dict[str, Any]], k: int) -> None:
    print(
        f"| dataset | algorithm | HR@{k} | MRR@{k} | predictions | train s (cpu) "
        "| latency p50 / p99 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['algorithm']} | {r[f'hr@{k}']:.4f} | {r[f'mrr@{k}']:.4f} "
            f"| {r['predictions']} | {r['train_seconds']:.2f} ({r['train_cpu_seconds']:.2f}) "
            f"| {r['latency_p50_ms']:.3f} / {r['latency_p99_ms']:.3f} |"
        )


def print_baskets(k: int) -> None:
    path = data_dir() / "instacart-sample" / "df_sample.csv"
    if not path.exists():
        log(f"instacart: data not found under {data_dir()}, skipped")
        return
    result = evaluate_basket_file(path, k)
    print()
    print(f"Instacart next basket ({result['users']} users, last order each):")
    print()
    print(f"| model | HR@{k} | precision@{k} | recall@{k} |")
    print("|---|---|---|---|")
    for name, m in result.items():
        if isinstance(m, dict):
            print(
                f"| {name} | {m[f'hr@{k}']:.4f} | {m[f'precision@{k}']:.4f} "
                f"| {m[f'recall@{k}']:.4f} |"
            )


def tune(algorithms: list[str], folds: int) -> None:
    folder = data_dir() / YOOCHOOSE
    if not (folder / TRAIN_TR).exists():
        log(f"yoochoose: data not found under {data_dir()}; nothing to tune on")
        return
    # Only train_tr is read: the validation days are its own last days.
    splits = validation_folds(read_clicks(folder / TRAIN_TR, "session-rec"), folds)
    for i, s in enumerate(splits, 1):
        log(f"fold {i}: {s.train.n_sessions} sessions, {prediction_count(s.test)} predictions")
    chosen: dict[str, dict[str, Any]] = {}
    for name in algorithms:
        if name not in SPACES:
            continue
        start = START.get(name)
        if name == "vstan-blend" and "vstan" in chosen:
            start = {**chosen["vstan"], "remind": 0.0, "rules": 0.0}
        started = time.perf_counter()
        best = coordinate_descent(name, splits, start=start, log=log)
        chosen[name] = best.params
        print(
            json.dumps(
                {
                    "algorithm": name,
                    "validation_hr@20": round(best.hit_rate, 4),
                    "validation_mrr@20": round(best.mrr, 4),
                    "params": best.params,
                    "search_seconds": round(time.perf_counter() - started, 1),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tune", action="store_true", help="search hyper-parameters instead")
    parser.add_argument("--folds", type=int, default=2, help="validation days for --tune")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    algorithms = [a for a in args.algorithms.split(",") if a]
    if args.tune:
        tune(algorithms, args.folds)
        return
    rows = table([d for d in args.datasets.split(",") if d], algorithms, args.k)
    print_markdown(rows, args.k)
    print_baskets(10)


if __name__ == "__main__":
    main()
