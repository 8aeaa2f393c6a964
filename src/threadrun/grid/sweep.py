"""Run a plan: a bounded pool of workers, rows in grid order, progress, interrupt → cancel.

Workers record their own rows (run log first, then ``on_row``), so a KeyboardInterrupt, which
Python delivers to the main thread only, can never land between logging a row and keeping it.
The main thread only waits. On an interrupt (or ``cancel()`` from another thread) it sets the
stop flag: workers take no new job, and each cancels its own run on the server (``Client.run``
does, waiting for the server to confirm), so a stuck worker never holds up the others. A second
interrupt stops the waiting: the cell gets the rows it has, and the runs still ending are
logged by their workers, which hold the run log open until they end (``RunLog.hold``).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .. import config, notify, scrub
from ..client import Client
from ..client.runs import Turn
from ..http import watch
from ..rows.result import RunResult
from ..rows.row import to_row
from ..rows.runlog import RunLog
from .plan import Job

log = logging.getLogger(__package__)

Row = dict[str, Any]
#: Seconds between redraws of the progress bar while runs wait (its elapsed time keeps moving).
REFRESH_S = 1.0


class Sweep:
    """Runs jobs through one client; ``run()`` returns rows in grid order."""

    def __init__(self, client: Client, jobs: list[Job], *, stream: bool = True,
                 concurrency: int = 1, label: str | None = None,
                 on_row: Callable[[Row], None] | None = None, progress: bool = False,
                 runlog: RunLog | None = None,
                 reassign: Callable[[str], str | None] | None = None,
                 deadline: float | None = config.DEADLINE_S,
                 turn: Callable[[Job], Turn] | None = None,
                 score: Callable[[Row, Any], None] | None = None,
                 keys: dict[int, tuple[str, str]] | None = None, budget: Any = None):
        self.client = client
        #: ``turn(job)``: what a run does beyond one create (continue a thread, answer tools).
        self.turn = turn
        #: ``score(row, input label)`` sets the row's score before it is logged (``--score``).
        self.score = score
        self.deadline = deadline
        #: ``reassign(assistant_id)`` → another id when a create answered 404 (the assistant is
        #: gone), or None; the run is then sent once more with it (no run was created).
        self.reassign = reassign
        self.jobs = jobs
        #: Each job's request and thread identities (``cache.keys``), logged with its row.
        self.keys = keys or {}
        #: A ``budget.Budget``: a job is sent only when its worst case fits (``admit``).
        self.budget = budget
        self.stream = stream
        self.concurrency = max(1, min(int(concurrency), len(jobs) or 1))
        self.label = label
        self.on_row = on_row
        self.runlog = runlog
        self.progress = progress
        self.rows: dict[int, Row] = {}  # by grid index
        self.stop = threading.Event()
        #: Runs the server started that have not ended here yet: grid index → (thread, run id).
        self.in_flight: dict[int, tuple[str, str]] = {}
        self._lock = threading.RLock()
        self._log_lock = threading.Lock()
        self._secrets = scrub.known()  # looked up once per sweep, not per row
        self._bar: Any = None
        #: Finished runs by what happened: completed, incomplete, failed (any other ending).
        self.counts = {"completed": 0, "incomplete": 0, "failed": 0}
        self.not_logged = 0
        self._left = len(jobs)  # jobs not finished yet: O(1) completion tracking, not wait(all)
        self._all_done = threading.Event()
        if not jobs:
            self._all_done.set()
        self._taken = self._not_sent = 0  # jobs a worker took; of those, stopped before sending
        self._working = 0  # workers not ended yet
        self._idle = threading.Event()

    def run(self) -> list[Row]:
        """Run every job; on KeyboardInterrupt or ``cancel()`` cancel the in-flight runs and
        return the rows finished so far (in grid order); a second interrupt returns at once."""
        if self.progress and (len(self.jobs) > 1 or _in_notebook()):  # one run: its live text
            self._bar = _progress_bar(len(self.jobs))
        self._todo = iter(self.jobs)
        self._working = self.concurrency
        if self.runlog is not None:
            self.runlog.hold(self.concurrency)  # each worker releases it when it ends
        for _ in range(self.concurrency):
            _pool().submit(self._worker)
        try:
            self._wait()
        finally:
            if self._bar is not None:
                self._bar.close()
        if self.stop.is_set():
            self._say_what_was_not_sent()
        if self.budget is not None and self.budget.refused:
            notify.warn(self.budget.line(len(self.jobs), self.label))
        if self.not_logged:
            notify.warn(f"{self.not_logged} rows could not be written to the run log "
                        "(see their error column)")
        with self._lock:
            return [self.rows[i] for i in sorted(self.rows)]

    def _say_what_was_not_sent(self) -> None:
        """One stderr line after a stop: how many runs were never sent, and how to run them."""
        with self._lock:
            unsent = len(self.jobs) - self._taken + self._not_sent
        if unsent:
            how = (f"`--resume {self.label}` runs them" if self.label
                   else "a sweep with --label can be finished later with --resume LABEL")
            notify.warn(f"stopped: {unsent} of {len(self.jobs)} runs were never sent; {how}")

    def _wait(self) -> None:
        """Wait for the workers; the first interrupt stops the sweep, a second stops waiting.

        The bar is redrawn every ``REFRESH_S`` while runs wait, so its elapsed time moves on.
        """
        stopping, drawn = False, time.monotonic()
        while True:
            if self._bar is not None and time.monotonic() - drawn >= REFRESH_S:
                drawn = time.monotonic()
                self._refresh()
            try:
                if not stopping and self.stop.is_set():
                    stopping = True
                    watch.stop_runs(self.stop)  # cut blocked reads: those runs are cancelled next
                if (self._idle if stopping else self._all_done).wait(0.1):
                    return
            except KeyboardInterrupt:
                if stopping:
                    notify.warn(f"stopped waiting; the {self._working} runs still being "
                                "cancelled go to the run log as they end")
                    return
                self.stop.set()

    def _refresh(self) -> None:
        """Redraw the progress bar (its elapsed time); a bar that cannot is left as it is."""
        try:
            self._bar.refresh()
        except Exception:  # noqa: BLE001 - a display problem never stops a sweep
            pass

    def cancel(self) -> None:
        """Stop the sweep from any thread; ``run()`` then cancels what is in flight and returns."""
        self.stop.set()

    def _worker(self) -> None:
        """One of ``concurrency`` workers on the shared pool: take the next job until none is left
        (or the sweep stopped); the last job to finish wakes ``run()``."""
        try:
            while not self.stop.is_set():
                with self._lock:
                    job = next(self._todo, None)
                    self._taken += job is not None
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
        finally:
            with self._lock:
                self._working -= 1
                if self._working == 0:
                    self._idle.set()
            if self.runlog is not None:
                self.runlog.release()

    def _run_one(self, job: Job) -> None:
        """Run one job and record its row (unless the sweep stopped before it was sent)."""
        if self.stop.is_set():
            with self._lock:
                self._not_sent += 1
            return
        if self.budget is not None and not self.budget.admit(job, self.stop):
            return  # its worst case could pass the budget: never sent, no row (--resume runs it)
        cost: float | None = None
        try:
            cost = self._send_and_record(job)
        finally:
            if self.budget is not None:
                self.budget.settle(job, cost)

    def _send_and_record(self, job: Job) -> float | None:
        """Send one job (again with another assistant if its own is gone) and record its row;
        the row's cost (0 when it was never sent)."""
        result = self._send(job)
        gone = job.body.get("assistant_id")
        if (self.reassign is not None and result.run is None and isinstance(gone, str)
                and result.extra.get("http_status") == 404 and not self.stop.is_set()):
            try:
                other = self.reassign(gone)
            except Exception:  # noqa: BLE001 - keep the first answer's row
                other = None
            if other and other != gone:
                log.info("run %d: assistant %s is gone (404); sent again with %s", job.index, gone, other)
                job = dataclasses.replace(job, body={**job.body, "assistant_id": other})
                result = self._send(job)
        if result.extra.get("not_sent") and self.stop.is_set():
            with self._lock:
                self.in_flight.pop(job.index, None)
                self._not_sent += 1
            return 0.0  # never sent: no row; --resume runs it
        return self._record(job, result)

    def _send(self, job: Job) -> RunResult:
        """``Client.run`` for one job; never raises."""
        try:
            return self.client.run(job.body, stream=self.stream, stop=self.stop,
                                   deadline=self.deadline,
                                   on_started=lambda tid, rid: self._started(job, tid, rid),
                                   on_text=self._live(job),
                                   turn=self.turn(job) if self.turn is not None else None)
        except Exception as exc:  # noqa: BLE001 - a bug must still leave its row, not vanish
            return RunResult(body=job.body, status="error",
                             error=f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}")

    def _live(self, job: Job) -> Callable[[str], None] | None:
        """Where a streamed run's text so far goes: the notebook's progress line, if it shows it."""
        bar = self._bar
        if bar is None or not getattr(bar, "live", False):
            return None
        return lambda text: bar.text(job.index, text)

    def _started(self, job: Job, thread_id: str, run_id: str) -> None:
        with self._lock:
            self.in_flight[job.index] = (thread_id, run_id)

    def _record(self, job: Job, result: RunResult) -> float | None:
        """Keep one job's row: the run log first, then progress, then ``on_row``.

        Rows are logged one at a time (``_log_lock``); ``_lock``, which ``run()`` needs to
        return, is never held across the log's write or ``on_row``.
        """
        row = to_row(result, label=self.label, repeat=job.repeat,
                     reasoning_effort=job.reasoning_effort, secrets=self._secrets, input=job.input)
        if self.score is not None:
            self.score(row, job.input)
        with self._log_lock:
            if self.runlog is not None:
                try:
                    self.runlog.append(row, run=result.run, body=job.body, secrets=self._secrets,
                                       keys=self.keys.get(job.index, (None, None)))
                except Exception as exc:  # noqa: BLE001 - keep the row; say it is not logged
                    row["error"] = "; ".join(filter(None, [row["error"], f"not in the run log: {exc}"]))
                    self.not_logged += 1
            with self._lock:
                self.in_flight.pop(job.index, None)
                self.rows[job.index] = row
                status = row["status"] if row["status"] in self.counts else "failed"
                self.counts[status] += 1
                counts = dict(self.counts)
            if self._bar is not None:
                if hasattr(self._bar, "done"):
                    self._bar.done(job.index)  # its live text gives way to its row
                self._bar.set_postfix(counts, refresh=False)
                self._bar.update(1)
            if self.on_row is not None:  # one at a time, in the order rows are logged
                self.on_row(row)
        return row["cost_usd"]


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


def _in_notebook() -> bool:
    from .progress import in_notebook
    return in_notebook()


def _progress_bar(total: int) -> Any:
    """An output updated in place in a notebook (its final state is what the file keeps),
    tqdm text in a terminal (see ``progress``)."""
    from .progress import progress_bar
    return progress_bar(total, live=True)
