"""Soak: N runs through threadrun's public API against the local server with injected faults.

    python -m benchmarks.soak [--runs 1000] [--quick] [--seed 7] [--fault-rate 0.2] [--poll]

One sweep (``threadrun.api.command`` + ``execute``, concurrency 16, run log on) of N grid cells
against ``threadrun.local_server`` with probability faults: every request may get one of the
HTTP kinds (429 / 503 with a short ``retry_after``, 500, drop, drop-after, drop-mid, slow with a
short ``slow_s``), their probabilities adding up to ``--fault-rate``; every created run may end
``failed`` / ``expired`` / ``incomplete``, also adding up to ``--fault-rate``.

Every grid cell has its own (model, temperature), so each run the server created can be traced
back to the cell that asked for it. Checks (exit status 1 when one fails):

- ``one_row_per_run``: exactly one row per requested grid cell, no cell missing or doubled.
- ``log_matches_result``: the run log holds exactly the result's rows (same count, same run ids,
  same cells and statuses): zero lost rows.
- ``no_duplicate_runs``: no grid cell has more than one run on the server (a retried
  createThreadAndRun never starts a second run), and ``runs_created`` == distinct run ids in the
  rows + rows without a run id whose cell has a run on the server (answer lost, never re-sent).
- ``server_runs_reported``: every run the server created whose id reached the client is in its
  cell's row with the server's final status; in particular every run the server completed is a
  ``completed`` row. Runs whose create answer was lost (``drop-after``) are counted as
  ``answer_lost``: by design (README) such a row is ``unknown`` and the run is not re-sent.
- ``completed_rows_whole``: every ``completed`` row has the reply and no error.

The report is printed as text (``--json`` for a JSON object). ``soak()`` returns it as a dict.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini")
HTTP_FAULTS = ("429", "500", "503", "drop", "drop-after", "drop-mid", "slow")
RUN_FAULTS = ("failed", "expired", "incomplete")
CREATE = "POST /threads/runs"
TERMINAL = frozenset({"completed", "failed", "cancelled", "incomplete", "expired"})


def fault_spec(rate: float, seed: int, *, retry_after: float = 0.05, slow_s: float = 0.05) -> str:
    """The probability-mode fault spec: ``rate`` spread evenly over the HTTP kinds, and again
    over the run endings."""
    http = [f"{kind}={rate / len(HTTP_FAULTS):.6f}" for kind in HTTP_FAULTS]
    run = [f"{kind}={rate / len(RUN_FAULTS):.6f}" for kind in RUN_FAULTS]
    return ",".join(http + run + [f"seed={seed}", f"retry_after={retry_after:g}", f"slow_s={slow_s:g}"])


def grid(runs: int) -> tuple[list[str], list[float]]:
    """Models and temperatures whose product has exactly ``runs`` distinct cells."""
    if runs < 1:
        raise ValueError("--runs must be 1 or more")
    n_models = next(m for m in (4, 2, 1) if runs % m == 0)
    k = runs // n_models
    temps = [1.0] if k == 1 else [round(2.0 * i / (k - 1), 9) for i in range(k)]
    if len(set(temps)) != k:
        raise ValueError(f"--runs {runs} is too many to give every cell its own temperature")
    return list(MODELS[:n_models]), temps


def server_runs(srv: Any, timeout: float = 10.0) -> list[dict]:
    """Every run the server holds, once none is active any more: id, thread, cell and status.

    Reads the server's store (``srv.app.store``): LocalServer has no public accessor for the runs
    it created, and runs whose create answer was lost cannot be found over HTTP (no run id).
    """
    store = srv.app.store
    deadline = time.monotonic() + timeout
    while True:
        with store.lock:
            runs = [{"run_id": r.id, "thread_id": r.thread_id, "model": r.params.model,
                     "temperature": r.params.temperature, "status": store.settle(r)}
                    for r in store.runs.values()]
        if all(r["status"] in TERMINAL for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.05)


def soak(runs: int = 1000, *, seed: int = 7, fault_rate: float = 0.2, concurrency: int = 16,
         latency: float = 0.05, stream: bool = True, max_retries: int = 5, workdir: str | os.PathLike | None = None,
         verify_http: bool = True) -> dict:
    """Run the soak; the report (counts and ``checks``: name → list of failure lines)."""
    from threadrun.api import command, execute
    from threadrun.rows.runlog import RunLog
    from threadrun.server import local_server

    models, temps = grid(runs)
    with tempfile.TemporaryDirectory(prefix="threadrun-soak-") as tmp:
        base = Path(workdir) if workdir is not None else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        log_path = base / f"soak-{os.getpid()}-{time.time_ns()}.sqlite"
        old_home = os.environ.get("THREADRUN_HOME")
        os.environ["THREADRUN_HOME"] = str(base / "home")
        try:
            with local_server(latency=latency, max_runs=max(10_000, 4 * runs)) as srv:
                asst = requests.post(srv.url + "/assistants", json={"model": models[0]}, timeout=10)
                asst.raise_for_status()
                spec = fault_spec(fault_rate, seed)
                srv.set_fault(spec)
                srv.reset_counts()
                started = time.monotonic()
                cmd = command("user: soak test, answer briefly.",
                              model=models, temperature=temps, assistant=asst.json()["id"],
                              base_url=srv.url, concurrency=concurrency, stream=stream,
                              max_retries=max_retries,
                              label="soak", log=str(log_path), progress=False)
                df = execute(cmd)
                elapsed = time.monotonic() - started
                srv.set_fault(None)  # settle and verify without faults
                held = server_runs(srv)
                counts = srv.counts
                runs_created = srv.runs_created
                errors = srv.server_errors
                http_checked = _verify_over_http(srv, df) if verify_http else []
            with RunLog(log_path) as runlog:
                logged = runlog.read()
        finally:
            if old_home is None:
                os.environ.pop("THREADRUN_HOME", None)
            else:
                os.environ["THREADRUN_HOME"] = old_home
    report = _report(runs, models, temps, df, logged, held, counts, runs_created, errors)
    report["checks"]["server_agrees_over_http"] = http_checked
    report.update(seconds=round(elapsed, 2), fault_spec=spec, concurrency=concurrency,
                  stream=stream, latency=latency, max_retries=max_retries)
    return report


def _verify_over_http(srv: Any, df: Any) -> list[str]:
    """GET every completed row's run from the server: it must be completed with that id."""
    bad = []
    with requests.Session() as session:
        for row in df[df["status"] == "completed"].itertuples():
            got = session.get(f"{srv.url}/threads/{row.thread_id}/runs/{row.run_id}", timeout=10)
            if got.status_code != 200 or got.json().get("status") != "completed":
                bad.append(f"{row.run_id}: completed row, server says {got.status_code} "
                           f"{got.text[:120]}")
    return bad


