"""Errors raised by Edda MCP, all deriving from :class:`EddaError`.

Suspension signals (waiting, cancellation, lease loss) are *not* here: they derive from
``BaseException`` and live in :mod:`durable_core.signals` so a user's ``except Exception:``
cannot swallow them.
"""

from __future__ import annotations


class EddaError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigurationError(EddaError):
    """The application was configured wrongly (bad URL, missing driver, bad option)."""


class InvalidDatabaseURLError(ConfigurationError):
    """A database URL could not be understood."""


class DriverNotInstalledError(ConfigurationError):
    """The database driver for a URL is not installed; the message names the extra to install."""


class StorageUnavailableError(EddaError):
    """The database could not be reached (down, refused, timed out). Safe to retry later."""


class StorageBusyError(StorageUnavailableError):
    """The database gave up on a lock (deadlock, lock wait timeout, serialization failure). Safe to retry."""


class StorageRefusedError(EddaError):
    """The database refused the data of a write and always will (value too long, invalid characters).

    Retrying the same write cannot help. An instance whose run hits it is parked as ``blocked`` with
    an engine-error message (see docs/retries.md); nothing runs again because of it.
    """


class MigrationError(EddaError):
    """The schema could not be migrated, or the database is newer than this code."""


class DatabaseNotFoundError(ConfigurationError, MigrationError):
    """The database to open without creating it (``open_existing=True``) is missing or holds no Edda schema.

    A :class:`MigrationError` too: an empty database opened with ``auto_migrate=False`` raised that before.
    """


class WorkflowNotFoundError(EddaError):
    """No workflow with the given name is registered with this app."""


class InstanceNotFoundError(EddaError):
    """No workflow instance with the given id exists."""


class InstanceConflictError(EddaError):
    """An instance id / idempotency key was reused with a different workflow or different input."""


class InputValidationError(EddaError, ValueError):
    """Arguments, ids, names or payloads did not validate; nothing was stored.

    A ``ValueError`` too, so callers validating input at the edge can catch either.
    """


class AppNotBoundError(EddaError):
    """A workflow was started without an app and no single app serves it."""


class TerminalError(EddaError):
    """Raise from an activity to fail it at once, without retries."""


class ApiMisuseError(TerminalError):
    """The durable API was used where it cannot work, e.g. ``ctx.now()`` inside an activity.

    An authoring mistake, not a passing failure: it is terminal at once (never retried) and its message
    says what to do instead.
    """


class ContextArgumentError(ApiMisuseError, TypeError):
    """An activity or durable operation was called without the ``WorkflowContext`` as first argument."""


class UnawaitedActivityError(ApiMisuseError):
    """A workflow called an activity without ``await``: the call never ran, so the run fails.

    Attributes:
        activity_name: the activity that was called.
        location: ``file:line`` of the call.
    """

    def __init__(self, message: str, activity_name: str = "", location: str = "") -> None:
        # All constructor arguments go into ``args`` so the error is rebuilt exactly on replay.
        super().__init__(message, activity_name, location)
        self.message = message
        self.activity_name = activity_name
        self.location = location

    def __str__(self) -> str:
        return self.message


class RetryExhaustedError(EddaError):
    """An activity failed on every attempt its retry policy allowed.

    The last underlying error is available as ``__cause__`` and :attr:`last_error_type`.
    """

    def __init__(self, message: str, last_error_type: str = "", attempts: int = 0) -> None:
        # All constructor arguments go into ``args`` so the error is rebuilt exactly on replay.
        super().__init__(message, last_error_type, attempts)
        self.message = message
        self.last_error_type = last_error_type
        self.attempts = attempts

    def __str__(self) -> str:
        return self.message


class ActivityTimeoutError(EddaError):
    """One attempt of an activity ran longer than its timeout."""


class WorkflowTimeoutError(EddaError):
    """A workflow ran past its deadline."""


class RecordedError(EddaError):
    """Fallback for a recorded error whose original type cannot be rebuilt on replay.

    Attributes:
        type_name: ``module.QualName`` of the original exception.
    """

    def __init__(self, message: str, type_name: str = "") -> None:
        super().__init__(message, type_name)
        self.message = message
        self.type_name = type_name

    def __str__(self) -> str:
        return self.message


class NonDeterminismError(EddaError):
    """Replayed workflow code asked for a different operation than the history recorded.

    Attributes:
        position: the history position where they differ (None when not known).
        expected: the operation the history recorded there (e.g. ``activity 'charge'``).
        actual: the operation the code asked for.
        patch_id: the ``ctx.patched`` change id involved, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        expected: str = "",
        actual: str = "",
        patch_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.position = position
        self.expected = expected
        self.actual = actual
        self.patch_id = patch_id


class WorkflowFailedError(EddaError):
    """Raised by ``result()`` when the instance failed; the cause carries the recorded error."""

    def __init__(self, message: str, type_name: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name


class WorkflowCancelledError(EddaError):
    """Raised by ``result()`` when the instance was cancelled."""


class WorkflowBlockedError(EddaError):
    """Raised by ``result()`` when the instance is blocked by a determinism failure."""


class NoUnknownOutcomeError(EddaError):
    """Raised by ``EddaApp.resolve_unknown()`` when the instance is not waiting for an outcome answer."""


class ResultTimeoutError(EddaError, TimeoutError):
    """``result(timeout=...)`` gave up before the instance finished (the instance keeps running)."""


class LeaseLostError(EddaError):
    """A storage write was refused because this worker no longer holds the instance's lease."""


class EventTimeoutError(EddaError, TimeoutError):
    """``wait_event`` / ``receive`` / ``wait_first`` reached its timeout before anything arrived."""


class ChildWorkflowError(EddaError):
    """A child workflow awaited by its parent failed, was cancelled or is blocked.

    Attributes:
        child_id: the child's instance id.
        status: the child's final status (``"failed"``, ``"cancelled"``).
        type_name: the recorded error type of a failed child ("" otherwise).
    """

    def __init__(self, message: str, child_id: str, status: str, type_name: str = "") -> None:
        super().__init__(message)
        self.child_id = child_id
        self.status = status
        self.type_name = type_name


class RunControlError(EddaError):
    """A run-control action (retry, fork, pause, unpause, terminate) does not apply to the instance as it is.

    Nothing was changed. Examples: retrying a compensated, cancelled or running instance; pausing a
    finished one; forking at a position its history does not have.

    Attributes:
        instance_id: the instance the action was for.
        action: ``"retry"``, ``"fork"``, ``"pause"``, ``"unpause"`` or ``"terminate"``.
        status: the instance's status when it was refused (its value, e.g. ``"cancelled"``).
    """

    def __init__(self, message: str, instance_id: str, action: str, status: str = "") -> None:
        super().__init__(message)
        self.instance_id = instance_id
        self.action = action
        self.status = status


class WorkflowTerminatedError(EddaError):
    """The error recorded on an instance that ``app.terminate`` ended (its message says who and why)."""
