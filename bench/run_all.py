"""Run every throughput benchmark in one go and print absolute numbers and ratios.

Entry point of ``make bench``::

    .venv/bin/python bench/run_all.py [--only sqlite|postgresql] [--quick] [--json FILE]

For each database target it measures

* the raw single-row INSERT+COMMIT rate of the same database, driver and settings (``raw_commit.py``),
* workload (1), one workflow of 20 trivial activities run 30 times sequentially, and
* workload (2), 500 workflows of 5 activities started concurrently,

with our engine (``core_throughput.py``, in this venv) and with two peers from PyPI, each in its own venv
created on first use by ``peer_setup.py``: edda-framework 0.16.2 (``peer_edda.py``, ``bench/.peer-venv``)
and DBOS Transact 3.4.0 (``peer_dbos.py``, ``bench/.peer-venv-dbos``). It prints

* steps/s of workload (1) over the raw commit rate of the same target (target: at least 0.6;
  edda-framework reaches about 0.11 of the explicit-transaction rate), and
* workflows/s of workload (2), ours over edda-framework's (target: at least 5), and over DBOS's.

Targets: ``sqlite`` (WAL, ``synchronous=FULL``, the engine's default: every acknowledged commit is
fsynced), ``sqlite-normal`` (WAL, ``synchronous=NORMAL``: no fsync per commit) and ``postgresql``. Both
SQLite settings are measured by default (``--sqlite-synchronous``); on each, the floor, our engine and
the peers (``--peer-sqlite-pragmas same``) all run with that setting.

Every benchmark runs in its own subprocess with its own timeout, on its own fresh database: a new SQLite
file in a temporary directory, or a new PostgreSQL database ``edda_bench_<hex>`` created through
``EDDA_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) and dropped
afterwards. Only loopback database hosts are accepted.

Then (``--suite all``, the default, or ``--suite waits`` alone) the wait benchmarks of ``run_waits.py``:
wake latency (``wake_latency.py``), timer lateness (``timer_lateness.py``) and recovery after SIGKILL
(``recovery.py``), each with both engines, judged against the targets of issue 3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench_common import (
    CONC_STEPS,
    CONC_WORKFLOWS,
    QUICK_CONC_WORKFLOWS,
    QUICK_SEQ_RUNS,
    SEQ_RUNS,
    SEQ_STEPS,
    ensure_loopback,
    parse_result,
)
from run_waits import HEADLINE as WAIT_HEADLINE
from run_waits import KEYS as WAIT_KEYS
from run_waits import WaitSizes, format_waits, wait_jobs

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
EXIT_UNAVAILABLE = 3  # core_throughput.py: durable_core not importable yet

SUITE_TITLE = {"all": "throughput and wait", "throughput": "throughput", "waits": "wait"}
#: SQLite targets and their ``PRAGMA synchronous``; ``sqlite`` is the engine's default (and runs the waits)
SQLITE_TARGETS = {"sqlite": "full", "sqlite-normal": "normal"}
PEER_LABELS = {"peer": "edda-framework 0.16.2", "dbos": "DBOS Transact 3.4.0"}


def backend_of(target: str) -> str:
    """The database of a target (``sqlite-normal`` is SQLite)."""
    return "sqlite" if target in SQLITE_TARGETS else target


def synchronous_args(target: str) -> list[str]:
    """``--synchronous SETTING`` for a SQLite target, nothing for PostgreSQL."""
    setting = SQLITE_TARGETS.get(target)
    return ["--synchronous", setting] if setting else []


SEQ_TARGET = 0.6  # ours steps/s over the raw commit rate
CONC_TARGET = 5.0  # ours workflows/s over edda-framework's


@dataclass
class Outcome:
    """What one benchmark subprocess produced."""

    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    pending: bool = False
    wall_s: float = 0.0


# --------------------------------------------------------------------------- subprocesses


def run_script(cmd: list[str], timeout: float, verbose: bool, env: dict[str, str] | None = None) -> Outcome:
    """Run one benchmark script, kill its whole process group on timeout, and parse its result line."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None if verbose else subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return Outcome(False, error=f"timed out after {timeout:.0f}s", wall_s=time.perf_counter() - start)
    wall = time.perf_counter() - start
    result = parse_result(stdout or "")
    if proc.returncode == EXIT_UNAVAILABLE and result and "unavailable" in result:
        return Outcome(False, result=result, error=str(result["unavailable"]), pending=True, wall_s=wall)
    if proc.returncode != 0 or result is None:
        tail = "\n".join((stderr or "").strip().splitlines()[-6:])
        return Outcome(False, error=f"exit status {proc.returncode}\n{tail}".strip(), wall_s=wall)
    return Outcome(True, result=result, wall_s=wall)


