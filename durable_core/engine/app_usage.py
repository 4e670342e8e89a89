"""LLM usage of an instance, for status pages and consoles (a mixin of :class:`~durable_core.EddaApp`).

Usage is summed from the recorded results of the instance's model-request activities (any activity
whose JSON result carries ``usage.input_tokens``/``usage.output_tokens``, as the mirascope and pydantic-ai
integrations record them), so it is exact after crashes and never counts a replayed call twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from durable_core.authoring.budget import Budget, LLMUsage, model_call_of, split_budget, total_usage
from durable_core.engine.progress import current_step, progress_of
from durable_core.engine.services import EngineServices
from durable_core.storage.base import Storage
from durable_core.types import HistoryEntry, InstanceProgress, InstanceRecord, StepKind, StepOutcome

if TYPE_CHECKING:
    from durable_core.engine.dispatcher import Dispatcher

__all__ = ["InstanceUsage", "UsageAPI"]


@dataclass(frozen=True, slots=True)
class InstanceUsage:
    """What an instance's model requests used, against its budget.

    Attributes:
        instance_id: the instance.
        usage: requests, tokens and priced cost (prices from the budget; 0 cost without one).
        budget: the instance's budget, or None.
    """

    instance_id: str
    usage: LLMUsage
    budget: Budget | None

    @property
    def tokens_left(self) -> int | None:
        """Tokens the budget still allows (None: no token budget)."""
        if self.budget is None or self.budget.tokens is None:
            return None
        return max(0, self.budget.tokens - self.usage.total_tokens)

    @property
    def cost_left(self) -> float | None:
        """Cost the budget still allows (None: no cost budget)."""
        if self.budget is None or self.budget.cost is None:
            return None
        return max(0.0, self.budget.cost - self.usage.cost)


class UsageAPI:
    """``app.get_usage(instance_id)``."""

    _services: EngineServices
    _storage: Storage
    _dispatcher: Dispatcher

    async def get_instance(self, instance_id: str) -> InstanceRecord:
        """The instance row (implemented by ``EddaApp``)."""
        raise NotImplementedError

    async def get_history(self, instance_id: str) -> list[HistoryEntry]:
        """The instance's recorded steps (implemented by ``EddaApp``)."""
        raise NotImplementedError

    async def get_usage(self, instance_id: str) -> InstanceUsage:
        """Tokens and cost used by the instance's model requests so far, and its budget.

        Raises:
            InstanceNotFoundError: no such instance.
        """
        record = await self.get_instance(instance_id)
        return self.usage_from(record, await self.get_history(instance_id))

    def usage_from(self, record: InstanceRecord, history: Sequence[HistoryEntry]) -> InstanceUsage:
        """The usage of ``record``'s instance, from its history already read (no database access).

        For pages and tools that read the history anyway: ``get_usage`` without a second read.
        """
        serializer = self._services.serializer
        _, budget = split_budget(serializer.decode(record.input))
        calls = []
        for entry in history:
            if entry.kind is StepKind.ACTIVITY and entry.outcome is StepOutcome.OK:
                call = model_call_of(serializer.decode(entry.result))
                if call is not None:
                    calls.append(call)
        return InstanceUsage(record.instance_id, total_usage(calls, budget), budget)

    async def get_progress_and_usage(self, record: InstanceRecord) -> tuple[InstanceProgress, InstanceUsage]:
        """``get_progress`` and ``get_usage`` of ``record``'s instance from one read of its history.

        A status poll that shows both reads the history once (``get_progress`` alone counts the steps
        with one query and ``get_usage`` alone reads the instance and the history again).
        """
        history = await self._storage.load_history(record.instance_id)
        running = self._dispatcher.running_steps(record.instance_id)
        progress = dataclasses.replace(
            progress_of(history), current_step=await current_step(self._storage, record.instance_id, running)
        )
        return progress, self.usage_from(record, history)
