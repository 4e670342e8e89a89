"""JSON patches between consecutive snapshots, so checkpoints grow with what a step changed.

An agent's state grows every turn (its chat memory holds every message so far). Recording the whole
``Context.to_dict()`` at every step would make each checkpoint as large as the conversation, and the
history quadratic in the number of turns. A checkpoint therefore records the difference to the previous
snapshot: unchanged keys are left out, a list that kept its prefix records only its new tail, and a
string that kept its prefix (a serialized value that grew at its end, like a message list in JSON)
records only where it changed. Replay reads the checkpoints in order anyway and applies the patches.

A patch is a small JSON object: ``{"v": value}`` replaces, ``{"d": {key: patch}, "x": [keys]}`` patches
or removes keys of a dict, ``{"l": n, "t": [...]}`` keeps the first ``n`` items of a list and appends
``t``, ``{"s": n, "t": "..."}`` keeps the first ``n`` characters of a string and appends ``t``.
"""

from __future__ import annotations

from typing import Any

#: strings shorter than this are replaced whole (a patch would not be smaller)
_MIN_STRING_PATCH = 64


def diff(old: Any, new: Any) -> dict[str, Any] | None:
    """The patch that turns ``old`` into ``new`` (None when they are equal)."""
    if type(old) is type(new) and old == new:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        changed = {
            key: patch for key, value in new.items() if (patch := _diff_key(old, key, value)) is not None
        }
        removed = [key for key in old if key not in new]
        return {"d": changed, "x": removed}
    if isinstance(old, list) and isinstance(new, list):
        kept = _common_prefix(old, new)
        return {"l": kept, "t": new[kept:]}
    if isinstance(old, str) and isinstance(new, str) and len(new) >= _MIN_STRING_PATCH:
        kept = _common_text(old, new)
        return {"s": kept, "t": new[kept:]}
    return {"v": new}


def _diff_key(old: dict[str, Any], key: str, value: Any) -> dict[str, Any] | None:
    if key not in old:
        return {"v": value}
    return diff(old[key], value)


def _common_text(old: str, new: str) -> int:
    """Length of the common prefix of two strings (a binary search over slice comparisons done in C)."""
    low, high = 0, min(len(old), len(new))
    while low < high:
        middle = (low + high + 1) // 2
        if old[:middle] == new[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_prefix(old: list[Any], new: list[Any]) -> int:
    kept = 0
    for before, after in zip(old, new, strict=False):
        if type(before) is not type(after) or before != after:
            break
        kept += 1
    return kept


def apply(old: Any, patch: dict[str, Any] | None) -> Any:
    """``old`` with ``patch`` applied (``old`` itself is not modified)."""
    if patch is None:
        return old
    if "v" in patch:
        return patch["v"]
    if "d" in patch:
        result = {key: value for key, value in old.items() if key not in patch["x"]}
        for key, change in patch["d"].items():
            result[key] = apply(result.get(key), change)
        return result
    if "l" in patch:
        return [*old[: patch["l"]], *patch["t"]]
    return old[: patch["s"]] + patch["t"]


__all__ = ["apply", "diff"]