def _cell(model: Any, temperature: Any) -> tuple[str, float]:
    return str(model), float(temperature)


def _report(runs: int, models: list[str], temps: list[float], df: Any, logged: Any,
            held: list[dict], counts: dict, runs_created: int, server_errors: list[str]) -> dict:
    """Counts and checks from the result rows, the log and the server's runs."""
    checks: dict[str, list[str]] = {}
    wanted = {_cell(m, t) for m in models for t in temps}
    cells = Counter(_cell(m, t) for m, t in zip(df["model"], df["temperature"]))
    checks["one_row_per_run"] = (
        ([f"{len(df)} rows for {runs} runs"] if len(df) != runs else [])
        + [f"cell {c} has {n} rows" for c, n in cells.items() if n != 1]
        + [f"cell {c} has no row" for c in sorted(wanted - set(cells))][:20]
        + [f"row for a cell not asked for: {c}" for c in sorted(set(cells) - wanted)][:20])

    def ids(frame: Any) -> list[str]:
        return sorted(str(x) for x in frame["run_id"] if isinstance(x, str))

    def keyed(frame: Any) -> Counter:
        return Counter(zip(frame["model"], frame["temperature"].astype(float), frame["status"],
                           frame["run_id"].map(lambda x: x if isinstance(x, str) else None)))
    log_problems = []
    if len(logged) != len(df):
        log_problems.append(f"{len(logged)} rows in the log, {len(df)} in the result")
    if ids(logged) != ids(df):
        missing = sorted(set(ids(df)) - set(ids(logged)))
        log_problems.append(f"run ids differ: {len(missing)} result ids not logged, e.g. {missing[:3]}")
    if keyed(logged) != keyed(df):
        log_problems.append(f"logged rows differ: {list((keyed(df) - keyed(logged)).items())[:3]}")
    checks["log_matches_result"] = log_problems

    by_cell: dict[tuple[str, float], list[dict]] = {}
    for run in held:
        by_cell.setdefault(_cell(run["model"], run["temperature"]), []).append(run)
    rows = {_cell(r["model"], r["temperature"]): r for r in df.to_dict("records")}
    seen_ids = set(ids(df))
    no_id_rows = [c for c, r in rows.items() if not isinstance(r["run_id"], str)]
    answer_lost = [c for c in no_id_rows if c in by_cell]
    dup = [f"cell {c}: {len(v)} runs on the server {[r['run_id'] for r in v]}"
           for c, v in by_cell.items() if len(v) > 1]
    stray = [f"server run {r['run_id']} for a cell not asked for: {c}"
             for c, v in by_cell.items() if c not in wanted for r in v]
    expected_created = len(seen_ids) + len(answer_lost)
    balance = ([] if runs_created == expected_created == len(held) else
               [f"runs_created={runs_created}, held={len(held)}, distinct run ids in rows="
                f"{len(seen_ids)} + answer-lost rows={len(answer_lost)} = {expected_created}"])
    checks["no_duplicate_runs"] = dup + stray + balance

    reported = []
    for cell, server in by_cell.items():
        row = rows.get(cell)
        for run in server:
            if row is None:
                reported.append(f"{run['run_id']} ({run['status']}): no row for its cell {cell}")
            elif not isinstance(row["run_id"], str):
                continue  # answer lost: counted in answer_lost
            elif row["run_id"] != run["run_id"]:
                reported.append(f"cell {cell}: row has {row['run_id']}, server ran {run['run_id']}")
            elif row["status"] != run["status"]:
                reported.append(f"{run['run_id']}: server {run['status']}, row {row['status']} "
                                f"({row['error']})")
    checks["server_runs_reported"] = reported
    done = df[df["status"] == "completed"]
    checks["completed_rows_whole"] = [
        f"{r.run_id}: completed row with error {r.error!r} and reply {str(r.reply)[:30]!r}"
        for r in done.itertuples() if r.error is not None or not isinstance(r.reply, str) or not r.reply]
    checks["no_server_bugs"] = [e.strip().splitlines()[-1] for e in server_errors]

    server_status = Counter(r["status"] for r in held)
    lost_completed = sum(1 for c in answer_lost for r in by_cell[c] if r["status"] == "completed")
    return {
        "runs": runs,
        "rows": len(df),
        "rows_per_status": dict(Counter(df["status"])),
        "retries": int(df["retries"].fillna(0).sum()),
        "create_requests": int(counts.get(CREATE, 0)),
        "runs_created": runs_created,
        "distinct_run_ids": len(seen_ids),
        "rows_without_run_id": len(no_id_rows),
        "answer_lost": len(answer_lost),
        "answer_lost_completed_on_server": lost_completed,
        "server_runs_per_status": dict(server_status),
        "log_rows": len(logged),
        "requests_per_route": dict(counts),
        "checks": checks,
    }


