"""Open-loop load for ``ingest.py --open-loop``: a constant arrival rate, as browsers send.

A closed-loop client (N connections, one request in flight each) slows down with the server:
when a commit takes longer, fewer requests are sent, and the queue a real shop's browsers
would have built never shows (coordinated omission). Here each generator process follows a
fixed schedule instead: request k is *intended* at ``start + offset + k / rate``, whatever
happened before. A request is sent on an idle keep-alive connection at its intended time, or
waits in the client's own queue until one frees up; its latency runs from the intended time
either way, so queueing anywhere (client, kernel, server) counts, as wrk2 and k6's
constant-arrival-rate measure it.

A step runs a warm-up and then a measured window at one rate. Requests intended in the
window are judged: all answered 200, p99 of their latencies. Requests still waiting in the
client's queue when the window ends are never sent (counted as "unsent", a failed step);
requests already sent are always awaited, so that every event the server stored was seen
acknowledged or refused (stored == acknowledged stays checkable).

``Generators`` keeps the generator processes alive across the steps of a search (spawning
costs a second each); ``find_capacity`` doubles the rate from a low start until a step fails,
then bisects a few times between the last rate held and the first one that failed. A step
that fails is run once more before its rate counts as failed (``--retries``): on a machine
shared with other work, one stall elsewhere can fail a step the server holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from _bodies import HOST, BodyMaker, request_head, split_response

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_TICK_S = 0.001  # how often the scheduler wakes (libuv timers have 1 ms steps)
_ANSWER_WAIT_S = 30.0  # how long sent requests are awaited after the window


@dataclass
class RatePlan:
    """One step for one generator process; times are time.monotonic() (shared by processes)."""

    port: int
    site_id: str
    events_per_request: int
    rate: float  # requests/s of this process
    connections: int
    first_send: float  # this process's first intended send (the warm-up starts)
    window_start: float
    window_end: float  # nothing is intended at or after this
    generator: int


@dataclass
class RateResult:
    intended: int = 0  # requests intended inside the window
    answered: int = 0  # of those, answered (any status)
    unsent: int = 0  # of those, still in the client's queue when the window ended
    latencies_ns: list[int] = field(default_factory=list)  # 200 answers inside the window
    ok_total: int = 0  # 200 answers over the whole step, warm-up included
    ok_events_total: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_sample: str = ""


class _Connection(asyncio.Protocol):
    def __init__(self, load: _Load, maker: BodyMaker) -> None:
        self._load = load
        self._maker = maker
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self.intended_ns = 0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, intended_ns: int) -> None:
        assert self._transport is not None
        body = self._maker.next()
        self.intended_ns = intended_ns
        self.busy = True
        self._transport.write(request_head(self._load.plan.port, len(body)) + body)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        response = split_response(self._buffer)
        if response is None:
            return
        head, body, self._buffer = response
        self.busy = False
        self._load.answered(self, head[9:12].decode(), body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._load.lost(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _Load:
    """The schedule of one process: idle connections, the client-side queue, the counts."""

    def __init__(self, plan: RatePlan) -> None:
        self.plan = plan
        self.result = RateResult()
        self.idle: list[_Connection] = []
        self.waiting: deque[int] = deque()  # intended times with no idle connection yet
        self.in_flight = 0
        self.connections: list[_Connection] = []
        self._window_ns = (int(plan.window_start * 1e9), int(plan.window_end * 1e9))

    def _in_window(self, intended_ns: int) -> bool:
        return self._window_ns[0] <= intended_ns < self._window_ns[1]

    def dispatch(self, intended_ns: int) -> None:
        if self._in_window(intended_ns):
            self.result.intended += 1
        if self.idle:
            self.in_flight += 1
            self.idle.pop().send(intended_ns)
        else:
            self.waiting.append(intended_ns)

    def answered(self, connection: _Connection, status: str, body: bytes) -> None:
        now_ns = time.monotonic_ns()
        self.in_flight -= 1
        result = self.result
        in_window = self._in_window(connection.intended_ns)
        if in_window:
            result.answered += 1
        if status == "200":
            result.ok_total += 1
            result.ok_events_total += self.plan.events_per_request
            if in_window:
                result.latencies_ns.append(now_ns - connection.intended_ns)
        else:
            result.errors[status] = result.errors.get(status, 0) + 1
            result.error_sample = result.error_sample or body[:300].decode("utf-8", "replace")
        if self.waiting:
            self.in_flight += 1
            connection.send(self.waiting.popleft())
        else:
            self.idle.append(connection)

    def lost(self, connection: _Connection) -> None:
        with contextlib.suppress(ValueError):
            self.idle.remove(connection)
        if connection.busy:
            connection.busy = False
            self.in_flight -= 1
            errors = self.result.errors
            errors["connection lost"] = errors.get("connection lost", 0) + 1

    async def run(self) -> RateResult:
        loop = asyncio.get_running_loop()
        plan = self.plan
        for index in range(plan.connections):
            maker = BodyMaker(
                plan.site_id, plan.events_per_request, plan.generator * 100_000 + index
            )
            _, connection = await loop.create_connection(
                lambda m=maker: _Connection(self, m), HOST, plan.port
            )
            self.connections.append(connection)
            self.idle.append(connection)
        interval_ns = 1e9 / plan.rate
        first_ns = int(plan.first_send * 1e9)
        end_ns = self._window_ns[1]
        sent = 0
        while True:
            next_ns = first_ns + int(sent * interval_ns)
            if next_ns >= end_ns:
                break
            now_ns = time.monotonic_ns()
            while next_ns <= now_ns and next_ns < end_ns:
                self.dispatch(next_ns)
                sent += 1
                next_ns = first_ns + int(sent * interval_ns)
            await asyncio.sleep(max(0.0, min(_TICK_S, (next_ns - now_ns) / 1e9)))
        # What never left the client's queue is not sent now: the step has failed anyway.
        self.result.unsent = sum(1 for intended in self.waiting if self._in_window(intended))
        self.waiting.clear()
        deadline = time.monotonic() + _ANSWER_WAIT_S
        while self.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in self.connections:
            connection.close()
        await asyncio.sleep(0)
        return self.result


def generator_main(tasks: Any, results: Any) -> None:
    """A generator process: run each plan from its queue and send back a plain dict."""
    with contextlib.suppress(ImportError):  # uvloop ships with uvicorn[standard]
        import uvloop

        uvloop.install()
    while True:
        plan = tasks.get()
        if plan is None:
            return
        # Plain dicts: classes of a spawned module need not unpickle alike in the parent.
        results.put(asdict(asyncio.run(_Load(plan).run())))


# --- the parent's side ---------------------------------------------------------------------
def proc_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of all its live descendants (workers, processor child)."""
    total = 0.0
    with contextlib.suppress(OSError, IndexError, ValueError):
        total = proc_cpu_seconds(pid)
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                total += tree_cpu_seconds(int(child))
    return total


