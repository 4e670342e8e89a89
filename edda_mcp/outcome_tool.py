"""The opt-in admin tool that answers an ``outcome_unknown`` instance (``server.add_resolve_tool()``).

Not registered by default: whoever may call it decides whether a payment or an e-mail happened, so a
server adds it only where its clients are operators. It can reach only the instances the caller's
principal may access, like the other tools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from durable_core import (
    EddaApp,
    EddaError,
    InputValidationError,
    InstanceNotFoundError,
    NoUnknownOutcomeError,
)
from edda_mcp import access
from edda_mcp.models import ResolveOut
from edda_mcp.results import ErrorCode, error, ok
from edda_mcp.signatures import make_tool, param

DEFAULT_RESOLVE_TOOL = "resolve_unknown_outcome"

_InstanceArg = Annotated[str, Field(description="instance_id of a run whose status is outcome_unknown")]
_HappenedArg = Annotated[
    bool, Field(description="true: the interrupted step took effect; false: it did not (it runs again)")
]
_ResultArg = Annotated[
    Any,
    Field(description="with happened=true: the step's result (JSON), recorded as if it returned it"),
]


def register_resolve_tool(mcp: MCPServer[Any], engine: Callable[[], EddaApp], name: str) -> None:
    """Add the ``name`` tool, which calls :meth:`EddaApp.resolve_unknown` for the caller."""

    async def resolve(ctx: Context, instance_id: str, happened: bool, result: Any = None) -> CallToolResult:
        unknown = error(
            ErrorCode.UNKNOWN_INSTANCE, f"No run has instance_id {instance_id!r}.", instance_id=instance_id
        )
        if not access.may_access(access.current_principal(), instance_id):
            return unknown  # never reveal that another principal's instance exists
        app = engine()
        try:
            await app.resolve_unknown(instance_id, happened=happened, result=result, answered_by="mcp")
        except InstanceNotFoundError:
            return unknown
        except NoUnknownOutcomeError as exc:
            return error(ErrorCode.CONFLICT, f"{exc}. Nothing was changed.", instance_id=instance_id)
        except InputValidationError as exc:
            return error(ErrorCode.INVALID_INPUT, f"{exc}. Nothing was changed.", instance_id=instance_id)
        except EddaError as exc:
            return error(ErrorCode.UNAVAILABLE, f"Cannot answer {instance_id!r} right now: {exc}")
        status = (await app.get_instance(instance_id)).status
        out = ResolveOut(instance_id=instance_id, happened=happened, status=status.value)
        said = "the step's result is recorded" if happened else "the step runs again"
        return ok(out, f"Answer stored: {said}; the run continues.")

    params = [
        param("instance_id", _InstanceArg),
        param("happened", _HappenedArg),
        param("result", _ResultArg, None),
    ]
    mcp.add_tool(
        make_tool(name, params, ResolveOut, resolve),
        name=name,
        description="Operator tool: answer a run whose status is outcome_unknown (an at-most-once step was "
        "interrupted and nobody knows if it took effect). happened=true records result as the step's "
        "result; happened=false runs the step again. Check the outside system before answering.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False),
    )
