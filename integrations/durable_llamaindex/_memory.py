"""Agent memory in checkpoints: llama-index-core agents keep their chat memory in ``ctx.store["memory"]``.

LlamaIndex's own ``Context.to_dict()`` skips that key (a memory object holds a tokenizer, an LLM or a
database session), so a run resumed from a snapshot failed with ``Path 'memory' not found in state``.
A checkpoint therefore records the memory as what it holds: its class, its scalar settings (token limit,
session id, ...) and its whole chat log; a resume rebuilds it with the class's ``from_defaults`` and
``aset`` and puts it back into the store before the run continues. The chat log only grows between
checkpoints, so the snapshot patches (:mod:`durable_llamaindex._delta`) record just the new messages.

Nothing here imports llama-index-core: memories are recognised by the methods every ``BaseMemory`` has.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Final

from workflows import Context

from durable_llamaindex.errors import RecordedRunError

#: the store key llama-index-core agents use (and LlamaIndex's serializer skips)
MEMORY_KEY: Final = "memory"


def is_memory(value: object) -> bool:
    """Whether ``value`` is a llama-index-core memory (``BaseMemory``), told by its methods."""
    return all(callable(getattr(value, name, None)) for name in ("aget_all", "aset", "from_defaults"))


def _settings(memory: Any) -> dict[str, Any]:
    """The memory's JSON-scalar settings that its ``from_defaults`` accepts."""
    accepted = inspect.signature(type(memory).from_defaults).parameters
    settings = {name: getattr(memory, name, None) for name in getattr(type(memory), "model_fields", {})}
    return {
        name: value
        for name, value in settings.items()
        if name in accepted and isinstance(value, str | int | float | bool)
    }


async def capture(run_ctx: Context) -> dict[str, Any] | None:
    """What a checkpoint records of the run's memory (None when the run has none)."""
    memory = await run_ctx.store.get(MEMORY_KEY, default=None)
    if memory is None or not is_memory(memory):
        return None
    cls = type(memory)
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "settings": _settings(memory),
        "messages": [message.model_dump(mode="json") for message in await memory.aget_all()],
    }


async def restore(run_ctx: Context, recorded: dict[str, Any] | None) -> None:
    """Put the recorded memory back into a context rebuilt from a snapshot.

    Raises:
        RecordedRunError: the memory class cannot be imported or rebuilt any more.
    """
    if recorded is None:
        return
    module, _, name = recorded["class"].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
        memory = cls.from_defaults(**recorded["settings"])
        message_type = _message_type()
        await memory.aset([message_type.model_validate(item) for item in recorded["messages"]])
    except Exception as exc:
        raise RecordedRunError(
            f"cannot rebuild the recorded agent memory {recorded['class']}: {exc}"
        ) from exc
    await run_ctx.store.set(MEMORY_KEY, memory)


def _message_type() -> Any:
    # only reached when a memory was recorded, i.e. llama-index-core is installed
    return importlib.import_module("llama_index.core.llms").ChatMessage


__all__ = ["MEMORY_KEY", "capture", "is_memory", "restore"]
