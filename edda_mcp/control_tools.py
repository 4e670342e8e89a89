"""Opt-in run-control admin tools: ``runs_retry``, ``_fork``, ``_pause``, ``_unpause``, ``_terminate``.

Added by ``server.add_run_control_tools()``. Not registered by default: they change runs (a terminate ends one for good, a retry runs a failed step
again), so a server adds them only where its clients are operators. Each reaches only the instances
the caller's principal may access, like every other tool, and journals the principal (or ``"mcp"``)
as ``by``. They call the engine's public run-control API; see docs/run-control.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from durable_core import (
    EddaApp,
    EddaError,
    InputValidationError,
    InstanceConflictError,
    InstanceNotFoundError,
    RunControlError,
)
from edda_mcp import access
from edda_mcp.results import ErrorCode, error, ok
from edda_mcp.signatures import make_tool, param

__all__ = ["CONTROL_TOOL_NAMES", "ControlOut", "register_control_tools"]

_InstanceArg = Annotated[str, Field(description="instance_id of the run")]
_ReasonArg = Annotated[str, Field(max_length=2000, description="why (kept in the run's control journal)")]
_AtArg = Annotated[
    int | str,
    Field(description="the first history position to run again (0-based), or the name of a step"),
]
_NewIdArg = Annotated[
    str | None,
    Field(max_length=200, description="id of the new run (repeating a fork with it is a no-op)"),
]


class ControlOut(BaseModel):
    """Output of the run-control tools."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_id: str = Field(description="the run acted on (for a fork: the new run)")
    action: str = Field(description="retry|fork|pause|unpause|terminate")
    outcome: str = Field(description="applied|already-applied")
    status: str = Field(description="the run's status now")
    forked_from: str | None = None


def _by() -> str:
    return access.current_principal() or "mcp"


async def _guarded(
    app: EddaApp, action: str, instance_id: str, call: Callable[[], Awaitable[tuple[str, str]]]
) -> CallToolResult:
    """Run ``call`` (it returns the acted-on id and the outcome) and turn engine errors into tool errors."""
    unknown = error(
        ErrorCode.UNKNOWN_INSTANCE, f"No run has instance_id {instance_id!r}.", instance_id=instance_id
    )
    if not access.may_access(access.current_principal(), instance_id):
        return unknown  # never reveal that another principal's instance exists
    try:
        acted_on, outcome = await call()
        record = await app.get_instance(acted_on)
    except InstanceNotFoundError:
        return unknown
    except (RunControlError, InstanceConflictError) as exc:
        return error(ErrorCode.CONFLICT, f"{exc}. Nothing was changed.", instance_id=instance_id)
    except InputValidationError as exc:
        return error(ErrorCode.INVALID_INPUT, f"{exc}. Nothing was changed.", instance_id=instance_id)
    except EddaError as exc:
        return error(ErrorCode.UNAVAILABLE, f"Cannot {action} {instance_id!r} right now: {exc}")
    out = ControlOut(
        instance_id=acted_on,
        action=action,
        outcome=outcome,
        status=record.status.value,
        forked_from=record.forked_from if action == "fork" else None,
    )
    return ok(out, f"{action} {acted_on}: {outcome}; status {record.status.value}.")


class _Bodies:
    """The tool bodies over a server's engine (looked up at call time)."""

    def __init__(self, engine: Callable[[], EddaApp]) -> None:
        self._engine = engine

    async def retry(self, ctx: Context, instance_id: str, reason: str = "") -> CallToolResult:
        app = self._engine()

        async def call() -> tuple[str, str]:
            return instance_id, (await app.retry(instance_id, by=_by(), reason=reason)).value

        return await _guarded(app, "retry", instance_id, call)

    async def fork(
        self,
        ctx: Context,
        instance_id: str,
        at: int | str,
        new_instance_id: str | None = None,
        reason: str = "",
    ) -> CallToolResult:
        app = self._engine()
        principal = access.current_principal()
        if new_instance_id is not None and principal is not None:
            new_instance_id = f"{access.owner_tag(principal)}-{new_instance_id}"  # the caller owns the fork
        new_id = new_instance_id or access.new_instance_id(principal)

        async def call() -> tuple[str, str]:
            existed = await app.storage.get_instance(new_id) is not None
            made = await app.fork(instance_id, at, new_instance_id=new_id, by=_by(), reason=reason)
            return made, "already-applied" if existed else "applied"

        return await _guarded(app, "fork", instance_id, call)

    async def pause(self, ctx: Context, instance_id: str, reason: str = "") -> CallToolResult:
        app = self._engine()

        async def call() -> tuple[str, str]:
            return instance_id, (await app.pause(instance_id, by=_by(), reason=reason)).value

        return await _guarded(app, "pause", instance_id, call)

    async def unpause(self, ctx: Context, instance_id: str, reason: str = "") -> CallToolResult:
        app = self._engine()

        async def call() -> tuple[str, str]:
            return instance_id, (await app.unpause(instance_id, by=_by(), reason=reason)).value

        return await _guarded(app, "unpause", instance_id, call)

    async def terminate(self, ctx: Context, instance_id: str, reason: str = "") -> CallToolResult:
        app = self._engine()

        async def call() -> tuple[str, str]:
            return instance_id, (await app.terminate(instance_id, reason, by=_by())).value

        return await _guarded(app, "terminate", instance_id, call)


_CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
#: action -> (description, annotations)
_TOOLS: dict[str, tuple[str, ToolAnnotations]] = {
    "retry": (
        "Operator tool: run a FAILED run again from its failed step with a fresh retry budget, keeping every "
        "completed step. Refused for cancelled or compensated runs.",
        _CHANGES,
    ),
    "fork": (
        "Operator tool: start a new run whose history is a copy of this run's before `at` (a position or "
        "step name); it runs again from there with the current code. The original is untouched.",
        ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False),
    ),
    "pause": (
        "Operator tool: pause a run at its next step boundary (a step in flight finishes first). It keeps "
        "receiving events and messages; its timers wait until it is unpaused.",
        _CHANGES,
    ),
    "unpause": ("Operator tool: let a paused run continue.", _CHANGES),
    "terminate": (
        "Operator tool: end a running, waiting, blocked or paused run as failed at once, without "
        "compensations (for wedged runs).",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    ),
}


def register_control_tools(mcp: MCPServer[Any], engine: Callable[[], EddaApp], prefix: str = "runs") -> None:
    """Add ``<prefix>_retry``, ``_fork``, ``_pause``, ``_unpause`` and ``_terminate`` to ``mcp``."""
    bodies = _Bodies(engine)
    iid, why = param("instance_id", _InstanceArg), param("reason", _ReasonArg, "")
    fork_params = [iid, param("at", _AtArg), param("new_instance_id", _NewIdArg, None), why]
    for action, (description, hints) in _TOOLS.items():
        name = f"{prefix}_{action}"
        params = fork_params if action == "fork" else [iid, why]
        body = getattr(bodies, action)
        mcp.add_tool(
            make_tool(name, params, ControlOut, body), name=name, description=description, annotations=hints
        )


#: the tool names with the default prefix
CONTROL_TOOL_NAMES = tuple(f"runs_{a}" for a in ("retry", "fork", "pause", "unpause", "terminate"))
