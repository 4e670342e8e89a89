"""Validation of app options and caller-supplied ids, with errors that name what was wrong."""

from __future__ import annotations

from durable_core.errors import ConfigurationError, InstanceNotFoundError
from durable_core.validation import MAX_ID_LENGTH, check_identifier

MAX_INSTANCE_ID_LENGTH = MAX_ID_LENGTH


def validate_instance_id(instance_id: object) -> str:
    """Return the id if it is non-empty printable text of at most 255 characters, not ending with a space.

    Raises:
        InputValidationError: naming ``instance_id`` (a ``ValueError``).
    """
    return check_identifier("instance_id", instance_id)


def existing_instance_id(instance_id: object) -> str:
    """Return an id to look up; one that could never have been stored is simply not found.

    Lookups compare exactly on every database: without this, MySQL/MariaDB would find ``"a"`` for
    ``"a "`` (PAD SPACE collations), and PostgreSQL would refuse a NUL character with a server error.

    Raises:
        InstanceNotFoundError: the id cannot exist.
    """
    try:
        return check_identifier("instance_id", instance_id)
    except ValueError:
        raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}") from None


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