# --------------------------------------------------------------------------- fresh databases


def with_database(url: str, dbname: str) -> str:
    """Return ``url`` pointing at database ``dbname`` instead of its own."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


async def _pg_admin(url: str, sql: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(sql)
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


class FreshDatabases:
    """Hands out a brand-new database per benchmark and removes it afterwards."""

    def __init__(self, pg_admin_url: str, tmpdir: str) -> None:
        self.pg_admin_url = pg_admin_url
        self.tmpdir = tmpdir
        self._count = 0

    def sqlite(self, name: str) -> str:
        """A path for a new SQLite file (its directory is removed at the end of the run)."""
        self._count += 1
        return os.path.join(self.tmpdir, f"{self._count:02d}_{name}.db")

    def create_pg(self) -> tuple[str, str]:
        """Create ``edda_bench_<hex>``; return ``(dbname, url)``."""
        dbname = f"edda_bench_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(self.pg_admin_url, f'CREATE DATABASE "{dbname}"'))
        return dbname, with_database(self.pg_admin_url, dbname)

    def drop_pg(self, dbname: str) -> None:
        """Drop a database made by :meth:`create_pg` (forcing out leftover connections)."""
        try:
            asyncio.run(_pg_admin(self.pg_admin_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        except Exception as exc:
            print(f"  warning: could not drop {dbname}: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------- the run


@dataclass
class Config:
    """Options of one run."""

    dbs: list[str]
    quick: bool
    timeout: float
    raw_seconds: float
    seq_runs: int
    conc_workflows: int
    peer: bool
    peer_loop: str
    peer_sqlite_pragmas: str
    dbos: bool
    verbose: bool
    repeat: int
    pg_admin_url: str
    suite: str = "all"
    wait_sizes: WaitSizes = field(default_factory=lambda: WaitSizes.for_run(False))


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Runner:
    """Runs each benchmark script on a database of its own."""

    def __init__(self, cfg: Config, fresh: FreshDatabases) -> None:
        self.cfg = cfg
        self.fresh = fresh

    def on_fresh_db(
        self, db: str, key: str, cmd: list[str], flag: str, env: dict[str, str] | None = None
    ) -> Outcome:
        """Run ``cmd`` ``cfg.repeat`` times, each on a fresh database; keep the median run.

        The database goes at the end of the command as ``flag TARGET``: a file path or PostgreSQL URL for
        ``--sqlite`` / ``--postgres``, an engine URL (``sqlite:///FILE`` or ``postgresql://...``) for
        ``--db-url``.

        The median is taken on the benchmark's headline number (commits/s, steps/s or workflows/s); all
        values are kept in the result as ``repeat_values``. Our engine's first failing run is returned as
        is; a peer's failing runs are counted (``failed_runs``, ``first_failure``) and the median is taken
        over its other runs, so one sporadic failure of a peer does not hide its numbers.
        """
        runs: list[Outcome] = []
        failures: list[Outcome] = []
        for i in range(self.cfg.repeat):
            label = key if self.cfg.repeat == 1 else f"{key} #{i + 1}"
            out = self._once(db, label, cmd, flag, env)
            if not out.ok:
                if key.startswith("ours") or out.pending:
                    return out
                failures.append(out)
                continue
            runs.append(out)
        if not runs:
            return failures[0]
        path = HEADLINE[key.split("_")[-1]]
        runs.sort(key=lambda o: _get(o, *path) or 0.0)
        chosen = runs[(len(runs) - 1) // 2]
        if len(runs) > 1:
            chosen.result["repeat_values"] = [_get(o, *path) for o in runs]
        if failures:
            chosen.result["failed_runs"] = len(failures)
            chosen.result["first_failure"] = failures[0].error.splitlines()[-1][:300]
        return chosen

    def _once(self, db: str, label: str, cmd: list[str], flag: str, env: dict[str, str] | None) -> Outcome:
        dbname = ""
        try:
            if backend_of(db) == "sqlite":
                target = self.fresh.sqlite(f"{db}_{label.replace(' #', '_')}")
            else:
                dbname, target = self.fresh.create_pg()
            _progress(f"[{db}] {label} ...")
            if flag == "--db-url" and backend_of(db) == "sqlite":
                target = "sqlite:///" + target
            out = run_script([*cmd, flag, target], self.cfg.timeout, self.cfg.verbose, env)
        finally:
            if dbname:
                self.fresh.drop_pg(dbname)
        state = "ok" if out.ok else ("pending" if out.pending else "FAILED")
        _progress(f"[{db}] {label}: {state} ({out.wall_s:.1f}s)" + ("" if out.ok else f" {out.error}"))
        return out


#: Headline number of each benchmark kind, by the last part of its key (``raw``, ``ours_seq``, ...).
HEADLINE: dict[str, tuple[str, ...]] = {
    "raw": ("commits_per_s",),
    "seq": ("seq", "steps_per_s"),
    "conc": ("conc", "workflows_per_s"),
    **WAIT_HEADLINE,
}


def _peer_pythons(cfg: Config) -> tuple[dict[str, str | None], dict[str, str]]:
    """Interpreter of each peer's venv (created on first use) or None, and why it is None."""
    wanted = {"peer": cfg.peer, "dbos": cfg.peer and cfg.dbos}
    pythons: dict[str, str | None] = dict.fromkeys(wanted)
    errors = {
        "peer": "skipped (--no-peer)",
        "dbos": "skipped (--no-peer)" if not cfg.peer else "skipped (--no-dbos)",
    }
    if any(wanted.values()):
        sys.path.insert(0, str(BENCH_DIR))
        from peer_setup import ensure_peer_venv

        for key, setup_name in (("peer", "edda"), ("dbos", "dbos")):
            if wanted[key]:
                try:
                    pythons[key] = str(ensure_peer_venv(quiet=not cfg.verbose, peer=setup_name))
                except RuntimeError as exc:
                    errors[key] = str(exc)
    return pythons, errors


def run_benchmarks(cfg: Config) -> dict[str, dict[str, Outcome]]:
    """Run every benchmark of ``cfg`` and return all outcomes (by target, then by benchmark)."""
    py = sys.executable
    peers, peer_errors = _peer_pythons(cfg)
    peer_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("DBOS")
    }
    workload_args = [
        "--seq-runs", str(cfg.seq_runs), "--seq-steps", str(SEQ_STEPS),
        "--conc-workflows", str(cfg.conc_workflows), "--conc-steps", str(CONC_STEPS),
        "--wait-timeout", str(cfg.timeout),
    ]  # fmt: skip
    raw_cmd = [py, str(BENCH_DIR / "raw_commit.py"), "--seconds", str(cfg.raw_seconds)]
    peer_scripts = {"peer": "peer_edda.py", "dbos": "peer_dbos.py"}
    report: dict[str, dict[str, Outcome]] = {}
    ours_pending = ""
    with tempfile.TemporaryDirectory(prefix="edda_bench_") as tmpdir:
        runner = Runner(cfg, FreshDatabases(cfg.pg_admin_url, tmpdir))
        for db in cfg.dbs:
            if cfg.suite == "waits" and db not in ("sqlite", "postgresql"):
                continue  # the wait benchmarks run with the engine's default setting only
            entry: dict[str, Outcome] = {}
            report[db] = entry
            sync = synchronous_args(db)
            if db == "postgresql":
                try:
                    dbname, _ = runner.fresh.create_pg()
                    runner.fresh.drop_pg(dbname)
                except Exception as exc:
                    err = f"PostgreSQL unreachable at {cfg.pg_admin_url}: {type(exc).__name__}: {exc}"
                    _progress(f"[postgresql] {err}")
                    for key in ("raw", *THROUGHPUT_KEYS, *WAIT_KEYS):
                        entry[key] = Outcome(False, error=err)
                    continue

            if cfg.suite in ("all", "throughput"):
                raw_flag = "--sqlite" if backend_of(db) == "sqlite" else "--postgres"
                entry["raw"] = runner.on_fresh_db(db, "raw", [*raw_cmd, *sync], raw_flag)
                for workload in ("seq", "conc"):
                    common = ["--workload", workload, *workload_args, *sync]
                    if ours_pending:
                        entry[f"ours_{workload}"] = Outcome(False, error=ours_pending, pending=True)
                    else:
                        ours_cmd = [py, str(BENCH_DIR / "core_throughput.py"), *common]
                        out = runner.on_fresh_db(db, f"ours_{workload}", ours_cmd, "--db-url")
                        if out.pending:
                            ours_pending = out.error
                        entry[f"ours_{workload}"] = out
                    for key, script in peer_scripts.items():
                        peer_py = peers[key]
                        if peer_py is None:
                            entry[f"{key}_{workload}"] = Outcome(False, error=peer_errors[key])
                            continue
                        cmd = [
                            peer_py, str(BENCH_DIR / script), *common,
                            "--sqlite-pragmas", cfg.peer_sqlite_pragmas,
                            *(["--loop", cfg.peer_loop] if key == "peer" else []),
                        ]  # fmt: skip
                        entry[f"{key}_{workload}"] = runner.on_fresh_db(
                            db, f"{key}_{workload}", cmd, "--db-url", env=peer_env
                        )
            if cfg.suite in ("all", "waits") and db in ("sqlite", "postgresql"):  # engine defaults only
                ours_pending = _run_waits(
                    cfg, runner, db, entry, py, peers["peer"], peer_errors["peer"], peer_env, ours_pending
                )
    return report


