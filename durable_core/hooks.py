"""Observability hooks: implement any subset of :class:`WorkflowHooks` (structural typing).

Hook failures are logged and never affect the workflow.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger("durable_core.hooks")


class WorkflowHooks(Protocol):
    """Lifecycle callbacks; method names and arguments match the seed (Edda). All are optional."""

    async def on_workflow_start(
        self, instance_id: str, workflow_name: str, input_data: dict[str, Any]
    ) -> None:
        """A workflow instance starts its first run."""

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        """A workflow instance completed."""

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        """A workflow instance failed (after its compensations ran)."""

    async def on_workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
        """A workflow instance was cancelled (after its compensations ran)."""

    async def on_activity_start(
        self, instance_id: str, activity_id: str, activity_name: str, is_replaying: bool
    ) -> None:
        """An activity attempt is about to run (live) or is being replayed."""

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """An activity returned; ``cache_hit`` is True when the result came from history."""

    async def on_activity_failed(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception
    ) -> None:
        """An activity failed for good (terminal error or retries exhausted)."""

    async def on_activity_retry(
        self,
        instance_id: str,
        activity_id: str,
        activity_name: str,
        error: Exception,
        attempt: int,
        delay: float,
    ) -> None:
        """An activity attempt failed and will be retried after ``delay`` seconds."""


class HooksBase(WorkflowHooks):
    """Base class for hooks that implement only some callbacks (the seed's ``HooksBase``).

    Every callback is a no-op until a subclass overrides it::

        class LogFailures(HooksBase):
            async def on_workflow_failed(self, instance_id, workflow_name, error):
                print(f"{workflow_name} {instance_id} failed: {error}")
    """

    async def on_workflow_start(
        self, instance_id: str, workflow_name: str, input_data: dict[str, Any]
    ) -> None:
        """A workflow instance starts its first run (no-op)."""

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        """A workflow instance completed (no-op)."""

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        """A workflow instance failed (no-op)."""

    async def on_workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
        """A workflow instance was cancelled (no-op)."""

    async def on_activity_start(
        self, instance_id: str, activity_id: str, activity_name: str, is_replaying: bool
    ) -> None:
        """An activity attempt is about to run or is being replayed (no-op)."""

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """An activity returned (no-op)."""

    async def on_activity_failed(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception
    ) -> None:
        """An activity failed for good (no-op)."""

    async def on_activity_retry(
        self,
        instance_id: str,
        activity_id: str,
        activity_name: str,
        error: Exception,
        attempt: int,
        delay: float,
    ) -> None:
        """An activity attempt failed and will be retried (no-op)."""


class HookCaller:
    """Calls whichever hook methods an object defines, isolating the engine from hook errors.

    One typed method per hook of :class:`WorkflowHooks`, so a misspelt hook or a wrong argument is a
    type error in the engine rather than a silently skipped call.
    """

    def __init__(self, hooks: object | None) -> None:
        self._hooks = hooks

    async def workflow_start(self, instance_id: str, workflow_name: str, input_data: dict[str, Any]) -> None:
        """Call ``on_workflow_start``."""
        await self._call("on_workflow_start", instance_id, workflow_name, input_data)

    async def workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        """Call ``on_workflow_complete``."""
        await self._call("on_workflow_complete", instance_id, workflow_name, result)

    async def workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        """Call ``on_workflow_failed``."""
        await self._call("on_workflow_failed", instance_id, workflow_name, error)

    async def workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
        """Call ``on_workflow_cancelled``."""
        await self._call("on_workflow_cancelled", instance_id, workflow_name)

    async def activity_start(
        self, instance_id: str, activity_id: str, activity_name: str, is_replaying: bool
    ) -> None:
        """Call ``on_activity_start``."""
        await self._call("on_activity_start", instance_id, activity_id, activity_name, is_replaying)

    async def activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """Call ``on_activity_complete``."""
        await self._call("on_activity_complete", instance_id, activity_id, activity_name, result, cache_hit)

    async def activity_failed(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception
    ) -> None:
        """Call ``on_activity_failed``."""
        await self._call("on_activity_failed", instance_id, activity_id, activity_name, error)

    async def activity_retry(
        self,
        instance_id: str,
        activity_id: str,
        activity_name: str,
        error: Exception,
        attempt: int,
        delay: float,
    ) -> None:
        """Call ``on_activity_retry``."""
        await self._call("on_activity_retry", instance_id, activity_id, activity_name, error, attempt, delay)

    async def _call(self, method: str, *args: Any) -> None:
        """Invoke ``hooks.<method>(*args)`` if it exists; log and swallow its exceptions."""
        if self._hooks is None:
            return
        fn = getattr(self._hooks, method, None)
        if fn is None:
            return
        try:
            await fn(*args)
        except Exception:
            logger.exception("hook %s raised; ignoring", method)
