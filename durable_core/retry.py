"""Retry policy for activities: exponential backoff with jitter and durable attempt counting."""

from __future__ import annotations

import random
from dataclasses import dataclass

from durable_core.errors import ConfigurationError, TerminalError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an activity is retried. Defaults match the seed: 5 attempts, 1 s doubling to at most 60 s.

    Args:
        max_attempts: attempts including the first; ``None`` means unlimited (bounded by max_duration).
        initial_interval: delay before the second attempt, in seconds.
        backoff_coefficient: multiplier applied to the delay after each failure.
        max_interval: cap on a single delay, in seconds.
        max_duration: stop retrying once this many seconds passed since the first attempt (``None``: no cap).
        jitter: fraction of random spread applied to each delay (0.1 = +/-10 %), to avoid thundering herds.
        retryable_error_types: when set, only these exception types are retried.
        non_retryable_error_types: exception types that fail at once (``TerminalError`` always does).
    """

    max_attempts: int | None = 5
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    max_interval: float = 60.0
    max_duration: float | None = 300.0
    jitter: float = 0.1
    retryable_error_types: tuple[type[BaseException], ...] | None = None
    non_retryable_error_types: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts is not None and self.max_attempts < 1:
            problems.append(f"max_attempts must be >= 1 or None, got {self.max_attempts}")
        if self.initial_interval < 0:
            problems.append(f"initial_interval must be >= 0, got {self.initial_interval}")
        if self.backoff_coefficient < 1:
            problems.append(f"backoff_coefficient must be >= 1, got {self.backoff_coefficient}")
        if self.max_interval < self.initial_interval:
            problems.append("max_interval must be >= initial_interval")
        if self.max_duration is not None and self.max_duration <= 0:
            problems.append(f"max_duration must be > 0 or None, got {self.max_duration}")
        if not 0 <= self.jitter <= 1:
            problems.append(f"jitter must be within [0, 1], got {self.jitter}")
        if problems:
            raise ConfigurationError("invalid RetryPolicy: " + "; ".join(problems))

    def is_retryable(self, error: BaseException) -> bool:
        """Whether this error type may be retried at all."""
        if isinstance(error, (TerminalError, self.non_retryable_error_types)):
            return False
        if self.retryable_error_types is not None:
            return isinstance(error, self.retryable_error_types)
        return True

    def delay_before(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay in seconds before attempt number ``attempt + 1`` (``attempt`` is 1-based)."""
        base = min(self.max_interval, self.initial_interval * self.backoff_coefficient ** (attempt - 1))
        if self.jitter and base > 0:
            spread = base * self.jitter
            base += (rng or random).uniform(-spread, spread)
        return max(0.0, min(base, self.max_interval))

    def allows_another(self, attempts_made: int, elapsed: float, next_delay: float) -> bool:
        """Whether another attempt fits in the attempt and duration budgets."""
        if self.max_attempts is not None and attempts_made >= self.max_attempts:
            return False
        return self.max_duration is None or elapsed + next_delay <= self.max_duration


DEFAULT_RETRY_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)
