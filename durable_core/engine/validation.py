"""Validation of app options and caller-supplied ids, with errors that name what was wrong."""

from __future__ import annotations

from durable_core.errors import ConfigurationError, InputValidationError

MAX_INSTANCE_ID_LENGTH = 255


def validate_instance_id(instance_id: object) -> str:
    """Return the id if it is a non-empty printable string of at most 255 characters."""
    if not isinstance(instance_id, str):
        raise InputValidationError(f"instance_id must be a string, got {type(instance_id).__name__}")
    if not instance_id or len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        raise InputValidationError(
            f"instance_id must be 1..{MAX_INSTANCE_ID_LENGTH} characters, got {len(instance_id)}"
        )
    if not instance_id.isprintable():
        raise InputValidationError(f"instance_id must be printable text, got {instance_id!r}")
    return instance_id


def validate_options(
    lease_ttl: float,
    poll_interval: float,
    max_concurrent_runs: int,
    shutdown_timeout: float,
    liveness_ttl: float | None = None,
) -> None:
    """Reject nonsensical engine options up front."""
    problems = []
    if lease_ttl <= 0:
        problems.append(f"lease_ttl must be > 0 seconds, got {lease_ttl}")
    if liveness_ttl is not None and not liveness_ttl > 0:
        problems.append(f"liveness_ttl must be > 0 seconds (or None: off), got {liveness_ttl}")
    if poll_interval <= 0:
        problems.append(f"poll_interval must be > 0 seconds, got {poll_interval}")
    if max_concurrent_runs < 1:
        problems.append(f"max_concurrent_runs must be >= 1, got {max_concurrent_runs}")
    if shutdown_timeout < 0:
        problems.append(f"shutdown_timeout must be >= 0 seconds, got {shutdown_timeout}")
    if problems:
        raise ConfigurationError("invalid EddaApp options: " + "; ".join(problems))
