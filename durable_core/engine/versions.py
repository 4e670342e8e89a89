"""The code version of an app: ``EddaApp(version=...)``, or a hash of the workflow code it serves.

The default version is ``code:`` and the first 12 hex digits of a SHA-256 over, for each workflow the
app serves in name order, its registered name and the source text of its function
(``inspect.getsource``; the function's bytecode when the source cannot be read). Activities, helpers
and imported modules are not part of it, and editing a comment in a workflow body changes it: give the
app an explicit ``version=`` when your release process has one.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any, Final

from durable_core.authoring.catalog import Catalog
from durable_core.authoring.workflow import Workflow
from durable_core.errors import ConfigurationError
from durable_core.validation import MAX_ID_LENGTH, check_text

__all__ = ["CodeVersion", "code_hash"]

#: prefix of the default (hashed) version
HASH_PREFIX: Final = "code:"
HASH_DIGITS: Final = 12


def _code_text(wf: Workflow[Any, Any]) -> str:
    try:
        return inspect.getsource(wf.fn)
    except (OSError, TypeError):  # defined in a REPL or by exec(): no source file to read
        code = wf.fn.__code__
        return f"{wf.fn.__module__}.{wf.fn.__qualname__}:{code.co_code.hex()}"


def code_hash(catalog: Catalog) -> str:
    """The default version of an app serving ``catalog`` (see the module docstring)."""
    digest = hashlib.sha256()
    for wf in sorted(catalog, key=lambda w: w.name):
        digest.update(wf.name.encode() + b"\0" + _code_text(wf).encode() + b"\0")
    return HASH_PREFIX + digest.hexdigest()[:HASH_DIGITS]


class CodeVersion:
    """The version recorded on instances this app starts and runs.

    Args:
        given: the ``version=`` option (None: hash the workflow code, recomputed when workflows are added).
        catalog: the workflows the app serves.

    Raises:
        ConfigurationError: ``given`` is empty, too long or not storable text.
    """

    def __init__(self, given: str | None, catalog: Catalog) -> None:
        if given is not None:
            try:
                check_text("version", given, limit=MAX_ID_LENGTH)
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
        self._given = given
        self._catalog = catalog
        self._cached: tuple[int, str] | None = None

    def get(self) -> str:
        """The version (the hash is computed once per set of served workflows; the catalog only grows)."""
        if self._given is not None:
            return self._given
        size = len(self._catalog.names())
        if self._cached is None or self._cached[0] != size:
            self._cached = (size, code_hash(self._catalog))
        return self._cached[1]
