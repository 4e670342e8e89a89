"""Four deploys of one ``order`` workflow, used by the evolution tests (and the SIGKILL worker program).

``v1`` waits for an event after ``prepare``; ``v2`` inserts ``audit`` before the wait, guarded by
``ctx.patched("audit")``; ``v3`` deprecates the patch (always audits); ``v4`` removed the call;
``unguarded`` inserts ``audit`` without a guard. Each activity appends ``<name> <n>`` to ``CALLS``, or to
the file named by ``CALLS_FILE`` (one line per completed call) when a subprocess runs them.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Final

from durable_core import Catalog, WorkflowContext, activity, wait_event, workflow

CALLS: Counter[str] = Counter()
#: set by the worker program: activity calls are appended to this file (survives SIGKILL)
CALLS_FILE: Final = "EDDA_EVOLUTION_CALLS"
#: set to ``finish`` by the worker program: ``finish`` never completes there (it is killed meanwhile)
HOLD: Final = "EDDA_EVOLUTION_HOLD"
EVENT: Final = "go"


def _called(name: str, n: int) -> None:
    CALLS[name] += 1
    path = os.environ.get(CALLS_FILE)
    if path:
        with Path(path).open("a") as log:
            log.write(f"{name} {n}\n")


@activity
async def prepare(ctx: WorkflowContext, n: int) -> int:
    _called("prepare", n)
    return n


@activity
async def audit(ctx: WorkflowContext, n: int) -> str:
    _called("audit", n)
    return f"audited {n}"


@activity
async def finish(ctx: WorkflowContext, n: int, path: str) -> str:
    if os.environ.get(HOLD) == "finish":  # the worker program is to be killed in the middle of this
        _called("finish-held", n)
        await asyncio.Event().wait()
    _called("finish", n)
    return f"{path} {n}"


V1, V2, V3, V4, UNGUARDED = Catalog(), Catalog(), Catalog(), Catalog(), Catalog()


@workflow(catalog=V1, name="order")
async def order_v1(ctx: WorkflowContext, n: int) -> str:
    await prepare(ctx, n)
    await wait_event(ctx, EVENT)
    return await finish(ctx, n, "old")


@workflow(catalog=V2, name="order")
async def order_v2(ctx: WorkflowContext, n: int) -> str:
    await prepare(ctx, n)
    path = "old"
    if ctx.patched("audit"):
        await audit(ctx, n)
        path = "new"
    await wait_event(ctx, EVENT)
    return await finish(ctx, n, path)


@workflow(catalog=V3, name="order")
async def order_v3(ctx: WorkflowContext, n: int) -> str:
    await prepare(ctx, n)
    ctx.deprecate_patch("audit")
    await audit(ctx, n)
    await wait_event(ctx, EVENT)
    return await finish(ctx, n, "new")


@workflow(catalog=V4, name="order")
async def order_v4(ctx: WorkflowContext, n: int) -> str:
    await prepare(ctx, n)
    await audit(ctx, n)
    await wait_event(ctx, EVENT)
    return await finish(ctx, n, "new")


@workflow(catalog=UNGUARDED, name="order")
async def order_unguarded(ctx: WorkflowContext, n: int) -> str:
    await prepare(ctx, n)
    await audit(ctx, n)  # inserted without ctx.patched: runs recorded by v1 cannot replay this
    await wait_event(ctx, EVENT)
    return await finish(ctx, n, "new")


VERSIONS: Final = {"v1": V1, "v2": V2, "v3": V3, "v4": V4, "unguarded": UNGUARDED}


def code_version_of_v1() -> str:
    """The default version of an app serving :data:`V1` (a hash of its code)."""
    from durable_core.engine.versions import code_hash

    return code_hash(V1)