THROUGHPUT_KEYS = ("ours_seq", "peer_seq", "dbos_seq", "ours_conc", "peer_conc", "dbos_conc")


def _run_waits(
    cfg: Config,
    runner: Runner,
    db: str,
    entry: dict[str, Outcome],
    py: str,
    peer_py: str | None,
    peer_error: str,
    peer_env: dict[str, str],
    ours_pending: str,
) -> str:
    """Run the wait benchmarks (``run_waits.py``) for ``db`` into ``entry``; return ``ours_pending``."""
    for key, cmd in wait_jobs(db, cfg.wait_sizes, py, peer_py, cfg.peer_sqlite_pragmas):
        if key.startswith("peer_"):
            entry[key] = (
                Outcome(False, error=peer_error)
                if cmd is None
                else runner.on_fresh_db(db, key, cmd, "--db-url", env=peer_env)
            )
        elif ours_pending or cmd is None:
            entry[key] = Outcome(False, error=ours_pending, pending=True)
        else:
            out = runner.on_fresh_db(db, key, cmd, "--db-url")
            if out.pending:
                ours_pending = out.error
            entry[key] = out
    return ours_pending


# --------------------------------------------------------------------------- printing


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _get(outcome: Outcome | None, *path: str) -> float | None:
    if outcome is None or not outcome.ok:
        return None
    node: Any = outcome.result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def _status(outcome: Outcome | None) -> str:
    if outcome is None:
        return "-"
    if outcome.pending:
        return "pending"
    return "error" if not outcome.ok else ""


