"""Versioned changes (``ctx.patched``): marker entries and the words of a non-determinism report.

A patch marker is a history entry of kind ``patch`` named by the change id, recorded the first time a
run asks ``ctx.patched(id)`` (or ``ctx.deprecate_patch(id)``) at a position nobody reached before. On
replay the marker at that position answers True; any other entry there means the run was recorded by
code without the patch, so it answers False and consumes nothing: histories recorded before the patch
keep their position numbering. Markers recorded by ``deprecate_patch`` say so, and code that no longer
mentions the patch at all steps over them.
"""

from __future__ import annotations

from typing import Final

from durable_core.errors import NonDeterminismError
from durable_core.serialization import Serializer
from durable_core.types import HistoryEntry, JsonValue, StepKind

__all__ = ["GUARD_ADVICE", "describe", "divergence", "is_deprecated_marker", "marker_value"]

#: what advice a divergence that involves no marker gives
GUARD_ADVICE: Final = (
    "The history was recorded by other code: revert the change, or guard it with "
    '`if ctx.patched("<change-id>"):` so that runs recorded before it keep the old path '
    "(see docs/versioning.md); then resume the instance (app.resume() or `edda-mcp instances resume`)."
)


#: what the history "holds" at the position a run was parked on
PARKED_OPERATION: Final = "the wait or timer the run was parked on there"


def marker_value(deprecated: bool) -> JsonValue:
    """The recorded value of a marker."""
    return {"deprecated": deprecated}


def is_deprecated_marker(entry: HistoryEntry, serializer: Serializer) -> bool:
    """True for a marker recorded by ``ctx.deprecate_patch`` (code without the patch may skip it)."""
    if entry.kind is not StepKind.PATCH:
        return False
    value = serializer.decode(entry.result)
    return isinstance(value, dict) and value.get("deprecated") is True


def describe(kind: StepKind, name: str, digest: str = "") -> str:
    """A person's name for an operation: ``activity 'charge'``, ``ctx.patched('fix-1') marker``."""
    if kind is StepKind.PATCH:
        return f"the marker of ctx.patched({name!r})"
    return f"{kind.value} {name!r}" + (f" with arguments #{digest}" if digest else "")


def divergence(
    *,
    workflow_name: str,
    instance_id: str,
    position: int,
    actual: str,
    recorded: HistoryEntry | None,
    decided: dict[str, bool],
) -> NonDeterminismError:
    """The error for code that asked for ``actual`` where the history recorded ``recorded``.

    Args:
        workflow_name: the workflow of the run.
        instance_id: the instance of the run.
        position: the history position.
        actual: what the code asked for (see :func:`describe`).
        recorded: the entry the history holds there; None for the position the run was parked on (the
            wait or timer it waited for, recorded only when it ends).
        decided: the ``ctx.patched`` answers of this run so far (named in the message).
    """
    if recorded is None:
        expected = PARKED_OPERATION
        patch_id = None
    else:
        expected = describe(recorded.kind, recorded.name, recorded.args_hash)
        patch_id = recorded.name if recorded.kind is StepKind.PATCH else None
    if patch_id is not None:
        advice = (
            f"This run took the new path of ctx.patched({patch_id!r}): keep the "
            f"`ctx.patched({patch_id!r})` call (or `ctx.deprecate_patch({patch_id!r})`) at this point "
            "while runs that recorded it are open; then resume the instance."
        )
    else:
        advice = GUARD_ADVICE
    if decided:
        answers = ", ".join(
            f"ctx.patched({pid!r}) -> {'new' if v else 'old'} path" for pid, v in decided.items()
        )
        advice += f" In this run {answers}."
        patch_id = patch_id or next(iter(decided))
    return NonDeterminismError(
        f"workflow {workflow_name!r} instance {instance_id}: at history position {position} the code asked "
        f"for {actual} but {'the history recorded ' if recorded is not None else ''}{expected}. {advice}",
        position=position,
        expected=expected,
        actual=actual,
        patch_id=patch_id,
    )
