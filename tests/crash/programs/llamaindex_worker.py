"""Crash-test worker for durable_llamaindex: ``python -m tests.crash.programs.llamaindex_worker``.

Serves :data:`CATALOG` until SIGTERM or SIGKILL and prints ``ready <worker id>`` once initialized:

* ``li_linear`` - ``s1 -> s2 -> s3 -> s4`` (the instance id travels in ``ctx.store``);
* ``li_fan`` - ``split`` sends three ``Part`` events (fan-out), ``work`` runs per part with three
  workers, ``join`` collects the three results (fan-in);
* ``li_approval`` - ``prepare`` returns an ``InputRequiredEvent``, ``decide`` runs on the response.

Every step appends ``start``/``done`` lines to the side-effect log (format of
:mod:`tests.crash.support`). With ``--pause-after STEP`` the workflow stalls right after the first
checkpoint of that step was committed, so the test can kill the process there.

Options: ``--db URL --log PATH [--pause-after STEP]...``
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from durable_core import Catalog, WorkflowContext, workflow
from durable_llamaindex import Checkpoint, DurableLlamaWorkflow
from tests.crash.programs.paused_worker import serve_main

CATALOG = Catalog()
RESPONSE_TYPE = "crash.approval"


@dataclass
class Settings:
    """Per-process behaviour, set from the command line."""

    log_path: str = ""
    pause_after: frozenset[str] = frozenset()
    paused: bool = False
    forever: asyncio.Event = field(default_factory=asyncio.Event)  # never set


SETTINGS = Settings()


def effect(event: str, instance_id: str, label: str) -> None:
    """Append ``<event> <instance> <label> <pid> 0`` to the side-effect log and fsync it."""
    line = f"{event} {instance_id} {label} {os.getpid()} 0\n".encode()
    fd = os.open(SETTINGS.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


async def side_effect(ctx: Context, label: str) -> str:
    """Log ``start``, yield once (so parallel steps interleave), log ``done``; return the instance id."""
    iid: str = await ctx.store.get("iid")
    effect("start", iid, label)
    await asyncio.sleep(0)
    effect("done", iid, label)
    return iid


# -- linear --------------------------------------------------------------------------------------
class E1(Event):
    value: int


class E2(Event):
    value: int


class E3(Event):
    value: int


class LinearFlow(Workflow):
    @step
    async def s1(self, ctx: Context, ev: StartEvent) -> E1:
        await ctx.store.set("iid", ev.iid)
        await ctx.store.set("trail", [f"s1:{os.getpid()}"])
        await side_effect(ctx, "s1")
        return E1(value=ev.n)

    @step
    async def s2(self, ctx: Context, ev: E1) -> E2:
        await side_effect(ctx, "s2")
        await ctx.store.set("trail", [*await ctx.store.get("trail"), f"s2:{os.getpid()}"])
        return E2(value=ev.value * 10)

    @step
    async def s3(self, ctx: Context, ev: E2) -> E3:
        await side_effect(ctx, "s3")
        await ctx.store.set("trail", [*await ctx.store.get("trail"), f"s3:{os.getpid()}"])
        return E3(value=ev.value + 1)

    @step
    async def s4(self, ctx: Context, ev: E3) -> StopEvent:
        await side_effect(ctx, "s4")
        trail = [*await ctx.store.get("trail"), f"s4:{os.getpid()}"]
        return StopEvent(result=f"{ev.value} via {' '.join(trail)}")


LINEAR = DurableLlamaWorkflow(lambda: LinearFlow(timeout=None), name="li_linear")


@workflow(catalog=CATALOG)
async def li_linear(ctx: WorkflowContext, n: int) -> str:
    """Run the linear LlamaIndex workflow."""
    result: str = await LINEAR.run(ctx, iid=ctx.instance_id, n=n)
    return result


# -- fan-out / fan-in ------------------------------------------------------------------------------
class Part(Event):
    index: int


class PartDone(Event):
    index: int
    value: int


class FanFlow(Workflow):
    @step
    async def split(self, ctx: Context, ev: StartEvent) -> Part | None:
        await ctx.store.set("iid", ev.iid)
        await side_effect(ctx, "split")
        for index in range(3):
            ctx.send_event(Part(index=index))
        return None

    @step(num_workers=3)
    async def work(self, ctx: Context, ev: Part) -> PartDone:
        await side_effect(ctx, f"work-{ev.index}")
        return PartDone(index=ev.index, value=(ev.index + 1) * 100)

    @step
    async def join(self, ctx: Context, ev: PartDone) -> StopEvent | None:
        parts = ctx.collect_events(ev, [PartDone] * 3)
        if parts is None:
            return None
        await side_effect(ctx, "join")
        values = sorted((p.index, p.value) for p in parts)
        return StopEvent(result=f"sum {sum(v for _, v in values)} of {[i for i, _ in values]}")


FAN = DurableLlamaWorkflow(lambda: FanFlow(timeout=None), name="li_fan")


@workflow(catalog=CATALOG)
async def li_fan(ctx: WorkflowContext) -> str:
    """Run the fan-out/fan-in LlamaIndex workflow."""
    result: str = await FAN.run(ctx, iid=ctx.instance_id)
    return result


# -- human in the loop -----------------------------------------------------------------------------
class ApprovalRequest(InputRequiredEvent):
    prefix: str


class ApprovalFlow(Workflow):
    @step
    async def prepare(self, ctx: Context, ev: StartEvent) -> ApprovalRequest:
        await ctx.store.set("iid", ev.iid)
        await ctx.store.set("amount", ev.amount)
        await side_effect(ctx, "prepare")
        return ApprovalRequest(prefix=f"approve {ev.amount}?")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        await side_effect(ctx, "decide")
        return StopEvent(result=f"{ev.response} for {await ctx.store.get('amount')}")


APPROVAL = DurableLlamaWorkflow(
    lambda: ApprovalFlow(timeout=None), name="li_approval", response_event_type=RESPONSE_TYPE
)


@workflow(catalog=CATALOG)
async def li_approval(ctx: WorkflowContext, amount: int) -> str:
    """Run the human-in-the-loop LlamaIndex workflow."""
    result: str = await APPROVAL.run(ctx, iid=ctx.instance_id, amount=amount)
    return result


class PauseHooks:
    """Stalls a workflow after the checkpoint of a step in ``SETTINGS.pause_after`` was committed."""

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """Called after the checkpoint's history entry was committed."""
        if not cache_hit and isinstance(result, Checkpoint) and result.step in SETTINGS.pause_after:
            await SETTINGS.forever.wait()


def _configure(log_path: str, pause_after: frozenset[str]) -> None:
    SETTINGS.log_path = log_path
    SETTINGS.pause_after = pause_after


if __name__ == "__main__":
    serve_main("llamaindex-crash-worker", CATALOG, PauseHooks(), _configure)
