"""SIGKILL a durable mirascope agent after 2 of its 4 calls; recovery makes only the remaining 2.

The agent (``tests/crash/programs/mirascope_agent.py``) makes: model request, tool ``lookup(Oslo)``,
tool ``lookup(Bergen)``, model request. The first process is killed while ``lookup(Bergen)`` runs, i.e.
after the first model request and ``lookup(Oslo)`` were recorded. A second process recovers the
instance: the provider is asked only once more, Oslo is not looked up again, and the final answer is
the one an uninterrupted run gives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from durable_core import EddaApp, StepKind, StepOutcome
from tests.crash.support import REPO_ROOT, wait_until

PROGRAM = "tests.crash.programs.mirascope_agent"
EXPECTED = {"answer": "Forecast: Oslo 12C; Bergen 9C", "steps": 2, "tokens": 92}


class Program:
    """One run of the crash program as a real subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr: Path) -> None:
        self.proc = proc
        self.stderr = stderr

    @classmethod
    async def spawn(cls, db_url: str, calls: Path, instance: str, stderr: Path, *options: str) -> Program:
        with stderr.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                PROGRAM,
                "--db",
                db_url,
                "--calls",
                str(calls),
                "--instance",
                instance,
                *options,
                cwd=REPO_ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        program = cls(proc, stderr)
        assert (await program.line(30)).startswith("ready "), program.stderr.read_text()
        return program

    async def line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"program {self.proc.pid} printed nothing:\n{self.stderr.read_text()}"
            ) from None
        return raw.decode().strip()

    async def result(self) -> dict[str, Any]:
        line = await self.line(60)
        assert line.startswith("result "), f"{line!r}\n{self.stderr.read_text()}"
        assert await asyncio.wait_for(self.proc.wait(), 30) == 0, self.stderr.read_text()
        return json.loads(line.removeprefix("result "))  # type: ignore[no-any-return]

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def _calls(path: Path) -> list[tuple[str, str, int]]:
    if not path.exists():
        return []
    return [(w[0], w[1], int(w[2])) for w in (line.split() for line in path.read_text().splitlines())]


async def _wait_for_recorded_lookups(db_url: str, count: int) -> None:
    """Wait (bounded) until ``count`` lookup steps of ``agent-1`` are committed."""
    reader = EddaApp(db_url, "mirascope-crash-reader", run_workers=False)
    await reader.initialize()
    try:

        async def recorded() -> int:
            history = await reader.get_history("agent-1")
            return sum(
                1 for e in history if e.name == "mirascope.tool:lookup" and e.outcome is StepOutcome.OK
            )

        async with asyncio.timeout(60):
            while True:
                if await recorded() >= count:
                    return
                await asyncio.sleep(0.05)  # re-read the other process's commits; bounded by the timeout
    finally:
        await reader.shutdown()


async def test_recovery_calls_the_provider_only_for_the_remaining_steps(db_url: str, tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    programs: list[Program] = []
    try:
        first = await Program.spawn(db_url, calls, "agent-1", tmp_path / "first.stderr", "--hold", "Bergen")
        programs.append(first)
        await wait_until(
            lambda: ("tool-start", "Bergen", first.proc.pid) in _calls(calls),
            "the third call (lookup Bergen) started",
            explain=lambda: first.stderr.read_text(),
        )
        # The two lookups run concurrently: Bergen can start before Oslo's result is committed, so kill
        # only once Oslo's step is in the history (what the recovery must then not repeat).
        await _wait_for_recorded_lookups(db_url, 1)
        await first.kill()
        assert [(kind, what) for kind, what, _ in _calls(calls)] == [
            ("model", "0"),
            ("tool-start", "Oslo"),
            ("tool-done", "Oslo"),
            ("tool-start", "Bergen"),
        ]

        second = await Program.spawn(db_url, calls, "agent-1", tmp_path / "second.stderr")
        programs.append(second)
        assert await second.result() == EXPECTED

        after_crash = [(kind, what) for kind, what, pid in _calls(calls) if pid == second.proc.pid]
        # The recovering process made only the two unrecorded calls: lookup(Bergen) and the final request.
        assert after_crash == [("tool-start", "Bergen"), ("tool-done", "Bergen"), ("model", "1")]
        totals = Counter((kind, what) for kind, what, _ in _calls(calls))
        assert totals[("model", "0")] == 1 and totals[("model", "1")] == 1
        assert totals[("tool-done", "Oslo")] == 1 and totals[("tool-done", "Bergen")] == 1

        app = EddaApp(db_url, "mirascope-crash-check", run_workers=False)
        await app.initialize()
        try:
            history = await app.get_history("agent-1")
        finally:
            await app.shutdown()
        assert [(e.kind, e.name, e.outcome) for e in history] == [
            (StepKind.ACTIVITY, "mirascope.call:forecast", StepOutcome.OK),
            (StepKind.ACTIVITY, "mirascope.tool:lookup", StepOutcome.OK),
            (StepKind.ACTIVITY, "mirascope.tool:lookup", StepOutcome.OK),
            (StepKind.ACTIVITY, "mirascope.resume:forecast", StepOutcome.OK),
        ]

        # An uninterrupted run of the same agent gives the same final answer.
        reference = await Program.spawn(
            db_url, tmp_path / "reference.log", "agent-ref", tmp_path / "reference.stderr"
        )
        programs.append(reference)
        assert await reference.result() == EXPECTED
        assert len(_calls(tmp_path / "reference.log")) == 6
    finally:
        for program in programs:
            await program.close()
