"""Helpers shared by the benchmark scripts (standard library only).

This module is imported both by scripts that run in the project's venv and by ``peer_edda.py``, which runs
inside ``bench/.peer-venv`` with edda-framework installed; it must therefore never import anything from
the project or any third-party package.

Protocol between ``run_all.py`` and the per-benchmark scripts: every script prints log lines to stderr and
exactly one JSON object, prefixed with :data:`RESULT_PREFIX`, to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

RESULT_PREFIX = "BENCH_RESULT "

#: Workload (1): one workflow of ``SEQ_STEPS`` trivial activities, run ``SEQ_RUNS`` times sequentially.
SEQ_RUNS = 30
SEQ_STEPS = 20
#: Workload (2): ``CONC_WORKFLOWS`` workflows of ``CONC_STEPS`` activities, all started concurrently.
CONC_WORKFLOWS = 500
CONC_STEPS = 5

#: Smaller sizes used with ``--quick``.
QUICK_SEQ_RUNS = 10
QUICK_CONC_WORKFLOWS = 100

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", ""})


@dataclass
class WorkloadResult:
    """Timing of one workload run.

    Attributes:
        workload: ``"seq"`` or ``"conc"``.
        workflows: Workflow instances that completed correctly inside the timed window.
        steps_per_workflow: Activities per workflow.
        elapsed_s: Wall-clock seconds of the timed window: for ``conc``, from the first start to the last
            correct result.
        steps_per_s: Activities completed per second (``workflows * steps_per_workflow / elapsed_s``).
        workflows_per_s: Workflows completed per second.
        ms_per_step: Amortised wall-clock milliseconds per activity.
        failed: Workflows that raised or did not end completed with the expected result.
        elapsed_all_s: For ``conc``, seconds until the last workflow ended at all, failures included
            (differs from ``elapsed_s`` only when some failed, e.g. after retry back-offs).
    """

    workload: str
    workflows: int
    steps_per_workflow: int
    elapsed_s: float
    steps_per_s: float
    workflows_per_s: float
    ms_per_step: float
    failed: int = 0
    elapsed_all_s: float | None = None

    @classmethod
    def from_timing(cls, workload: str, workflows: int, steps: int, elapsed_s: float) -> WorkloadResult:
        """Build a result from the raw counts and the elapsed time."""
        elapsed_s = max(elapsed_s, 1e-9)
        total_steps = workflows * steps
        return cls(
            workload=workload,
            workflows=workflows,
            steps_per_workflow=steps,
            elapsed_s=round(elapsed_s, 4),
            steps_per_s=round(total_steps / elapsed_s, 1),
            workflows_per_s=round(workflows / elapsed_s, 1),
            ms_per_step=round(elapsed_s * 1000.0 / total_steps, 3),
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return asdict(self)


def conc_result(steps: int, start: float, ends: list[tuple[float, bool]]) -> WorkloadResult:
    """Summarise a concurrent run from each workflow's ``(perf_counter() at its end, ended correctly)``.

    Throughput counts the correct workflows up to the last correct result, so a failure (and any retry
    back-off before it) is reported in ``failed`` and ``elapsed_all_s`` instead of skewing the rate.
    """
    ok_ends = [t for t, ok in ends if ok]
    end_all = max((t for t, _ in ends), default=start)
    result = WorkloadResult.from_timing("conc", len(ok_ends), steps, max(ok_ends, default=end_all) - start)
    result.failed = len(ends) - len(ok_ends)
    result.elapsed_all_s = round(end_all - start, 4)
    return result


def log(msg: str) -> None:
    """Print a progress line to stderr (stdout is reserved for the result line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def emit_result(payload: dict[str, Any]) -> None:
    """Print the single machine-readable result line on stdout."""
    print(RESULT_PREFIX + json.dumps(payload, sort_keys=True), flush=True)


def parse_result(stdout: str) -> dict[str, Any] | None:
    """Extract the result object printed by :func:`emit_result`, or ``None`` if there is none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            value = json.loads(line[len(RESULT_PREFIX) :])
            if isinstance(value, dict):
                return value
    return None


def ensure_loopback(url: str) -> None:
    """Refuse database URLs that point anywhere but this machine.

    Raises:
        SystemExit: If the URL's host is not a loopback address (or a Unix socket).
    """
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_HOSTS and not host.startswith("/"):
        raise SystemExit(f"refusing non-loopback database host {host!r}: benchmarks only talk to 127.0.0.1")


def sqlite_path_from_url(url: str) -> str:
    """Return the file path of a ``sqlite:///path`` (or ``sqlite+aiosqlite:///path``) URL.

    As in SQLAlchemy, ``sqlite:///rel.db`` is relative and ``sqlite:////abs/file.db`` is absolute.
    """
    scheme, sep, rest = url.partition(":///")
    if not sep or not scheme.startswith("sqlite"):
        raise ValueError(f"not a sqlite file URL: {url!r}")
    return rest


def add_workload_args(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by ``core_throughput.py`` and ``peer_edda.py``."""
    parser.add_argument("--db-url", required=True, help="sqlite:///FILE or postgresql://USER@127.0.0.1/DB")
    parser.add_argument("--workload", choices=["seq", "conc", "all"], default="all")
    parser.add_argument("--seq-runs", type=int, default=SEQ_RUNS)
    parser.add_argument("--seq-steps", type=int, default=SEQ_STEPS)
    parser.add_argument("--conc-workflows", type=int, default=CONC_WORKFLOWS)
    parser.add_argument("--conc-steps", type=int, default=CONC_STEPS)
    parser.add_argument(
        "--wait-timeout", type=float, default=300.0, help="seconds to wait for one workload to finish"
    )
    parser.add_argument(
        "--synchronous",
        choices=["full", "normal"],
        default="full",
        help="SQLite: PRAGMA synchronous of every connection (peers: with --sqlite-pragmas same)",
    )
