"""`shoptrack evaluate sessions|baskets` on tiny files."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from shoptrack.cli.evaluate import FORMAT_NAMES
from shoptrack.cli.main import app
from shoptrack.recommend.algorithms.data import FORMATS

runner = CliRunner()


def write_session_rec(path: Path, rows: list[tuple[int, int, float]]) -> Path:
    path.write_text("SessionId\tItemId\tTime\n" + "".join(f"{s}\t{i}\t{t}\n" for s, i, t in rows))
    return path


def test_evaluate_sessions_prints_one_json_line_and_dumps(tmp_path: Path) -> None:
    train = write_session_rec(
        tmp_path / "train.txt", [(1, 10, 1.0), (1, 11, 2.0), (2, 10, 3.0), (2, 12, 4.0)]
    )
    test = write_session_rec(
        tmp_path / "test.txt", [(7, 11, 10.0), (7, 10, 11.0), (7, 99, 12.0), (7, 12, 13.0)]
    )
    dump = tmp_path / "predictions.jsonl"
    result = runner.invoke(
        app,
        [
            *("evaluate", "sessions", "--train", str(train), "--test", str(test)),
            *("--algorithm", "popular", "--k", "2", "--dump", str(dump)),
        ],
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert report["predictions"] == 2
    assert report["hr@2"] == 0.5 and report["mrr@2"] == 0.5  # 10 at rank 1, 12 not in top 2
    assert {"train_seconds", "latency_p50_ms", "latency_p99_ms"} <= report.keys()
    lines = [orjson.loads(line) for line in dump.read_text().splitlines()]
    assert lines == [
        {"session_id": 7, "step": 1, "next_item": 10, "ranked": [10, 11]},
        {"session_id": 7, "step": 2, "next_item": 12, "ranked": [10, 11]},
    ]


def test_evaluate_sessions_refuses_unknown_names(tmp_path: Path) -> None:
    train = write_session_rec(tmp_path / "t.txt", [(1, 10, 1.0), (1, 11, 2.0)])
    args = ["evaluate", "sessions", "--train", str(train), "--test", str(train)]
    assert runner.invoke(app, [*args, "--algorithm", "nope"]).exit_code == 2
    assert runner.invoke(app, [*args, "--format", "nope"]).exit_code == 2


def test_format_names_in_the_help_are_the_loader_formats() -> None:
    assert ", ".join(FORMATS) == FORMAT_NAMES


def test_evaluate_baskets(tmp_path: Path) -> None:
    header = ",order_id,user_id,order_number,order_dow,order_hour_of_day,"
    header += "days_since_prior_order,product_id,add_to_cart_order,reordered\n"
    rows = [
        (1, 1, 1, 5),
        (1, 1, 1, 6),
        (2, 1, 2, 5),  # user 1's last order: 5 again
        (3, 2, 1, 6),
        (3, 2, 1, 7),
        (4, 2, 2, 7),  # user 2's last order
    ]
    body = "".join(f"{n},{o},{u},{num},1,8,,{p},1.0,0.0\n" for n, (o, u, num, p) in enumerate(rows))
    path = tmp_path / "orders.csv"
    path.write_text(header + body)
    result = runner.invoke(app, ["evaluate", "baskets", "--file", str(path), "--k", "1"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert report["users"] == 2
    # Popular: 6 (bought twice) for both users, a miss for both. Re-order: the most recent of
    # each user's once-bought products: user 1 gets 6 (miss), user 2 gets 7 (hit).
    assert report["popular"]["hr@1"] == 0.0
    assert report["reorder"]["hr@1"] == 0.5 and report["reorder"]["precision@1"] == 0.5
    assert set(report) >= {"popular", "bought-together", "reorder"}