def _spread(outcome: Outcome | None) -> str:
    if outcome is None or not outcome.ok:
        return ""
    values = outcome.result.get("repeat_values")
    text = f" runs: {' / '.join(_num(v) for v in values)}" if values else ""
    failed = outcome.result.get("failed_runs")
    return text + (f" ({failed} run(s) failed: {outcome.result.get('first_failure')})" if failed else "")


def _txn_variant(db: str) -> str:
    return "insert+commit" if backend_of(db) == "sqlite" else "begin+insert+commit"


ENGINE_ROWS = (("durable_core (ours)", "ours"), (PEER_LABELS["peer"], "peer"), (PEER_LABELS["dbos"], "dbos"))


def _raw_lines(report: dict[str, dict[str, Outcome]]) -> list[str]:
    lines = ["Raw commit rate (one single-row INSERT per transaction, same driver and settings)"]
    lines.append(f"  {'db':<13} {'variant':<28} {'commits/s':>10} {'ms/commit':>10}  driver / settings")
    for db, entry in report.items():
        raw = entry.get("raw")
        if raw is None or not raw.ok:
            lines.append(f"  {db:<13} {'-':<28} {'-':>10} {'-':>10}  {raw.error if raw else ''}")
            continue
        best = raw.result.get("best_variant")
        for name, var in raw.result.get("variants", {}).items():
            label = name + (" (floor)" if name == best else "")
            rate = float(var["commits_per_s"])
            lines.append(
                f"  {db:<13} {label:<28} {rate:>10,.0f} {1000.0 / rate:>10.3f}  "
                f"{raw.result.get('driver', '')}; {raw.result.get('settings', '')}"
                + (_spread(raw) if name == best else "")
            )
    return lines