@dataclass
class StepResult:
    rate: float  # the target, requests/s over all generators
    seconds: float
    requests: int  # answered 200 and intended inside the window
    intended: int
    unsent: int
    unanswered: int
    p50_ms: float
    p99_ms: float
    server_cpu: float  # share of one core
    generator_cpu: float  # all generator processes together, share of one core
    generator_cpu_max: float  # the busiest generator process
    errors: dict[str, int]
    error_sample: str
    ok_events_total: int

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def server_cpu_us_per_request(self) -> float:
        """Server CPU per request: steadier than rates when other work shares the cores."""
        return self.server_cpu * self.seconds / max(self.requests, 1) * 1e6

    def failures(self, p99_bound_ms: float) -> list[str]:
        why = []
        if self.errors:
            why.append(f"errors {self.errors}")
        if self.unsent or self.unanswered:
            why.append(f"{self.unsent} unsent, {self.unanswered} unanswered")
        if not self.p99_ms <= p99_bound_ms:
            why.append(f"p99 {self.p99_ms:.1f} ms")
        return why


_NEVER_NS = 2**62  # the latency of a request never sent or never answered


def _percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return float("inf")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    value = sorted_values[index]
    return float("inf") if value >= _NEVER_NS else value / 1e6


class Generators:
    """A few persistent generator processes sharing each step's rate and connections."""

    def __init__(self, count: int, connections: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.connections = connections
        self._results = ctx.Queue()
        self._tasks = [ctx.Queue() for _ in range(count)]
        self._processes = [
            ctx.Process(
                target=generator_main, args=(tasks, self._results), name=f"open-loop-{index}"
            )
            for index, tasks in enumerate(self._tasks)
        ]
        for process in self._processes:
            process.start()

    def close(self) -> None:
        for tasks in self._tasks:
            tasks.put(None)
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()

    def __enter__(self) -> Generators:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def step(
        self,
        server_pid: int,
        port: int,
        site_id: str,
        events_per_request: int,
        rate: float,
        warmup: float,
        window: float,
    ) -> StepResult:
        count = len(self._processes)
        # Time for the processes to open their connections before the first send.
        first_send = time.monotonic() + 0.2 + self.connections / 2000
        window_start = first_send + warmup
        window_end = window_start + window
        for index, tasks in enumerate(self._tasks):
            tasks.put(
                RatePlan(
                    port=port,
                    site_id=site_id,
                    events_per_request=events_per_request,
                    rate=rate / count,
                    connections=max(1, self.connections // count),
                    # Interleaved phases: together the processes send evenly spaced requests.
                    first_send=first_send + index / rate,
                    window_start=window_start,
                    window_end=window_end,
                    generator=index,
                )
            )
        pids = [p.pid for p in self._processes if p.pid is not None]
        time.sleep(max(0.0, window_start - time.monotonic()))
        server0 = tree_cpu_seconds(server_pid)
        generators0 = [proc_cpu_seconds(pid) for pid in pids]
        measured0 = time.monotonic()
        time.sleep(max(0.0, window_end - time.monotonic()))
        server1 = tree_cpu_seconds(server_pid)
        generators1 = [proc_cpu_seconds(pid) for pid in pids]
        measured = time.monotonic() - measured0
        parts = [self._result(_ANSWER_WAIT_S + 30) for _ in self._processes]
        latencies = sorted(value for part in parts for value in part.latencies_ns)
        intended = sum(part.intended for part in parts)
        unsent = sum(part.unsent for part in parts)
        answered = sum(part.answered for part in parts)
        errors: dict[str, int] = {}
        for part in parts:
            for key, value in part.errors.items():
                errors[key] = errors.get(key, 0) + value
        # Unsent and unanswered requests took longer than any bound: they count as such.
        missing = intended - len(latencies)
        latencies.extend([_NEVER_NS] * max(0, missing))
        generator_shares = [
            (b - a) / measured for a, b in zip(generators0, generators1, strict=True)
        ]
        return StepResult(
            rate=rate,
            seconds=window,
            requests=intended - missing,
            intended=intended,
            unsent=unsent,
            unanswered=intended - unsent - answered,
            p50_ms=_percentile(latencies, 0.50),
            p99_ms=_percentile(latencies, 0.99),
            server_cpu=(server1 - server0) / measured,
            generator_cpu=sum(generator_shares),
            generator_cpu_max=max(generator_shares, default=0.0),
            errors=errors,
            error_sample=next((p.error_sample for p in parts if p.error_sample), ""),
            ok_events_total=sum(part.ok_events_total for part in parts),
        )

    def _result(self, timeout: float) -> RateResult:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                return RateResult(**self._results.get(timeout=0.2))
            for process in self._processes:
                if not process.is_alive():
                    raise RuntimeError(f"a load generator exited with code {process.exitcode}")
        raise RuntimeError("a load generator did not finish")


@dataclass
class Capacity:
    best: StepResult | None  # the highest rate held, None if even the lowest failed
    steps: list[tuple[StepResult, list[str]]]  # every step with why it failed ([] = held)

    @property
    def ok_events_total(self) -> int:
        return sum(step.ok_events_total for step, _ in self.steps)


def find_capacity(
    step: Callable[[float], StepResult],
    start_rate: float,
    p99_bound_ms: float,
    bisections: int,
    max_rate: float,
    log: Callable[[str], None],
    retries: int = 1,
) -> Capacity:
    """Double from start_rate until a rate fails, then bisect between held and failed.

    A rate fails when its step fails 1 + retries times in a row."""
    steps: list[tuple[StepResult, list[str]]] = []

    def attempt(rate: float) -> bool:
        # A failed step is run once more: on a shared machine one stall of the server (another
        # process holding both cores for 50 ms) fails a step the server otherwise holds.
        for _ in range(1 + retries):
            outcome = step(rate)
            why = outcome.failures(p99_bound_ms)
            steps.append((outcome, why))
            verdict = "held" if not why else "failed: " + "; ".join(why)
            log(
                f"    {rate:9,.0f} req/s  p50 {outcome.p50_ms:7.2f}  p99 {outcome.p99_ms:8.2f} ms"
                f"  server {outcome.server_cpu:4.0%}  generators {outcome.generator_cpu:4.0%}  "
                f"{verdict}"
            )
            if not why:
                return True
            time.sleep(1.0)  # let the server finish the backlog before the next step
        return False

    held, failed = 0.0, 0.0
    rate = start_rate
    for _ in range(3):  # a start above capacity: come down a little first
        if attempt(rate):
            held = rate
            break
        failed = rate
        rate /= 2
    if held and not failed:  # (when the start failed, the bracket is known already)
        while True:
            rate = min(held * 2, max_rate)
            if rate <= held or not attempt(rate):
                failed = rate if rate > held else 0.0
                break
            held = rate
        for _ in range(bisections if failed else 0):
            rate = (held + failed) / 2
            if attempt(rate):
                held = rate
            else:
                failed = rate
    best = max(
        (outcome for outcome, why in steps if not why),
        key=lambda outcome: outcome.rate,
        default=None,
    )
    return Capacity(best=best, steps=steps)
