"""Tool callables with explicit signatures, so the SDK derives input and output schemas from them."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, InputRequiredResult

from durable_core import Workflow
from edda_mcp.errors import ToolDefinitionError

ToolBody = Callable[..., Awaitable[CallToolResult | InputRequiredResult]]
"""A tool body; ``InputRequiredResult`` asks a 2026-07-28 client for input before the call completes."""
CONTEXT_PARAM = "mcp_context"


def workflow_parameters(wf: Workflow[Any, Any]) -> list[inspect.Parameter]:
    """The workflow's inputs (after ``ctx``) as keyword-only parameters with resolved annotations."""
    try:
        hints = typing.get_type_hints(wf.fn)
    except Exception as exc:
        raise ToolDefinitionError(f"cannot resolve the type hints of workflow {wf.name}: {exc}") from exc
    params = list(inspect.signature(wf.fn).parameters.values())[1:]
    return [
        inspect.Parameter(
            p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default, annotation=hints.get(p.name, Any)
        )
        for p in params
    ]


def return_type(wf: Workflow[Any, Any]) -> Any:
    """The workflow's resolved return annotation (``Any`` when missing)."""
    hints = typing.get_type_hints(wf.fn)
    result = hints.get("return", Any)
    return Any if result is type(None) else result


def make_tool(
    name: str, params: list[inspect.Parameter], output_model: type[Any], body: ToolBody
) -> ToolBody:
    """Wrap ``body(ctx, **arguments)`` in a function whose signature is ``params`` plus the MCP context.

    Its return annotation ``Annotated[CallToolResult, output_model]`` makes the SDK publish the model's
    JSON schema as the tool's ``outputSchema`` and validate successful results against it.
    """
    names = [p.name for p in params]
    if CONTEXT_PARAM in names or len(set(names)) != len(names):
        raise ToolDefinitionError(f"tool {name}: parameter names must be unique and not {CONTEXT_PARAM!r}")
    bad = [n for n in names if n.startswith("_")]
    if bad:
        raise ToolDefinitionError(f"tool {name}: MCP tool parameters cannot start with '_': {bad}")

    async def tool(**kwargs: Any) -> CallToolResult | InputRequiredResult:
        ctx = kwargs.pop(CONTEXT_PARAM)
        return await body(ctx, **kwargs)

    ctx_param = inspect.Parameter(CONTEXT_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    returns = Annotated[CallToolResult, output_model]
    tool.__signature__ = inspect.Signature([*params, ctx_param], return_annotation=returns)  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in params} | {
        CONTEXT_PARAM: Context,
        "return": returns,
    }
    tool.__name__ = name
    tool.__qualname__ = name
    return tool


def param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    """A keyword-only tool parameter."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
