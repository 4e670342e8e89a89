"""What one step records (its output and the state after it) and how outputs are rebuilt on replay.

Outputs are stored as JSON and rebuilt with the types the code declares: a builder step's return
annotation, a ``BaseNode`` class looked up by its node id, ``End[T]``'s ``T`` from the node's ``run``
annotation. Classes and functions are never recorded, only node ids.
"""

from __future__ import annotations

import typing
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_graph import BaseNode, End, Join, Step
from pydantic_graph.join import JoinNode
from pydantic_graph.step import NodeStep, StepNode

from durable_pydantic_graph._state import to_json, type_adapter
from durable_pydantic_graph.errors import RecordedStepError, UnsupportedGraphError


class OutputKind(StrEnum):
    """What a step produced."""

    VALUE = "value"  # a builder step's return value
    NODE = "node"  # the next BaseNode
    END = "end"  # End(data) from a BaseNode
    STEP = "step"  # StepNode: hand-off from a BaseNode to a builder step
    JOIN = "join"  # JoinNode: hand-off from a BaseNode to a join


class StepRecord(BaseModel):
    """The recorded outcome of one step: its output (JSON) and the graph state after it (JSON)."""

    model_config = ConfigDict(frozen=True)

    kind: OutputKind
    target: str | None = None
    value: Any = None
    state: Any = None
    #: what the step changed in the state (``_state.state_changes``); None in records made before these
    #: were recorded: then the whole ``state`` is loaded
    changes: list[Any] | None = None


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: rebuild as plain JSON
        return {}


def step_output_type(step: Step) -> Any:
    """The declared return type of a builder step (``Any`` when it cannot be resolved)."""
    return _hints(step.call).get("return", Any)


def step_input_type(step: Step) -> Any:
    """The ``InputT`` of a builder step's ``StepContext[StateT, DepsT, InputT]`` parameter."""
    hints = _hints(step.call)
    for name, hint in hints.items():
        if name != "return":
            args = typing.get_args(hint)
            return args[2] if len(args) == 3 else Any
    return Any


def end_type(node_type: type[Any]) -> Any:
    """``T`` of the ``End[T]`` a node's ``run`` may return (``Any`` if not declared)."""
    hint = _hints(node_type.run).get("return", Any)
    for member in typing.get_args(hint) or (hint,):
        if typing.get_origin(member) is End:
            args = typing.get_args(member)
            return args[0] if args else Any
    return Any


def encode_output(step: Step, output: Any, state: Any) -> StepRecord:
    """Record a step's output; ``state`` is the state snapshot (JSON) after the step."""
    if not isinstance(step, NodeStep):
        if hasattr(output, "__aiter__"):
            raise UnsupportedGraphError(
                f"step {step.id!r} returned an async iterator (a stream step); durable graphs record "
                "whole step results, so return a list instead"
            )
        return StepRecord(
            kind=OutputKind.VALUE, value=to_json(output, f"output of step {step.id!r}"), state=state
        )
    what = f"node returned by {step.id!r}"
    if isinstance(output, StepNode):
        return StepRecord(
            kind=OutputKind.STEP, target=output.step.id, value=to_json(output.inputs, what), state=state
        )
    if isinstance(output, JoinNode):
        return StepRecord(
            kind=OutputKind.JOIN, target=output.join.id, value=to_json(output.inputs, what), state=state
        )
    if isinstance(output, End):
        return StepRecord(kind=OutputKind.END, value=to_json(output.data, what), state=state)
    if isinstance(output, BaseNode):
        node_id = type(output).get_node_id()
        return StepRecord(kind=OutputKind.NODE, target=node_id, value=to_json(output, what), state=state)
    raise UnsupportedGraphError(f"node {step.id!r} returned {type(output).__name__}, not a node or End")


def _validate(annotation: Any, value: Any, what: str) -> Any:
    try:
        return type_adapter(annotation).validate_python(value)
    except ValidationError as exc:
        raise RecordedStepError(f"recorded {what} does not fit the current code: {exc}") from None


def decode_output(step: Step, record: StepRecord, nodes: dict[str, Any]) -> Any:
    """Rebuild the real output object of ``step`` from its record (``nodes``: the graph's nodes by id)."""
    if record.kind is OutputKind.VALUE:
        return _validate(step_output_type(step), record.value, f"output of step {step.id!r}")
    if not isinstance(step, NodeStep):
        raise RecordedStepError(
            f"step {step.id!r} has a recorded {record.kind.value} output but is not a node"
        )
    if record.kind is OutputKind.END:
        return End(_validate(end_type(step.node_type), record.value, f"End of node {step.id!r}"))
    target = nodes.get(record.target or "")
    if record.kind is OutputKind.NODE and isinstance(target, NodeStep):
        return _validate(target.node_type, record.value, f"node {record.target!r}")
    if record.kind is OutputKind.STEP and isinstance(target, Step):
        return StepNode(
            target, _validate(step_input_type(target), record.value, f"input of {record.target!r}")
        )
    if record.kind is OutputKind.JOIN and isinstance(target, Join):
        return JoinNode(target, record.value)
    raise RecordedStepError(
        f"node {step.id!r} recorded a hand-off to {record.target!r}, which is not a "
        f"{record.kind.value} of this graph any more"
    )
