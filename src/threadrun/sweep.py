"""Run a plan: a bounded pool of workers, rows in grid order, progress, interrupt → cancel."""
from __future__ import annotations

import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable

from .client import TERMINAL, Client, RunResult
from .errors import APIError
from .plan import Job
from .row import to_row
from .runlog import RunLog

Row = dict[str, Any]


class Sweep:
    """Runs jobs through one client; ``run()`` returns rows in grid order."""

    def __init__(self, client: Client, jobs: list[Job], *, stream: bool = True,
                 concurrency: int = 1, label: str | None = None,
                 on_row: Callable[[Row], None] | None = None, progress: bool = False,
                 runlog: RunLog | None = None):
        self.client = client
        self.jobs = jobs
        self.stream = stream
        self.concurrency = max(1, min(int(concurrency), len(jobs) or 1))
        self.label = label
        self.on_row = on_row
        self.runlog = runlog
        self.progress = progress
        self.rows: dict[int, Row] = {}  # by grid index
        self.stop = threading.Event()
        self.in_flight: dict[int, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def run(self) -> list[Row]:
        """Run every job; on KeyboardInterrupt or ``cancel()`` cancel the in-flight runs and
        return the rows finished so far (in grid order)."""
        bar = _progress_bar(len(self.jobs)) if self.progress and len(self.jobs) > 1 else None
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="threadrun")
        futures: dict[Future, Job] = {pool.submit(self._work, job): job for job in self.jobs}
        try:
            pending = set(futures)
            while pending and not self.stop.is_set():
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._finish(futures[fut], fut.result(), bar)
            if self.stop.is_set():
                self._interrupt(futures)
        except KeyboardInterrupt:
            self._interrupt(futures)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        return [self.rows[i] for i in sorted(self.rows)]

    def cancel(self) -> None:
        """Stop the sweep from any thread; ``run()`` then cancels what is in flight and returns."""
        self.stop.set()

    def _work(self, job: Job) -> RunResult:
        if self.stop.is_set():
            return RunResult(body=job.body, status="skipped")
        return self.client.run(job.body, stream=self.stream, stop=self.stop,
                               on_started=lambda tid, rid: self._started(job, tid, rid))

    def _started(self, job: Job, thread_id: str, run_id: str) -> None:
        with self._lock:
            self.in_flight[job.index] = (thread_id, run_id)

    def _finish(self, job: Job, result: RunResult, bar: Any) -> None:
        """Record one finished job: the row goes to the run log before anything else sees it."""
        with self._lock:
            self.in_flight.pop(job.index, None)
        if result.status == "skipped":
            return
        row = to_row(result, label=self.label, repeat=job.repeat)
        if self.runlog is not None:
            self.runlog.append(row, run=result.run, body=job.body)
        if self.on_row is not None:
            self.on_row(row)
        self.rows[job.index] = row
        if bar is not None:
            bar.update(1)
            failed = sum(1 for r in self.rows.values() if r["status"] != "completed")
            bar.set_postfix(failed=failed, refresh=False)

    def _interrupt(self, futures: dict[Future, Job]) -> None:
        """Stop: keep what finished, cancel every in-flight run on the server, record it cancelled."""
        self.stop.set()
        for fut in futures:
            fut.cancel()
        for fut, job in futures.items():
            result = fut.result() if fut.done() and not fut.cancelled() else None
            if result is not None and result.status in TERMINAL and job.index not in self.rows:
                self._finish(job, result, None)
        with self._lock:
            in_flight = dict(self.in_flight)
        jobs = {job.index: job for job in self.jobs}
        for index, (thread_id, run_id) in in_flight.items():
            self._finish(jobs[index], self._cancel(jobs[index], thread_id, run_id), None)

    def _cancel(self, job: Job, thread_id: str, run_id: str) -> RunResult:
        """Ask the server to cancel one run; the result says what became of it."""
        result = RunResult(body=job.body, status="cancelled", error="interrupted by the user")
        try:
            result.run = self.client.cancel_run(thread_id, run_id)
        except APIError as exc:
            result.run = {"id": run_id, "thread_id": thread_id}
            result.error = f"interrupted by the user; cancel failed: {exc}"
        if result.run.get("status") in TERMINAL - {"cancelled"}:
            result.status = result.run["status"]  # it ended before the cancel arrived
        return result


def _progress_bar(total: int) -> Any:
    """A tqdm.auto bar: a widget in Jupyter, text in a terminal."""
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="threadrun", unit="run", file=sys.stderr, leave=True)