def format_report(report: dict) -> str:
    """The report as text, one fact per line, then PASS/FAIL per check."""
    lines = [f"soak: {report['runs']} runs, concurrency {report['concurrency']}, "
             f"{'stream' if report['stream'] else 'poll'}, max_retries {report['max_retries']}, "
             f"{report['seconds']} s",
             f"faults: {report['fault_spec']}",
             f"rows produced: {report['rows']} (log rows: {report['log_rows']})",
             "rows per status: " + ", ".join(f"{k}={v}" for k, v in
                                             sorted(report["rows_per_status"].items())),
             f"retries (sum of the retries column): {report['retries']}",
             f"createThreadAndRun requests received: {report['create_requests']}, "
             f"runs created: {report['runs_created']}",
             f"distinct run ids in rows: {report['distinct_run_ids']}, rows without a run id: "
             f"{report['rows_without_run_id']} (of which the server created the run: "
             f"{report['answer_lost']}, {report['answer_lost_completed_on_server']} completed there)",
             "server runs per status: " + ", ".join(f"{k}={v}" for k, v in
                                                    sorted(report["server_runs_per_status"].items()))]
    for name, problems in report["checks"].items():
        lines.append(f"{'PASS' if not problems else 'FAIL'} {name}"
                     + (f" ({len(problems)})" if problems else ""))
        lines.extend(f"    {p}" for p in problems[:10])
    return "\n".join(lines)


def failed(report: dict) -> list[str]:
    """Names of the failed checks."""
    return [name for name, problems in report["checks"].items() if problems]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=None, help="runs (default 1000, 150 with --quick)")
    parser.add_argument("--quick", action="store_true", help="150 runs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--max-retries", type=int, default=5,
                        help="client retries (default 5: at 20%% faults, 3 retryable faults in a "
                             "row on one request are too common for the default 2)")
    parser.add_argument("--poll", action="store_true", help="poll runs instead of streaming them")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (150 if args.quick else 1000)
    report = soak(runs, seed=args.seed, fault_rate=args.fault_rate, concurrency=args.concurrency,
                  latency=args.latency, stream=not args.poll,
                  max_retries=args.max_retries)
    print(json.dumps(report, indent=1, default=str) if args.json else format_report(report))
    bad = failed(report)
    if bad:
        print(f"soak FAILED: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
