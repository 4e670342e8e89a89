"""Every program in examples/ runs to completion and prints what it promises.

Each example runs as its own process (``sys.executable -W error``) in a fresh temporary working directory,
so files an example creates in its working directory never leak between runs. An example that is added
without an entry in ``EXPECTED`` fails :func:`test_every_example_is_covered`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT_SECONDS = 120

# example file -> lines (substrings) its output must contain, in this order
EXPECTED: dict[str, list[str]] = {
    "quickstart.py": [
        "reserving book-42 for ORD-1",
        "charging 19.99 for ORD-1",
        "completed: {'reservation': 'RSV-ORD-1', 'payment': 'PAY-ORD-1'}",
    ],
    "crash_recovery_demo.py": [
        "Killing worker",
        "reserve_stock    ran 1 time(s)",
        "charge_card      ran 1 time(s)",
        "OK: completed steps were replayed",
    ],
    "concepts.py": [
        "first app stops while send_invoice is running",
        "position 5: activity send_invoice",
        "OK: recorded steps were replayed, the unfinished one ran again",
    ],
    "starting_and_results.py": [
        "conflict: instance id 'order-B-2' already exists",
        "start_and_wait -> parcel-C-3 shipped standard",
        "D-4 not finished yet; status: running",
        "cancelled: instance",
        "bob's orders: ['order-B-2']",
        "1: activity ship -> 'parcel-B-2 shipped express'",
    ],
    "retries.py": [
        "default delays without jitter: [1.0, 2.0, 4.0, 8.0]",
        "fetch_rate attempt 3",
        "terminal: card declined for 42.00",
        "exhausted after 3 attempts, last error builtins:OSError",
        "timed out: ActivityTimeoutError",
    ],
    "timeouts.py": ["3 chunks: 3", "50 chunks: WorkflowTimeoutError"],
    "retry_after_crash.py": [
        "call_partner_api attempt 2",
        "killed by SIGKILL: True",
        "call_partner_api attempt 3",
        "OK: the retry budget survived the crash",
    ],
    "saga.py": ["Cancelled reservation for ITEM-2", "OK: compensations ran in reverse order"],
    "saga_cancel.py": ["cancel: requested", "OK: cancelling ran the compensations in reverse order"],
    "transactions.py": ["T-1 done", "OK: only the successful attempt's writes were committed"],
    "outbox.py": [
        "workflow result: ORD-7",
        "receiver got order.created from order-service",
        "data: {'order_id': 'ORD-7', 'attempt': 2}",
        "outbox: 1 sent, 0 pending",
        "OK: only the committed attempt's event was delivered, once",
    ],
    "determinism.py": [
        "replay check of v2: ok=False",
        "at history position 0 the code asked for activity 'fraud_check'",
        "v2 deployed anyway: status=blocked",
        "replay check of v3: ok=True",
        "OK: the blocked instance completed after the fix",
    ],
    "replay_check_ci.py": ["replay check: 2 instance(s) checked, 0 diverged"],
    "hooks.py": [
        "workflow deliver started with {'address': 'Karl Johans gate 1'}",
        "geocode:0 attempt 1 failed (geocoder busy)",
        "workflow deliver completed: 'van 7 to 59.91,10.75'",
    ],
    "timers.py": ["after start: waiting", "reminder 2 sent to ada", "result: ['reminder-1', 'reminder-2']"],
    "otel_tracing.py": [
        "result: 108.0",
        "span 'activity fetch_rate' (child of workflow)",
        "span 'workflow convert' (root)",
    ],
    "storage.py": [
        "Invalid database URL 'redis://localhost/0'",
        "-- Edda MCP schema for sqlite",
        "purged 1 finished instance(s)",
    ],
}


def example_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDDA_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_example(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name)],
        cwd=cwd,
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def test_every_example_is_covered() -> None:
    on_disk = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert on_disk == sorted(EXPECTED), "add new examples to EXPECTED (and remove deleted ones)"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, tmp_path: Path) -> None:
    result = run_example(name, tmp_path)
    report = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode == 0, f"{name} exited with {result.returncode}\n{report}"
    assert "Traceback" not in result.stderr, report
    position = 0
    for line in EXPECTED[name]:
        found = result.stdout.find(line, position)
        assert found >= 0, f"{name}: expected {line!r} (in order) in the output\n{report}"
        position = found + len(line)


def test_quickstart_keeps_its_database_in_the_working_directory(tmp_path: Path) -> None:
    assert run_example("quickstart.py", tmp_path).returncode == 0
    assert (tmp_path / "quickstart.db").is_file()
    # A second run on the same database starts a second order and still works.
    second = run_example("quickstart.py", tmp_path)
    assert second.returncode == 0 and "completed" in second.stdout, second.stderr


async def test_storage_example_runs_on_every_backend(db_url: str, tmp_path: Path) -> None:
    """examples/storage.py reads EDDA_DB_URL: run it on SQLite, PostgreSQL and MySQL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        str(EXAMPLES / "storage.py"),
        cwd=tmp_path,
        env=example_env(EDDA_DB_URL=db_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_SECONDS)
    output = stdout.decode()
    assert process.returncode == 0, f"{output}\n{stderr.decode()}"
    assert "-- Edda MCP schema for" in output and "purged 1 finished instance(s)" in output, output