def _seq_lines(
    report: dict[str, dict[str, Outcome]], desc: str, verdicts: list[tuple[str, str]]
) -> list[str]:
    lines = [f"Workload (1): {desc}  [target: ours/raw floor >= {SEQ_TARGET}]"]
    lines.append(
        f"  {'db':<13} {'engine':<22} {'steps/s':>9} {'ms/step':>8} {'/raw floor':>10} {'/raw txn':>9} "
        f"{'ours/edda':>9} {'ours/dbos':>9}"
    )
    for db, entry in report.items():
        floor = _get(entry.get("raw"), "commits_per_s")
        txn = _get(entry.get("raw"), "variants", _txn_variant(db), "commits_per_s")
        rates = {key: _get(entry.get(f"{key}_seq"), "seq", "steps_per_s") for _, key in ENGINE_ROWS}
        for label, key in ENGINE_ROWS:
            o = entry.get(f"{key}_seq")
            val = rates[key]
            ms = _get(o, "seq", "ms_per_step")
            vs = [
                _num(_ratio(rates["ours"], rates[p]), "{:.2f}") if key == "ours" else ""
                for p in ("peer", "dbos")
            ]
            lines.append(
                f"  {db:<13} {label:<22} {_num(val):>9} {_num(ms, '{:.3f}'):>8} "
                f"{_num(_ratio(val, floor), '{:.3f}'):>10} {_num(_ratio(val, txn), '{:.3f}'):>9} {vs[0]:>9} "
                f"{vs[1]:>9} {_status(o)}{_spread(o)}"
            )
        r = _ratio(rates["ours"], floor)
        verdict = _verdict(r, SEQ_TARGET, entry.get("ours_seq"))
        verdicts.append(
            (f"{db}: sequential steps/s / raw commit floor = {_num(r, '{:.3f}')} (>= {SEQ_TARGET})", verdict)
        )
    return lines


