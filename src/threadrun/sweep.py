"""Run a plan: a bounded pool of workers, rows in grid order, progress, interrupt → cancel.

Workers record their own rows (run log first, then ``on_row``), so a KeyboardInterrupt, which
Python delivers to the main thread only, can never land between logging a row and keeping it.
The main thread only waits; on an interrupt (or ``cancel()`` from another thread) it cancels
every in-flight run on the server and records those rows as ``cancelled``.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable

from .client import Client
from .result import RunResult, run_error
from .spec import TERMINAL
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
                 runlog: RunLog | None = None,
                 reassign: Callable[[str], str | None] | None = None):
        self.client = client
        #: ``reassign(assistant_id)`` → another id when a create answered 404 (the assistant is
        #: gone), or None; the run is then sent once more with it (no run was created).
        self.reassign = reassign
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
        self._lock = threading.RLock()
        self._bar: Any = None
        self.failed = 0
        self.not_logged = 0
        self._left = len(jobs)  # jobs not finished yet: O(1) completion tracking, not wait(all)
        self._all_done = threading.Event()
        if not jobs:
            self._all_done.set()

    def run(self) -> list[Row]:
        """Run every job; on KeyboardInterrupt or ``cancel()`` cancel the in-flight runs and
        return the rows finished so far (in grid order)."""
        if self.progress and len(self.jobs) > 1:
            self._bar = _progress_bar(len(self.jobs))
        self._todo = iter(self.jobs)
        workers: list[Future] = [_pool().submit(self._worker) for _ in range(self.concurrency)]
        try:
            while not self.stop.is_set() and not self._all_done.wait(0.1):
                pass
        except KeyboardInterrupt:
            self.stop.set()
        try:
            if self.stop.is_set():
                self._cancel_in_flight()
        finally:
            wait(workers)  # each worker takes no job once stopped, and ends after its current one
            if self._bar is not None:
                self._bar.close()
        if self.not_logged:
            print(f"threadrun: {self.not_logged} rows could not be written to the run log "
                  "(see their error column)", file=sys.stderr)
        return [self.rows[i] for i in sorted(self.rows)]

    def cancel(self) -> None:
        """Stop the sweep from any thread; ``run()`` then cancels what is in flight and returns."""
        self.stop.set()

    def _worker(self) -> None:
        """One of ``concurrency`` workers on the shared pool: take the next job until none is left
        (or the sweep stopped); the last job to finish wakes ``run()``."""
        while not self.stop.is_set():
            with self._lock:
                job = next(self._todo, None)
            if job is None:
                return
            try:
                self._run_one(job)
            except Exception:  # noqa: BLE001 - e.g. an on_row callback that raised: next job
                pass
            finally:
                with self._lock:
                    self._left -= 1
                    if self._left == 0:
                        self._all_done.set()

    def _run_one(self, job: Job) -> None:
        """Run one job and record its row (unless the sweep stopped it)."""
        if self.stop.is_set():
            return
        result = self._send(job)
        gone = job.body.get("assistant_id")
        if (self.reassign is not None and result.run is None and isinstance(gone, str)
                and result.extra.get("http_status") == 404 and not self.stop.is_set()):
            try:
                other = self.reassign(gone)
            except Exception:  # noqa: BLE001 - keep the first answer's row
                other = None
            if other and other != gone:
                job = dataclasses.replace(job, body={**job.body, "assistant_id": other})
                result = self._send(job)
        if self.stop.is_set() and result.status not in TERMINAL and result.run:
            if not self._claim(job.index):
                return  # the main thread is cancelling and recording this one
            result = self._cancel(job, result.run["thread_id"], result.run["id"])
        self._record(job, result)

    def _send(self, job: Job) -> RunResult:
        """``Client.run`` for one job; never raises."""
        try:
            return self.client.run(job.body, stream=self.stream, stop=self.stop,
                                   on_started=lambda tid, rid: self._started(job, tid, rid))
        except Exception as exc:  # noqa: BLE001 - a bug must still leave its row, not vanish
            return RunResult(body=job.body, status="error",
                             error=f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}")

    def _claim(self, index: int) -> bool:
        """Take an in-flight run for cancelling; only one thread gets it."""
        with self._lock:
            return self.in_flight.pop(index, None) is not None

    def _started(self, job: Job, thread_id: str, run_id: str) -> None:
        with self._lock:
            self.in_flight[job.index] = (thread_id, run_id)

    def _record(self, job: Job, result: RunResult) -> None:
        """Keep one job's row, once: the run log first, then progress, then ``on_row``."""
        with self._lock:
            if job.index in self.rows:
                return
            self.in_flight.pop(job.index, None)
            row = to_row(result, label=self.label, repeat=job.repeat,
                         reasoning_effort=job.reasoning_effort)
            if self.runlog is not None:
                try:
                    self.runlog.append(row, run=result.run, body=job.body)
                except Exception as exc:  # noqa: BLE001 - keep the row; say it is not logged
                    row["error"] = "; ".join(filter(None, [row["error"], f"not in the run log: {exc}"]))
                    self.not_logged += 1
            self.rows[job.index] = row
            self.failed += row["status"] != "completed"
            if self._bar is not None:
                self._bar.update(1)
                self._bar.set_postfix(failed=self.failed, refresh=False)
            if self.on_row is not None:  # one at a time, in the order rows are logged
                self.on_row(row)

    def _cancel_in_flight(self) -> None:
        """Cancel every run still in flight on the server and record what became of it."""
        with self._lock:
            in_flight = dict(self.in_flight)
        jobs = {job.index: job for job in self.jobs}
        for index, (thread_id, run_id) in in_flight.items():
            if self._claim(index):
                self._record(jobs[index], self._cancel(jobs[index], thread_id, run_id))

    def _cancel(self, job: Job, thread_id: str, run_id: str) -> RunResult:
        """Ask the server to cancel one run; the result says what became of it."""
        result = RunResult(body=job.body, status="cancelled", error="interrupted by the user")
        try:
            result.run = self.client.cancel_run(thread_id, run_id)
        except APIError as exc:  # most often: it ended before the cancel arrived
            try:
                result.run, _ = self.client.retrieve_run(thread_id, run_id)
            except APIError:
                result.run = {"id": run_id, "thread_id": thread_id}
                result.status, result.error = "unknown", f"interrupted; cancel failed: {exc}"
        status = (result.run or {}).get("status")
        if status in TERMINAL - {"cancelled"}:  # it ended on its own before the cancel
            result.status, result.error = status, run_error(result.run)
            try:
                result.reply = self.client.reply_text(thread_id, run_id)
            except APIError as exc:
                result.error = f"reply not read: {exc}"
        return result


_shared: ThreadPoolExecutor | None = None
_shared_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The process's worker threads, shared by every sweep: a call does not start new threads
    when idle ones are there (a pool per call cost ~17% of a one-run ``threadrun.run``). Its
    bound is far above any concurrency, so sweeps running at once never wait for each other."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ThreadPoolExecutor(max_workers=4096, thread_name_prefix="threadrun")
        return _shared


def _progress_bar(total: int) -> Any:
    """A tqdm.auto bar: a widget in Jupyter, text in a terminal."""
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="threadrun", unit="run", file=sys.stderr, leave=True)
