"""The wait benchmarks' part of ``run_all.py``: which scripts to run per database, and their tables.

* wake latency (``wake_latency.py``): SQLite with sender and workflows in one process, PostgreSQL with
  the sender in another process than the worker;
* timer lateness (``timer_lateness.py``) and recovery after SIGKILL (``recovery.py``) on both databases;

each with our engine and with edda-framework 0.16.2, and the targets of issue 3 judged on our numbers.
Standard library only; results are read from ``run_all.Outcome`` objects (``ok``, ``pending``, ``result``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent

#: Targets (issue 3, "Benchmark").
WAKE_TARGET_MS = {"sqlite": 5.0, "postgresql": 15.0}
TIMER_TARGET_MS = 20.0
RECOVERY_TARGET_S = 2.0

WAKE_MODE = {"sqlite": "in-process", "postgresql": "cross-process"}
KEYS = ("ours_wake", "peer_wake", "ours_timers", "peer_timers", "ours_recovery", "peer_recovery")

#: Headline number of each wait benchmark (used by ``--repeat`` to keep the median run).
HEADLINE: dict[str, tuple[str, ...]] = {
    "wake": ("wake", "p50_ms"),
    "timers": ("timers", "p50_ms"),
    "recovery": ("recovery", "finish", "max_ms"),
}

OURS = "durable_core (ours)"
PEER = "edda-framework 0.16.2"


@dataclass(frozen=True)
class WaitSizes:
    """Sizes and bounds of the wait benchmarks."""

    trials: int
    trial_timeout: float
    peer_budget: float
    timers: int
    timer_timeout: float
    recovery_workflows: int
    recovery_timeout: float

    @classmethod
    def for_run(cls, quick: bool) -> WaitSizes:
        """Full sizes (issue 3) or ``--quick`` ones."""
        if quick:
            return cls(20, 35.0, 60.0, 100, 20.0, 100, 40.0)
        return cls(50, 35.0, 150.0, 200, 30.0, 200, 60.0)


def wait_jobs(
    db: str, sizes: WaitSizes, py: str, peer_py: str | None, sqlite_pragmas: str
) -> list[tuple[str, list[str] | None]]:
    """``(key, command)`` of every wait benchmark for ``db``; the command is None for the peer without a venv.

    The database target (``--db-url URL``) is appended by the runner.
    """
    jobs: list[tuple[str, list[str] | None]] = []
    for name, script, extra in (
        ("wake", "wake_latency.py", [
            "--mode", WAKE_MODE[db], "--trials", str(sizes.trials),
            "--trial-timeout", str(sizes.trial_timeout),
        ]),
        ("timers", "timer_lateness.py", ["--timers", str(sizes.timers), "--timeout", str(sizes.timer_timeout)]),
        ("recovery", "recovery.py", [
            "--workflows", str(sizes.recovery_workflows), "--timeout", str(sizes.recovery_timeout),
        ]),
    ):  # fmt: skip
        ours_budget = ["--budget", str(sizes.peer_budget)] if name == "wake" else []
        jobs.append(
            (f"ours_{name}", [py, str(BENCH_DIR / script), "--engine", "durable_core", *extra, *ours_budget])
        )
        peer_cmd = None
        if peer_py is not None:
            peer_cmd = [
                peer_py, str(BENCH_DIR / script), "--engine", "edda", "--sqlite-pragmas", sqlite_pragmas,
                *extra, *(["--budget", str(sizes.peer_budget)] if name == "wake" else []),
            ]  # fmt: skip
        jobs.append((f"peer_{name}", peer_cmd))
    return jobs


# --------------------------------------------------------------------------- printing


def _get(outcome: Any, *path: str) -> Any:
    if outcome is None or not outcome.ok:
        return None
    node: Any = outcome.result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _ms(value: Any, unfinished_after: float | None = None) -> str:
    """Milliseconds for a table cell; a percentile that landed on an unfinished trial reads ``>N s``."""
    if value is None:
        return f">{unfinished_after:g} s" if unfinished_after is not None else "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _sec(value: Any) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _sec_ms(value: Any, unfinished_after: float | None) -> str:
    """Seconds from milliseconds; a percentile on an unfinished instance reads ``>N``."""
    if value is None:
        return f">{unfinished_after:g}" if unfinished_after is not None else "-"
    return f"{value / 1000.0:,.2f}"


def _status(outcome: Any) -> str:
    if outcome is None:
        return "-"
    if outcome.pending:
        return "pending"
    return "error" if not outcome.ok else ""


def _verdict(value: float | None, target: float, ours: Any, finished_all: bool) -> str:
    if ours is None or not ours.ok:
        return "PENDING" if ours is not None and ours.pending else "N/A"
    if value is None or not finished_all:
        return "FAIL"
    return "PASS" if value < target else "FAIL"


def _did_not_finish(outcome: Any, section: str, limit: float) -> str:
    unfinished = _get(outcome, section, "unfinished") or _get(outcome, section, "finish", "unfinished")
    if not unfinished:
        return ""
    total = _get(outcome, section, "n") or _get(outcome, section, "finish", "n")
    return f"{unfinished} of {total} did not finish in {limit:g} s"


def format_waits(
    report: dict[str, dict[str, Any]], sizes: WaitSizes
) -> tuple[list[str], list[tuple[str, str]]]:
    """Render the three wait tables; also return ``(target, verdict)`` lines."""
    lines: list[str] = []
    verdicts: list[tuple[str, str]] = []
    _wake_table(report, sizes, lines, verdicts)
    _timer_table(report, sizes, lines, verdicts)
    _recovery_table(report, sizes, lines, verdicts)
    return lines, verdicts


def _wake_table(
    report: dict[str, dict[str, Any]], sizes: WaitSizes, lines: list[str], verdicts: list[tuple[str, str]]
) -> None:
    targets = ", ".join(f"{db} {WAKE_MODE[db]} p50 < {t:g} ms" for db, t in WAKE_TARGET_MS.items())
    lines.append(
        f"Wake latency: send_event -> waiting workflow completed, {sizes.trials} trials  [targets: {targets}]"
    )
    lines.append(
        f"  {'db':<11} {'mode':<14} {'engine':<22} {'p50 ms':>9} {'p90 ms':>9} {'max ms':>9} {'send ms':>8} "
        f"{'trials':>7} {'edda/ours p50':>13}"
    )
    for db, entry in report.items():
        if "ours_wake" not in entry:
            continue
        ours_p50 = _get(entry.get("ours_wake"), "wake", "p50_ms")
        peer_p50 = _get(entry.get("peer_wake"), "wake", "p50_ms")
        for label, key in ((OURS, "ours_wake"), (PEER, "peer_wake")):
            o = entry.get(key)
            limit = _get(o, "trial_timeout_s")
            ran = _get(o, "wake", "n")
            ratio = f"{peer_p50 / ours_p50:,.0f}x" if key == "ours_wake" and ours_p50 and peer_p50 else ""
            if (
                key == "ours_wake"
                and ours_p50
                and peer_p50 is None
                and _get(entry.get("peer_wake"), "wake", "n")
            ):
                ratio = "edda p50 did not finish"
            note = " ".join(
                x
                for x in (
                    _status(o),
                    _did_not_finish(o, "wake", limit or 0),
                    "(budget used up)" if _get(o, "wake", "budget_exhausted") else "",
                )
                if x
            )
            lines.append(
                f"  {db:<11} {WAKE_MODE[db]:<14} {label:<22} {_ms(_get(o, 'wake', 'p50_ms'), limit):>9} "
                f"{_ms(_get(o, 'wake', 'p90_ms'), limit):>9} {_ms(_get(o, 'wake', 'max_ms')):>9} "
                f"{_ms(_get(o, 'wake', 'send_call_p50_ms')):>8} {('-' if ran is None else ran):>7} {ratio:>13} {note}"
            )
        target = WAKE_TARGET_MS[db]
        ours = entry.get("ours_wake")
        verdicts.append(
            (
                f"{db}: wake latency p50 ({WAKE_MODE[db]}) = {_ms(ours_p50)} ms (< {target:g} ms)",
                _verdict(ours_p50, target, ours, not _get(ours, "wake", "unfinished")),
            )
        )
    lines.append("")


def _timer_table(
    report: dict[str, dict[str, Any]], sizes: WaitSizes, lines: list[str], verdicts: list[tuple[str, str]]
) -> None:
    lines.append(
        f"Timer lateness: {sizes.timers} timers due at spread times (real clock), completion minus due time  "
        f"[target: p50 < {TIMER_TARGET_MS:g} ms]"
    )
    lines.append(
        f"  {'db':<11} {'engine':<22} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9} {'early':>6} "
        f"{'edda/ours p50':>13}"
    )
    for db, entry in report.items():
        if "ours_timers" not in entry:
            continue
        ours_p50 = _get(entry.get("ours_timers"), "timers", "p50_ms")
        peer_p50 = _get(entry.get("peer_timers"), "timers", "p50_ms")
        for label, key in ((OURS, "ours_timers"), (PEER, "peer_timers")):
            o = entry.get(key)
            limit = _get(o, "timeout_s")
            ratio = f"{peer_p50 / ours_p50:,.0f}x" if key == "ours_timers" and ours_p50 and peer_p50 else ""
            late_setup = _get(o, "timers", "parked_before_first_due") is False
            failed_starts = _get(o, "timers", "failed_starts")
            note = " ".join(
                x
                for x in (
                    _status(o),
                    _did_not_finish(o, "timers", limit or 0),
                    "(not all parked before the first due time)" if late_setup else "",
                    f"({failed_starts} starts failed)" if failed_starts else "",
                )
                if x
            )
            lines.append(
                f"  {db:<11} {label:<22} {_ms(_get(o, 'timers', 'p50_ms'), limit):>9} "
                f"{_ms(_get(o, 'timers', 'p90_ms'), limit):>9} {_ms(_get(o, 'timers', 'p99_ms'), limit):>9} "
                f"{_ms(_get(o, 'timers', 'max_ms')):>9} {_get(o, 'timers', 'early') or 0:>6} {ratio:>13} {note}"
            )
        ours = entry.get("ours_timers")
        p99 = _get(ours, "timers", "p99_ms")
        verdicts.append(
            (
                f"{db}: timer lateness p50 = {_ms(ours_p50)} ms (< {TIMER_TARGET_MS:g} ms; p99 {_ms(p99)} ms)",
                _verdict(ours_p50, TIMER_TARGET_MS, ours, not _get(ours, "timers", "unfinished")),
            )
        )
    lines.append("")


def _recovery_table(
    report: dict[str, dict[str, Any]], sizes: WaitSizes, lines: list[str], verdicts: list[tuple[str, str]]
) -> None:
    lines.append(
        f"Recovery: {sizes.recovery_workflows} workflows waiting on events, worker SIGKILLed, new worker started, "
        f"then every event sent  [target: all finish within {RECOVERY_TARGET_S:g} s of their events]"
    )
    lines.append(
        f"  {'db':<11} {'engine':<22} {'init s':>7} {'ready s':>8} {'send s':>7} {'p50 fin s':>10} "
        f"{'max fin s':>10} {'all done s':>11}"
    )
    for db, entry in report.items():
        if "ours_recovery" not in entry:
            continue
        for label, key in ((OURS, "ours_recovery"), (PEER, "peer_recovery")):
            o = entry.get(key)
            limit = _get(o, "recovery", "timeout_s")
            note = " ".join(x for x in (_status(o), _did_not_finish(o, "recovery", limit or 0)) if x)
            lines.append(
                f"  {db:<11} {label:<22} {_sec(_get(o, 'recovery', 'initialized_s')):>7} "
                f"{_sec(_get(o, 'recovery', 'ready_s')):>8} {_sec(_get(o, 'recovery', 'sending_s')):>7} "
                f"{_sec_ms(_get(o, 'recovery', 'finish', 'p50_ms'), limit):>10} "
                f"{_sec_ms(_get(o, 'recovery', 'finish', 'max_ms'), limit):>10} "
                f"{_sec(_get(o, 'recovery', 'all_finished_s')):>11} {note}"
            )
        ours = entry.get("ours_recovery")
        slowest = _get(ours, "recovery", "finish", "max_ms")
        verdicts.append(
            (
                f"{db}: recovery, slowest finish after its event = "
                f"{'-' if slowest is None else f'{slowest / 1000.0:.2f}'} s (< {RECOVERY_TARGET_S:g} s)",
                _verdict(
                    None if slowest is None else slowest / 1000.0,
                    RECOVERY_TARGET_S,
                    ours,
                    not _get(ours, "recovery", "finish", "unfinished"),
                ),
            )
        )
    lines.append(
        "  init/ready: seconds from spawning the new worker to its app initialised / to all instances found "
        "waiting and free; send: sending all events; fin: each workflow's completion after its own event"
    )
