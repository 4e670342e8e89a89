"""``agent.run_sync()`` / ``run_stream_sync()`` refused inside Edda workflows, with a message that says why.

pydantic-ai's sync wrappers drive the event loop themselves (``loop.run_until_complete``). A workflow body
is a coroutine on the engine's loop, which is already running, so they can never work there: left alone
they fail with asyncio's bare "This event loop is already running" (and in an async activity every retry
fails the same way). pydantic-ai's Temporal integration refuses them for the same reason. Here they fail
at once with a terminal :class:`~durable_pydantic_ai.errors.AgentMisuseError` naming the async call to use;
outside Edda code (and in a sync activity, which runs in a thread without a loop) they are untouched.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from pydantic_ai.agent import AbstractAgent

from durable_core import current_context
from durable_pydantic_ai.errors import AgentMisuseError

#: sync entry point -> what to write instead
_ASYNC_INSTEAD = {
    "run_sync": "`result = await agent.run(...)`",
    "run_stream_sync": "`async with agent.run_stream(...) as result:`",
}
_MARK = "__edda_refuses_sync_runs__"


def _edda_code_on_a_running_loop() -> str | None:
    """Where we are ("workflow" / "activity") when in Edda code on a thread whose event loop runs."""
    ctx = current_context()
    if ctx is None:
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a sync activity runs in a worker thread: no loop there, so run_sync works
        return None
    return "activity" if ctx.in_activity else "workflow"


def _refusing(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        where = _edda_code_on_a_running_loop()
        if where is not None:
            raise AgentMisuseError(
                f"agent.{name}() cannot be used inside an Edda {where}: it drives an event loop itself, and this "
                "code already runs as a coroutine on the engine's running event loop. "
                f"Use {_ASYNC_INSTEAD[name]} instead."
            )
        return original(*args, **kwargs)

    return guarded


def refuse_sync_runs_in_workflows(agent: AbstractAgent[Any, Any]) -> None:
    """Make ``agent.run_sync`` / ``agent.run_stream_sync`` fail clearly inside Edda code (idempotent).

    The methods are replaced on this agent instance only; outside a workflow or activity they call
    pydantic-ai's own implementation unchanged.
    """
    if getattr(agent, _MARK, False):
        return
    for name in _ASYNC_INSTEAD:
        original = getattr(agent, name, None)
        if original is not None:
            setattr(agent, name, _refusing(name, original))
    setattr(agent, _MARK, True)
