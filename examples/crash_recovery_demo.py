"""`make demo`: a durable workflow survives SIGKILL of its worker process.

The parent process starts a worker that runs a 4-step order workflow on embedded SQLite, kills the
worker with SIGKILL right after step 2 has been recorded, starts a fresh worker, and shows that the
workflow finishes without re-running steps 1 and 2.

Run: python examples/crash_recovery_demo.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from durable_core import EddaApp, WorkflowContext, activity, workflow

STEPS = ("reserve_stock", "charge_card", "print_label", "notify_customer")


def _log(path: Path, line: str) -> None:
    with path.open("a") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


@activity
async def do_step(ctx: WorkflowContext, step: str, order_id: str) -> str:
    """One business step: its side effect is a line in the effects log (counted by the parent)."""
    effects = Path(os.environ["DEMO_EFFECTS_LOG"])
    await asyncio.sleep(float(os.environ.get("DEMO_STEP_SECONDS", "0.4")))
    _log(effects, f"{step}")
    return f"{step} ok"


@workflow
async def process_order(ctx: WorkflowContext, order_id: str) -> list[str]:
    """Four durable steps; each is recorded once and replayed after a crash."""
    return [await do_step(ctx, step, order_id) for step in STEPS]


async def _worker(db_path: str, start: bool) -> None:
    async with EddaApp(f"sqlite:///{db_path}", service_name="demo-worker", poll_interval=0.1) as app:
        if start:
            iid = await process_order.with_options(instance_id="order-42").start(order_id="42")
            print(f"  worker {os.getpid()}: started workflow instance {iid}", flush=True)
        else:
            print(f"  worker {os.getpid()}: resuming unfinished instances", flush=True)
        result = await app.handle("order-42").result(timeout=60)
        print(f"  worker {os.getpid()}: order-42 finished -> {result}", flush=True)


def _spawn(db_path: str, effects: Path, start: bool) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DEMO_EFFECTS_LOG=str(effects))
    args = [sys.executable, __file__, "--worker", db_path] + (["--start"] if start else [])
    return subprocess.Popen(args, env=env)


def _wait_for_recorded_steps(db_path: str, count: int, timeout: float = 30.0) -> None:
    """Poll the workflow history (read-only) until ``count`` steps are durably recorded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
                (recorded,) = conn.execute(
                    "SELECT COUNT(*) FROM edda_history WHERE instance_id = 'order-42'"
                ).fetchone()
        except sqlite3.OperationalError:  # database or table not created yet
            recorded = 0
        if recorded >= count:
            return
        time.sleep(0.01)
    raise SystemExit(f"demo: timed out waiting for {count} recorded steps")


def main() -> int:
    """Run the crash/recovery walkthrough and return a process exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "demo.db")
        effects = Path(tmp) / "effects.log"
        print("1. Start a worker process and a 4-step workflow on embedded SQLite")
        worker = _spawn(db_path, effects, start=True)
        _wait_for_recorded_steps(db_path, 2)
        done = effects.read_text().split()
        print(f"2. Steps recorded so far: {done}. Killing worker {worker.pid} with SIGKILL mid-run")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        print("3. Start a fresh worker process on the same database")
        worker = _spawn(db_path, effects, start=False)
        code = worker.wait(timeout=60)
        lines = effects.read_text().split()
        print("4. Side effects performed over both processes:")
        for step in STEPS:
            print(f"     {step:<16} ran {lines.count(step)} time(s)")
        completed_twice = [s for s in STEPS[:2] if lines.count(s) > 1]
        ok = code == 0 and not completed_twice and all(lines.count(s) >= 1 for s in STEPS)
        print(
            "   "
            + ("OK: completed steps were replayed from history, not re-run." if ok else "UNEXPECTED result")
        )
        return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        asyncio.run(_worker(sys.argv[2], start="--start" in sys.argv))
        sys.exit(0)
    sys.exit(main())
