"""Whose turn a position is when concurrent branches claim positions (see ``durable_core.authoring.branches``)."""

from __future__ import annotations

from collections.abc import Mapping

from durable_core.errors import ApiMisuseError
from durable_core.types import HistoryEntry, StepKind

#: an operation as the history names it: kind, name and argument digest ("" when it has none)
Operation = tuple[StepKind, str, str]


def matches(recorded: HistoryEntry, kind: StepKind, name: str, digest: str) -> bool:
    """Whether ``recorded`` is the entry of the operation ``kind name`` with argument digest ``digest``."""
    return recorded.kind is kind and recorded.name == name and (not digest or recorded.args_hash == digest)


def is_my_turn(
    recorded: Mapping[int, HistoryEntry], last_recorded: int, position: int, operation: Operation
) -> bool:
    """Whether ``operation`` of a branch may take ``position``, the next free one.

    Live (past the history): first come, first served. On replay: when the entry recorded there is its
    own; a position with nothing recorded (its activity was running when the process stopped) goes to an
    operation that matches no later entry - one that does match waits for that entry's turn instead.
    """
    if position > last_recorded:
        return True
    entry = recorded.get(position)
    if entry is not None:
        return matches(entry, *operation)
    return not any(matches(later, *operation) for p, later in recorded.items() if p > position)


def branch_refusal(what: str, *, inside: bool) -> ApiMisuseError:
    """The error for a durable operation other than an activity while branches run."""
    where = "inside concurrent branches" if inside else "next to running branches"
    return ApiMisuseError(
        f"{what} is not supported {where} (ctx.parallel / a DurableGraph's parallel steps): only activities "
        "may run in branches, and the code that started them must await them first; call "
        "ctx.now()/uuid()/random(), waits, sends and child workflows before or after the branches"
    )
