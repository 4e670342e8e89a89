"""LLM budgets: a per-instance ceiling on tokens and cost, enforced by the LLM integrations.

A budget is given at start (``wf.with_options(budget=Budget(tokens=..., cost=...))``) and stored with the
instance, inside its recorded input under a reserved key, so it needs no schema change and survives
restarts. While the workflow body runs, :func:`current_budget` returns a :class:`BudgetLedger` for it.
Integrations call :meth:`BudgetLedger.check` before sending a model request and :meth:`BudgetLedger.charge`
with every model-request result they get back, live or replayed: the ledger is rebuilt from the recorded
results on every replay, so usage never counts twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from durable_core.errors import ConfigurationError, TerminalError
from durable_core.types import JsonValue

#: key of the budget inside a stored instance input (never a workflow parameter: it starts with ``__``)
BUDGET_KEY: Final = "__edda_budget__"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Price of one model, per token (any currency; the budget's ``cost`` uses the same one).

    Attributes:
        input: price of one input (prompt) token.
        output: price of one output (completion) token.
    """

    input: float
    output: float


@dataclass(frozen=True, slots=True)
class LLMUsage:
    """Tokens and cost used by model requests.

    Attributes:
        requests: how many model requests are counted.
        input_tokens: input tokens.
        output_tokens: output tokens.
        cost: priced cost (0 for models without a price).
        unpriced_models: models that had usage but no price.
    """

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    unpriced_models: tuple[str, ...] = ()

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Budget:
    """A ceiling on the tokens and/or cost of one workflow instance's model requests.

    Attributes:
        tokens: maximum input + output tokens (None: unlimited).
        cost: maximum cost, priced with ``prices`` (None: unlimited).
        prices: model name -> :class:`ModelPrice`; stored with the instance, so its cost does not change
            when the application's price table does. A model is matched by its exact name, then by the
            part after the last ``/`` or ``:`` (``openai:gpt-5`` matches ``gpt-5``).
        name: names the budget in :class:`BudgetExceededError` and in status output.
    """

    tokens: int | None = None
    cost: float | None = None
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    name: str = "budget"

    def __post_init__(self) -> None:
        if self.tokens is None and self.cost is None:
            raise ConfigurationError("Budget needs tokens=, cost= or both")
        if self.tokens is not None and self.tokens <= 0:
            raise ConfigurationError(f"Budget tokens must be > 0, got {self.tokens}")
        if self.cost is not None and self.cost <= 0:
            raise ConfigurationError(f"Budget cost must be > 0, got {self.cost}")
        if self.cost is not None and not self.prices:
            raise ConfigurationError("a cost budget needs prices= (model name -> ModelPrice)")

    def to_json(self) -> dict[str, JsonValue]:
        """The stored form."""
        return {
            "name": self.name,
            "tokens": self.tokens,
            "cost": self.cost,
            "prices": {model: [p.input, p.output] for model, p in self.prices.items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> Budget:
        """Rebuild the stored form."""
        prices = {
            model: ModelPrice(float(p[0]), float(p[1])) for model, p in (data.get("prices") or {}).items()
        }
        return cls(
            tokens=data.get("tokens"), cost=data.get("cost"), prices=prices, name=data.get("name", "budget")
        )

    def price_of(self, model: str | None) -> ModelPrice | None:
        """The price of ``model`` (exact name first, then the name after a provider prefix)."""
        if model is None:
            return None
        found = self.prices.get(model)
        if found is None:
            short = model.replace(":", "/").rsplit("/", 1)[-1]
            found = self.prices.get(short)
        return found


class BudgetExceededError(TerminalError):
    """The instance's LLM budget is spent: no further model request is sent (terminal, not retried).

    Attributes:
        budget: the name of the budget.
    """

    def __init__(self, message: str, budget: str = "budget") -> None:
        super().__init__(message, budget)
        self.budget = budget

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class ModelCall:
    """What one recorded model-request result says it used."""

    model: str | None
    input_tokens: int
    output_tokens: int


def model_call_of(result: Any) -> ModelCall | None:
    """Read a model-request activity result: a JSON object with ``usage.input_tokens/output_tokens``.

    The model is ``model_name`` (pydantic-ai) or ``model_id`` (mirascope). Anything else is not a model
    call (None).
    """
    if not isinstance(result, dict):
        return None
    usage = result.get("usage")
    if not isinstance(usage, dict) or "input_tokens" not in usage or "output_tokens" not in usage:
        return None
    model = result.get("model_name") or result.get("model_id")
    return ModelCall(
        str(model) if model else None,
        int(usage.get("input_tokens") or 0),
        int(usage.get("output_tokens") or 0),
    )


def total_usage(calls: Iterable[ModelCall], budget: Budget | None) -> LLMUsage:
    """Sum model calls, pricing them with the budget's prices (if any)."""
    used = LLMUsage()
    for call in calls:
        used = _add(used, call, budget)
    return used


def _add(used: LLMUsage, call: ModelCall, budget: Budget | None) -> LLMUsage:
    price = budget.price_of(call.model) if budget is not None else None
    unpriced = used.unpriced_models
    if price is None and call.model and budget is not None and budget.cost is not None:
        unpriced = tuple(sorted({*unpriced, call.model}))
    cost = 0.0 if price is None else call.input_tokens * price.input + call.output_tokens * price.output
    return LLMUsage(
        requests=used.requests + 1,
        input_tokens=used.input_tokens + call.input_tokens,
        output_tokens=used.output_tokens + call.output_tokens,
        cost=used.cost + cost,
        unpriced_models=unpriced,
    )


class BudgetLedger:
    """The running usage of one workflow execution against its budget (rebuilt on every replay)."""

    def __init__(self, budget: Budget | None) -> None:
        self.budget = budget
        self.used = LLMUsage()

    def check(self, what: str = "model request") -> None:
        """Raise :class:`BudgetExceededError` when the budget is already spent (before sending ``what``)."""
        problem = self._overrun()
        if problem is not None:
            assert self.budget is not None
            raise BudgetExceededError(
                f"{self.budget.name} spent ({problem}); {what} not sent", self.budget.name
            )

    def charge(self, result: Any) -> None:
        """Count a model-request result (live or replayed); raise if it took usage past the budget."""
        call = model_call_of(result)
        if call is None:
            return
        self.used = _add(self.used, call, self.budget)
        problem = self._overrun(strict=True)
        if problem is not None:
            assert self.budget is not None
            raise BudgetExceededError(
                f"{self.budget.name} exceeded by a model request ({problem})", self.budget.name
            )

    def _overrun(self, *, strict: bool = False) -> str | None:
        budget, used = self.budget, self.used
        if budget is None:
            return None
        if budget.tokens is not None and (
            used.total_tokens > budget.tokens or (not strict and used.total_tokens >= budget.tokens)
        ):
            return f"{used.total_tokens} of {budget.tokens} tokens"
        if budget.cost is not None and (used.cost > budget.cost or (not strict and used.cost >= budget.cost)):
            return f"cost {used.cost:g} of {budget.cost:g}"
        return None


_LEDGER: ContextVar[BudgetLedger | None] = ContextVar("edda_budget_ledger", default=None)


def current_budget() -> BudgetLedger | None:
    """The budget ledger of the workflow body running in this task (None outside a workflow body)."""
    return _LEDGER.get()


@contextmanager
def budget_scope(ledger: BudgetLedger) -> Any:
    """Make ``ledger`` what :func:`current_budget` returns inside the block (the engine's runner uses it)."""
    token = _LEDGER.set(ledger)
    try:
        yield ledger
    finally:
        _LEDGER.reset(token)


def split_budget(input_data: Any) -> tuple[Any, Budget | None]:
    """Separate a stored instance input into the workflow's arguments and its budget."""
    if isinstance(input_data, dict) and BUDGET_KEY in input_data:
        rest = {k: v for k, v in input_data.items() if k != BUDGET_KEY}
        return rest, Budget.from_json(input_data[BUDGET_KEY])
    return input_data, None


def with_budget(arguments: dict[str, Any], budget: Budget | None) -> dict[str, Any]:
    """The stored input: the encoded arguments plus the budget (unchanged without one)."""
    return arguments if budget is None else {**arguments, BUDGET_KEY: budget.to_json()}