def _conc_lines(
    report: dict[str, dict[str, Outcome]], desc: str, verdicts: list[tuple[str, str]]
) -> list[str]:
    lines = [f"Workload (2): {desc}  [target: ours/edda >= {CONC_TARGET:g}]"]
    lines.append(
        f"  {'db':<13} {'engine':<22} {'wf/s':>9} {'steps/s':>9} {'ms/step':>8} {'failed':>7} {'ours/edda':>9} "
        f"{'ours/dbos':>9}"
    )
    for db, entry in report.items():
        rates = {key: _get(entry.get(f"{key}_conc"), "conc", "workflows_per_s") for _, key in ENGINE_ROWS}
        for label, key in ENGINE_ROWS:
            o = entry.get(f"{key}_conc")
            vs = [
                _num(_ratio(rates["ours"], rates[p]), "{:.2f}") if key == "ours" else ""
                for p in ("peer", "dbos")
            ]
            failed = _get(o, "conc", "failed")
            note = _status(o)
            if failed:
                note = f"{failed:.0f} failed; all ended after {_num(_get(o, 'conc', 'elapsed_all_s'), '{:.1f}')}s"
            lines.append(
                f"  {db:<13} {label:<22} {_num(rates[key], '{:,.1f}'):>9} "
                f"{_num(_get(o, 'conc', 'steps_per_s')):>9} {_num(_get(o, 'conc', 'ms_per_step'), '{:.3f}'):>8} "
                f"{_num(failed):>7} {vs[0]:>9} {vs[1]:>9} {note}{_spread(o)}"
            )
        r = _ratio(rates["ours"], rates["peer"])
        verdict = _verdict(r, CONC_TARGET, entry.get("ours_conc"))
        if _get(entry.get("ours_conc"), "conc", "failed"):
            verdict = "FAIL"  # our engine must not lose workflows
        verdicts.append(
            (
                f"{db}: concurrent workflows/s, ours / edda-framework = {_num(r, '{:.2f}')} (>= {CONC_TARGET:g})",
                verdict,
            )
        )
    return lines


def format_report(report: dict[str, dict[str, Outcome]], cfg: Config) -> tuple[str, list[tuple[str, str]]]:
    """Render the result tables; also return ``(target, verdict)`` lines."""
    verdicts: list[tuple[str, str]] = []
    if cfg.suite == "waits":
        wait_lines, wait_verdicts = format_waits(report, cfg.wait_sizes)
        return "\n".join(wait_lines), wait_verdicts
    seq_desc = f"{cfg.seq_runs} x 1 workflow of {SEQ_STEPS} activities, sequential"
    conc_desc = f"{cfg.conc_workflows} workflows of {CONC_STEPS} activities, started concurrently"
    lines = [*_raw_lines(report), "", *_seq_lines(report, seq_desc, verdicts), ""]
    lines += _conc_lines(report, conc_desc, verdicts)
    if cfg.suite == "all":
        wait_lines, wait_verdicts = format_waits(report, cfg.wait_sizes)
        lines += ["", *wait_lines]
        verdicts += wait_verdicts
    return "\n".join(lines), verdicts


def _verdict(ratio: float | None, target: float, ours: Outcome | None) -> str:
    if ratio is None:
        return "PENDING" if ours is not None and ours.pending else "N/A"
    return "PASS" if ratio >= target else "FAIL"


