"""``WorkflowContext``: the first argument of every workflow, activity and compensation."""

from __future__ import annotations

import inspect
import random as _random
import uuid as _uuid
from collections.abc import Awaitable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, cast

from durable_core.authoring.at_most_once import step_key
from durable_core.authoring.branches import BranchGroup, branch_group, run_parallel
from durable_core.errors import ApiMisuseError
from durable_core.signals import RecurSignal
from durable_core.types import StepKind
from durable_core.validation import MAX_ID_LENGTH, check_text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from durable_core.authoring.runtime import ActivityScope, RunMemo, WorkflowRuntime
    from durable_core.authoring.streams import OutputStream


class WorkflowContext:
    """Handle to the running instance.

    In a workflow body, ``now()``, ``uuid()`` and ``random()`` are durable: each takes the next history
    position and returns the recorded value on replay. Inside an activity, ``session`` is a SQLAlchemy
    ``AsyncSession`` whose writes commit atomically with the activity's history entry.
    """

    __slots__ = ("_runtime", "_scope")

    def __init__(self, runtime: WorkflowRuntime, scope: ActivityScope | None = None) -> None:
        self._runtime = runtime
        self._scope = scope

    @property
    def instance_id(self) -> str:
        """Id of the workflow instance."""
        return self._runtime.instance_id

    @property
    def workflow_name(self) -> str:
        """Registered name of the workflow."""
        return self._runtime.workflow_name

    @property
    def is_replaying(self) -> bool:
        """True while the workflow re-executes already recorded positions."""
        return self._runtime.is_replaying

    @property
    def in_activity(self) -> bool:
        """True when this context was handed to an activity or compensation."""
        return self._scope is not None

    @property
    def activity_id(self) -> str | None:
        """``name:position`` of the running activity (None in a workflow body)."""
        return self._scope.activity_id if self._scope is not None else None

    @property
    def attempt(self) -> int:
        """1-based attempt number of the running activity (0 in a workflow body)."""
        return self._scope.attempt if self._scope is not None else 0

    @property
    def run_memo(self) -> RunMemo:
        """Values cached for this run of the workflow body, by key (see :class:`RunMemo`).

        Empty at every execution of the body (each resume replays it from the top) and after
        ``ctx.recur``. Replay-safe only for values derived from recorded results: a library caches what
        a durable step returned so that later calls in the same run skip the step (``DurableMCPClient``
        lists a server's tools once per run this way).

        Raises:
            ApiMisuseError: when used inside an activity (an activity's attempts are not replayed).
        """
        if self._scope is not None:
            raise ApiMisuseError(
                "ctx.run_memo caches values for a run of the workflow body: use it in the workflow, not "
                "in an activity (an activity runs again on each attempt and nothing in it is replayed)"
            )
        return self._runtime.run_memo

    @property
    def session(self) -> AsyncSession:
        """The activity's transactional ``AsyncSession`` (only inside activities and compensations).

        Raises:
            ApiMisuseError: when used in a workflow body, where database writes would not be replay-safe.
        """
        if self._scope is None:
            raise ApiMisuseError(
                "ctx.session is only available inside an activity or compensation: move the database "
                "writes into an activity, where they commit together with its recorded result"
            )
        return self._scope.session

    def stream(self, name: str) -> OutputStream:
        """The durable output stream ``name`` of this instance, to write from inside an activity.

        Chunks are stored within a short window and before the step's result is recorded; each carries
        the step and attempt that wrote it (see ``docs/streams.md``). Read with ``app.read_stream`` /
        ``app.follow_stream``.

        Raises:
            ApiMisuseError: when used in a workflow body (a body re-runs on replay; write in an activity).
        """
        if self._scope is None:
            raise ApiMisuseError(
                f"ctx.stream({name!r}) is only available inside an activity: a workflow body re-runs on "
                "replay, so write the chunks from the activity that produces them"
            )
        return self._scope.stream(name)

    def step_idempotency_key(self) -> str:
        """A key for this step, the same on every attempt and after a crash, for outside idempotency keys.

        Derived from the instance id and the step's history position (a SHA-256, 32 hex digits), so it
        differs between steps and instances. Pass it to payment, mail or order APIs that accept an
        idempotency key so that a repeated attempt is recognised by the other side.

        Raises:
            ApiMisuseError: when called in a workflow body (there is no step to name).
        """
        if self._scope is None:
            raise ApiMisuseError(
                "ctx.step_idempotency_key() names the running step: call it inside an activity, "
                "its reconcile function or a compensation"
            )
        return step_key(self._runtime.instance_id, self._scope.position)

    def now(self) -> datetime:
        """Durable current time (aware UTC): recorded once, the same on every replay."""
        self._require_workflow_body("now")
        runtime = self._runtime
        raw = runtime.side_effect(StepKind.NOW, lambda: runtime.clock_now().isoformat())
        return datetime.fromisoformat(cast(str, raw))

    def uuid(self) -> _uuid.UUID:
        """Durable random UUID4: recorded once, the same on every replay."""
        self._require_workflow_body("uuid")
        return _uuid.UUID(cast(str, self._runtime.side_effect(StepKind.UUID, lambda: str(_uuid.uuid4()))))

    def random(self) -> float:
        """Durable random float in [0, 1): recorded once, the same on every replay."""
        self._require_workflow_body("random")
        return cast(float, self._runtime.side_effect(StepKind.RANDOM, _random.random))

    def patched(self, change_id: str) -> bool:
        """Whether this run takes the new code path of a change (Temporal's ``patched``).

        True for runs that reach this point on code that has the patch: the first time, a marker named
        ``change_id`` is recorded in the history. False for runs whose history was recorded before the
        patch existed (another entry is recorded here, or the run had already gone past this point when
        it last waited): they keep the old path, and nothing is recorded or consumed, so their history
        positions stay as they were. The answer is decided once per run and change id (the same inside
        loops and ``asyncio.gather`` branches); a run started by ``ctx.recur`` decides afresh.

        Example::

            if ctx.patched("send-receipt"):
                await send_receipt(ctx, order_id)

        Raises:
            ApiMisuseError: called inside an activity.
            InputValidationError: ``change_id`` is empty or longer than 255 characters.
        """
        self._require_patch_scope("patched")
        return self._runtime.patched(check_text("change_id", change_id, limit=MAX_ID_LENGTH))

    def deprecate_patch(self, change_id: str) -> None:
        """Retire ``ctx.patched(change_id)`` once no open run takes its old path.

        The code no longer branches. Runs whose history holds the marker consume it; runs without it
        pass too. New runs record the marker (as deprecated), like Temporal, so workers still running
        the ``ctx.patched`` version replay them on the new path; code without either call later steps
        over deprecated markers. See docs/versioning.md for the whole recipe.

        Raises:
            ApiMisuseError: called inside an activity.
            InputValidationError: ``change_id`` is empty or longer than 255 characters.
        """
        self._require_patch_scope("deprecate_patch")
        self._runtime.patched(check_text("change_id", change_id, limit=MAX_ID_LENGTH), deprecated=True)

    def _require_patch_scope(self, what: str) -> None:
        if self._scope is not None:
            raise ApiMisuseError(
                f"ctx.{what}() chooses the code path of a workflow run: call it in the workflow body, not in "
                "an activity (an activity's result is recorded once; branch in the workflow instead)"
            )

    async def parallel(self, *branches: Awaitable[Any]) -> list[Any]:
        """Run ``branches`` concurrently; each may run several activities; results in argument order.

        Unlike ``asyncio.gather``, a branch may await several activities one after another: their history
        positions are taken in the order they actually run, and a replay hands each activity its own
        recorded outcome whatever order the branches finish in (see docs/parallel.md). The first branch to
        fail cancels the others and its error is raised once they have stopped.

        Only activities (and plain Python) may run in branches: ``ctx.now()``/``uuid()``/``random()``,
        timers, waits, sends and child workflows go before or after ``ctx.parallel``; it cannot be nested.

        Example::

            async def ship(ctx, order):
                label = await make_label(ctx, order)
                return await book_courier(ctx, label)

            receipts = await ctx.parallel(ship(ctx, a), ship(ctx, b))

        Raises:
            ApiMisuseError: called inside an activity, nested, or another durable operation ran in a branch.
            TypeError: a branch is not awaitable.
        """
        self._require_workflow_body("parallel")
        for index, branch in enumerate(branches):
            candidate: object = branch  # typed callers pass awaitables; untyped ones may not
            if not inspect.isawaitable(candidate):
                for other in branches:
                    if inspect.iscoroutine(other):
                        other.close()  # they will never run: no "never awaited" warning
                raise TypeError(f"ctx.parallel() branch {index} is not awaitable: {type(branch).__name__}")
        return await run_parallel(self._runtime, branches)

    def branch_group(self) -> AbstractContextManager[BranchGroup]:
        """A group of concurrent branches for code that starts its tasks itself (integrations).

        Run each task's code inside ``with group.branch():``; while the group is open the code that opened
        it only awaits the branches. ``ctx.parallel`` is this plus the tasks.

        Raises:
            ApiMisuseError: called inside an activity, or a group is already open.
        """
        self._require_workflow_body("branch_group")
        return branch_group(self._runtime)

    async def recur(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Start over as a fresh run of the same instance with these arguments (seed: ``ctx.recur``).

        The current run's history is archived and cleared in one transaction together with storing the
        new input, so a workflow that loops forever through ``recur`` keeps a bounded history. The
        instance id, channel subscriptions and messages already in its mailbox are kept; compensations
        registered in the finished run are dropped.

        Raises:
            ApiMisuseError: called inside an activity.
        """
        self._require_workflow_body("recur")
        raise RecurSignal(args, dict(kwargs))

    def _require_workflow_body(self, what: str) -> None:
        if self._scope is not None:
            raise ApiMisuseError(
                f"ctx.{what}() is for workflow bodies, not activities: an activity's result is recorded once, "
                "so inside it use ordinary Python (datetime.now(UTC), uuid.uuid4(), random.random()); "
                "to start over, return from the activity and call ctx.recur() in the workflow"
            )

    def _for_activity(self, scope: ActivityScope) -> WorkflowContext:
        return WorkflowContext(self._runtime, scope)


#: The workflow context of the workflow body running in this task (set by the engine's runner), so that
#: seed-style ``send_event(...)`` inside a workflow knows where to journal. A ContextVar is per task, not
#: shared state: two apps (or two instances) in one process never see each other's value.
CURRENT_CONTEXT: ContextVar[WorkflowContext | None] = ContextVar("edda_current_context", default=None)


def current_context() -> WorkflowContext | None:
    """The :class:`WorkflowContext` of the workflow body or activity running in this task, or None.

    Integrations use it to find the running instance without threading ``ctx`` through a library's own
    call chain (a pydantic-ai ``Agent.run`` inside a workflow, for example). In a workflow body the
    context has ``in_activity`` False; inside an activity (or compensation) it is the activity's context,
    with ``in_activity`` True. Outside both it is None.

    Returns:
        The current context, or None outside workflows and activities.
    """
    return CURRENT_CONTEXT.get()
