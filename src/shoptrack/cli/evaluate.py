"""``shoptrack evaluate …``: the quality of the recommendation algorithms on real logs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Only light imports here: `shoptrack` builds every sub-app at start-up, and numpy/scipy
# are loaded by the commands that need them.
from shoptrack.cli.options import err
from shoptrack.recommend.algorithms.registry import ALGORITHMS, BEST

FORMAT_NAMES = "session-rec, diginetica, retailrocket"

evaluate_app = typer.Typer(
    help="Measure recommendation quality on real interaction logs.", no_args_is_help=True
)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


@evaluate_app.command("sessions")
def evaluate_sessions(
    train: Annotated[Path, typer.Option("--train", help="training clicks", exists=True)],
    test: Annotated[Path, typer.Option("--test", help="later clicks to predict", exists=True)],
    fmt: Annotated[
        str, typer.Option("--format", help=f"file format: {FORMAT_NAMES}")
    ] = "session-rec",
    algorithm: Annotated[str, typer.Option(help=f"one of: {', '.join(ALGORITHMS)}")] = BEST,
    k: Annotated[int, typer.Option(help="list length (HR@k, MRR@k)", min=1)] = 20,
    dump: Annotated[
        Path | None, typer.Option(help="write one JSON line per prediction to this file")
    ] = None,
) -> None:
    """Next-item protocol: every click after a session's first, predicted from its prefix.

    Prints one JSON line: hr@k, mrr@k, the prediction count, training seconds (wall and
    CPU) and the per-prediction latency (p50/p99 ms). With --dump, one line per prediction:
    {"session_id", "step" (clicks in the prefix), "next_item", "ranked"}, in product ids.
    """
    from shoptrack.recommend.algorithms.data import FORMATS, Format, read_clicks
    from shoptrack.recommend.algorithms.registry import make
    from shoptrack.recommend.research.evaluation import evaluate, prediction_count, prepare

    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {FORMAT_NAMES}")
    if algorithm not in ALGORITHMS:
        raise _fail(f"--algorithm must be one of {', '.join(ALGORITHMS)}")
    fmt_: Format = fmt
    started = time.perf_counter()
    split = prepare(read_clicks(train, fmt_), read_clicks(test, fmt_))
    err.print(
        f"{split.train.n_sessions} training sessions, {len(split.index)} items; "
        f"{split.test.n_sessions} test sessions, {prediction_count(split.test)} predictions"
    )
    out: IO[bytes] | None = dump.open("wb") if dump else None
    keys = split.index.keys

    def write(session_key: Any, step: int, answer: int, ranked: Any) -> None:
        assert out is not None
        line = {
            "session_id": session_key.item() if hasattr(session_key, "item") else session_key,
            "step": step,
            "next_item": keys[answer].item(),
            "ranked": keys[ranked].tolist(),
        }
        out.write(orjson.dumps(line) + b"\n")

    try:
        with _progress() as progress:
            task = progress.add_task(f"evaluating {algorithm}", total=split.test.n_sessions)
            result = evaluate(
                make(algorithm),
                split,
                k,
                name=algorithm,
                dump=write if out else None,
                progress=lambda n: progress.advance(task, n),
            )
    finally:
        if out is not None:
            out.close()
    typer.echo(orjson.dumps(result.as_dict()).decode())
    err.print(
        f"done in {time.perf_counter() - started:.1f} s" + (f"; dump: {dump}" if dump else "")
    )


@evaluate_app.command("baskets")
def evaluate_baskets(
    file: Annotated[Path, typer.Option("--file", help="Instacart order lines CSV", exists=True)],
    k: Annotated[int, typer.Option(help="list length (HR@k, precision@k)", min=1)] = 10,
) -> None:
    """Next basket from earlier baskets (each user's last order is the test).

    Prints one JSON line with HR@k, precision@k and recall@k per model.
    """
    from shoptrack.recommend.research.baskets import evaluate_basket_file

    with err.status("evaluating baskets"):
        result = evaluate_basket_file(file, k)
    typer.echo(orjson.dumps(result).decode())