def _targets(only: str | None, sqlite_synchronous: str) -> list[str]:
    sqlite = [t for t, s in SQLITE_TARGETS.items() if sqlite_synchronous in ("both", s)]
    if only == "sqlite":
        return sqlite
    return ["postgresql"] if only == "postgresql" else [*sqlite, "postgresql"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="run one database only")
    parser.add_argument(
        "--suite", choices=["all", "throughput", "waits"], default="all",
        help="throughput (raw commits, workloads 1 and 2), waits (wake latency, timers, recovery) or all",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smaller workloads and shorter raw loops")
    parser.add_argument(
        "--timeout", type=float, help="seconds allowed per benchmark (default 600, quick 240)"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip both peers (no peer venv needed)")
    parser.add_argument("--no-dbos", action="store_true", help="skip DBOS Transact (keep edda-framework)")
    parser.add_argument(
        "--sqlite-synchronous", choices=["both", "full", "normal"], default="both",
        help="SQLite targets: sqlite (synchronous=FULL, the default) and/or sqlite-normal (NORMAL)",
    )  # fmt: skip
    parser.add_argument(
        "--peer-loop", choices=["uvloop", "asyncio"], default="uvloop",
        help="event loop for edda-framework (default uvloop, as its docs recommend)",
    )  # fmt: skip
    parser.add_argument(
        "--peer-sqlite-pragmas", choices=["same", "stock"], default="same",
        help="same: give the peers WAL + the target's synchronous like ours (default); stock: their own",
    )  # fmt: skip
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each benchmark N times (fresh database each) and keep the median",
    )
    parser.add_argument("--json", metavar="FILE", help="also write all results as JSON to FILE")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the benchmarks' own logs")
    args = parser.parse_args(argv)

    pg_url = os.environ.get("EDDA_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    if args.only != "sqlite":
        ensure_loopback(pg_url)
    cfg = Config(
        dbs=_targets(args.only, args.sqlite_synchronous),
        quick=args.quick,
        timeout=args.timeout or (240.0 if args.quick else 600.0),
        raw_seconds=1.0 if args.quick else 3.0,
        seq_runs=QUICK_SEQ_RUNS if args.quick else SEQ_RUNS,
        conc_workflows=QUICK_CONC_WORKFLOWS if args.quick else CONC_WORKFLOWS,
        peer=not args.no_peer,
        peer_loop=args.peer_loop,
        peer_sqlite_pragmas=args.peer_sqlite_pragmas,
        dbos=not args.no_dbos,
        verbose=args.verbose,
        repeat=max(1, args.repeat),
        pg_admin_url=pg_url,
        suite=args.suite,
        wait_sizes=WaitSizes.for_run(args.quick),
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_before = os.getloadavg()[0]
    report = run_benchmarks(cfg)
    load_after = os.getloadavg()[0]
    text, verdicts = format_report(report, cfg)

    print()
    print(
        f"Edda MCP {SUITE_TITLE[cfg.suite]} benchmarks - {started}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {'quick' if cfg.quick else 'full'} run"
        f"{f', median of {cfg.repeat}' if cfg.repeat > 1 else ''}, "
        f"edda-framework on {cfg.peer_loop} (peers' SQLite pragmas: {cfg.peer_sqlite_pragmas})"
    )
    print("sqlite = WAL + synchronous=FULL (the engine's default), sqlite-normal = WAL + synchronous=NORMAL")
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after")
    if max(load_before, load_after) > 0.5 * (os.cpu_count() or 1):
        print(
            "  warning: other processes were busy on this machine; absolute numbers are noisy, compare ratios"
        )
    print()
    print(text)
    print()
    print("Targets")
    for desc, verdict in verdicts:
        print(f"  {verdict:<8} {desc}")
    errors = [
        (db, key, o.error)
        for db, entry in report.items()
        for key, o in entry.items()
        if not o.ok and not o.pending
    ]
    if errors:
        print()
        print("Errors")
        for db, key, err in errors:
            print(f"  [{db}] {key}: {err}")
    if args.json:
        payload = {
            "started": started,
            "load_average_1m": [load_before, load_after],
            "config": cfg.__dict__,
            "results": {db: {key: o.__dict__ for key, o in entry.items()} for db, entry in report.items()},
            "targets": [{"target": d, "verdict": v} for d, v in verdicts],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, sort_keys=True, default=vars))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
