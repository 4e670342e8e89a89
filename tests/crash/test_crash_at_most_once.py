"""SIGKILL in the middle of an at-most-once charge, then every way its unknown outcome gets decided.

A worker runs ``pay_once`` (``po_a`` then the at-most-once ``po_charge``) and is killed while the charge
runs (its side effect started, not done). A second worker takes the instance over. The side-effect log
proves the charge never starts a second time without a decision: ``reconcile`` answers, or the instance
waits in ``outcome_unknown`` until an operator answers through the API or the CLI.
"""

from __future__ import annotations

import asyncio
import io

import pytest

from durable_core import EddaApp, InstanceStatus, NoUnknownOutcomeError
from edda_mcp.cli import main as cli_main
from tests.crash.support import EffectLog, WorkerPool, assert_nothing_stranded, client, wait_until

IID = "pay-1"
LABEL = "po_charge"


async def _crash_mid_charge(app: EddaApp, workers: WorkerPool, effects: EffectLog, verdict: str) -> None:
    """Start ``pay_once``, wait until the charge's side effect started, SIGKILL the worker, start another."""
    first = await workers.spawn("--hold", LABEL)
    await app.start("pay_once", {"n": 1, "verdict": verdict}, instance_id=IID)
    await wait_until(
        lambda: effects.counts()["start", IID, LABEL] == 1, "the charge started", explain=workers.diagnostics
    )
    await first.kill()
    await workers.spawn()


async def _status_is(app: EddaApp, status: InstanceStatus, workers: WorkerPool) -> None:
    async def reached() -> bool:
        return (await app.get_instance(IID)).status is status

    await wait_until(reached, f"{IID} is {status.value}", explain=workers.diagnostics)


def _keys(effects: EffectLog) -> set[str]:
    return {e.label.split("/", 1)[1] for e in effects.read() if e.event == "key" and e.instance_id == IID}


async def test_reconcile_happened_records_its_result(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    async with client(db_url) as app:
        await _crash_mid_charge(app, workers, effects, "happened")
        assert await app.wait_result(IID, timeout=30) == ["po_a:1", "po_charge:reconciled"]
        counts = effects.counts()
        assert counts["start", IID, LABEL] == 1  # never run again
        assert counts["done", IID, LABEL] == 0
        assert counts["reconcile", IID, LABEL] == 1
        assert len(_keys(effects)) == 1  # the attempt and reconcile saw the same key
        await assert_nothing_stranded(app)


async def test_reconcile_did_not_happen_runs_a_new_attempt_with_the_same_key(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    async with client(db_url) as app:
        await _crash_mid_charge(app, workers, effects, "did-not-happen")
        assert await app.wait_result(IID, timeout=30) == ["po_a:1", "po_charge:charged"]
        assert effects.attempts("start", IID, LABEL) == [1, 2]
        assert effects.counts()["done", IID, LABEL] == 1
        assert len(_keys(effects)) == 1  # the key survived the crash and the new attempt
        history = await app.get_history(IID)
        assert history[1].retry is not None and history[1].retry.total_attempts == 2
        await assert_nothing_stranded(app)


async def test_unknown_waits_for_the_operator_then_the_api_answer_records_the_result(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    async with client(db_url) as app:
        await _crash_mid_charge(app, workers, effects, "unknown")
        await _status_is(app, InstanceStatus.OUTCOME_UNKNOWN, workers)
        record = await app.get_instance(IID)
        assert record.blocked_reason is not None
        assert "outcome unknown" in record.blocked_reason and "cannot say" in record.blocked_reason
        assert record.lease_owner is None
        assert effects.counts()["start", IID, LABEL] == 1  # waiting, not retrying
        await app.resolve_unknown(IID, happened=True, result="po_charge:by-hand", answered_by="ops")
        assert await app.wait_result(IID, timeout=30) == ["po_a:1", "po_charge:by-hand"]
        assert effects.counts()["start", IID, LABEL] == 1
        assert effects.counts()["reconcile", IID, LABEL] == 1  # the operator's answer is final
        with pytest.raises(NoUnknownOutcomeError, match="completed"):
            await app.resolve_unknown(IID, happened=False)
        await assert_nothing_stranded(app)


async def test_without_reconcile_the_cli_answer_runs_it_again(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    async with client(db_url) as app:
        await _crash_mid_charge(app, workers, effects, "none")
        await _status_is(app, InstanceStatus.OUTCOME_UNKNOWN, workers)
        shown = io.StringIO()
        assert (
            await asyncio.to_thread(
                cli_main, ["instances", "show", IID, "--db", db_url, "--json", "--full"], shown
            )
            == 0
        )
        assert '"status": "outcome_unknown"' in shown.getvalue()
        assert "charge_unreconciled" in shown.getvalue()
        out = io.StringIO()
        argv = ["instances", "resolve", IID, "--db", db_url, "--did-not-happen", "--by", "ops"]
        assert await asyncio.to_thread(cli_main, argv, out) == 0
        assert "resolved" in out.getvalue()
        assert await app.wait_result(IID, timeout=30) == ["po_a:1", "po_charge:charged"]
        assert effects.attempts("start", IID, LABEL) == [1, 2]
        assert effects.counts()["done", IID, LABEL] == 1
        await assert_nothing_stranded(app)
