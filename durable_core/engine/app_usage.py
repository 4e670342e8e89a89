"""LLM usage of an instance, for status pages and consoles (a mixin of :class:`~durable_core.EddaApp`).

Usage is summed from the recorded results of the instance's model-request activities (any activity
whose JSON result carries ``usage.input_tokens``/``usage.output_tokens``, as the mirascope and pydantic-ai
integrations record them), so it is exact after crashes and never counts a replayed call twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from durable_core.authoring.budget import Budget, LLMUsage, model_call_of, split_budget, total_usage
from durable_core.engine.services import EngineServices
from durable_core.types import HistoryEntry, InstanceRecord, StepKind, StepOutcome

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
        serializer = self._services.serializer
        _, budget = split_budget(serializer.decode(record.input))
        calls = []
        for entry in await self.get_history(instance_id):
            if entry.kind is StepKind.ACTIVITY and entry.outcome is StepOutcome.OK:
                call = model_call_of(serializer.decode(entry.result))
                if call is not None:
                    calls.append(call)
        return InstanceUsage(instance_id, total_usage(calls, budget), budget)
