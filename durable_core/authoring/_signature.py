"""Reading type hints of user functions once, lazily (so forward references can resolve late)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from durable_core.errors import ConfigurationError


class FunctionShape:
    """Parameters (after ``ctx``) and return annotation of a workflow/activity function."""

    def __init__(self, fn: Callable[..., Any], kind: str) -> None:
        self.fn = fn
        self.kind = kind
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise ConfigurationError(
                f"{kind} {fn.__qualname__} must take the WorkflowContext as its first positional parameter"
            )
        self.params = params[1:]
        self._hints: dict[str, Any] | None = None

    @property
    def hints(self) -> dict[str, Any]:
        """Resolved type hints (``Any`` for unannotated names)."""
        if self._hints is None:
            try:
                self._hints = typing.get_type_hints(self.fn)
            except Exception as exc:
                raise ConfigurationError(
                    f"cannot resolve type hints of {self.kind} {self.fn.__qualname__}: {exc}"
                ) from exc
        return self._hints

    def annotation(self, name: str) -> Any:
        """Annotation of a parameter (``Any`` if none)."""
        return self.hints.get(name, Any)

    @property
    def return_annotation(self) -> Any:
        """Return annotation (``Any`` if none)."""
        return self.hints.get("return", Any)
