"""A catalog maps workflow names to definitions so any process can resume an instance by name.

``@workflow`` adds definitions to :data:`DEFAULT_CATALOG`; it holds only code (name -> function),
never runtime state, so apps sharing it still don't see each other's instances, storage or tasks.
An app may instead be given its own explicit list of workflows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from durable_core.errors import ConfigurationError, WorkflowNotFoundError

if TYPE_CHECKING:
    from durable_core.authoring.workflow import Workflow


class Catalog:
    """Workflow definitions by name."""

    def __init__(self, workflows: Iterable[Workflow[Any, Any]] = ()) -> None:
        self._by_name: dict[str, Workflow[Any, Any]] = {}
        for wf in workflows:
            self.add(wf)

    def add(self, wf: Workflow[Any, Any]) -> None:
        """Register a definition; re-registering the same function (module reload) replaces it.

        Raises:
            ConfigurationError: another function already uses this name.
        """
        existing = self._by_name.get(wf.name)
        if existing is not None and existing is not wf and _origin(existing) != _origin(wf):
            raise ConfigurationError(
                f"two different workflows are named {wf.name!r} ({_origin(existing)} and {_origin(wf)}); "
                "pass name=... to one of them"
            )
        self._by_name[wf.name] = wf

    def get(self, name: str) -> Workflow[Any, Any]:
        """The definition named ``name``.

        Raises:
            WorkflowNotFoundError: no such workflow is registered.
        """
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise WorkflowNotFoundError(
                f"no workflow named {name!r} is registered (known: {known})"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Workflow[Any, Any]]:
        return iter(list(self._by_name.values()))

    def names(self) -> frozenset[str]:
        """All registered names."""
        return frozenset(self._by_name)


def _origin(wf: Workflow[Any, Any]) -> str:
    return f"{wf.fn.__module__}.{wf.fn.__qualname__}"


DEFAULT_CATALOG = Catalog()
