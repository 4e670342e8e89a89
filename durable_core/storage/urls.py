"""Database URL parsing: one accepted spelling per backend, clear errors for everything else.

Users write the URL they know (``postgres://...``, ``mysql://...``, ``sqlite:///app.db``); storage always
runs the async driver, so :func:`normalize_url` rewrites the URL to the ``+asyncpg`` / ``+aiomysql`` /
``+aiosqlite`` form and checks that the driver is importable.
"""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Final

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from durable_core.errors import DriverNotInstalledError, InvalidDatabaseURLError
from durable_core.types import Backend, SqliteSynchronous

__all__ = [
    "ACCEPTED_FORMS",
    "SYNCHRONOUS_PARAM",
    "backend_of",
    "is_memory_sqlite",
    "mask_url",
    "normalize_url",
    "resolve_sqlite_synchronous",
]

#: URL query parameter of a SQLite URL that sets ``PRAGMA synchronous`` (``full`` or ``normal``)
SYNCHRONOUS_PARAM: Final = "synchronous"

ACCEPTED_FORMS: Final[tuple[str, ...]] = (
    "sqlite:///path/to/file.db",
    "sqlite:///~/path/to/file.db",
    "sqlite+aiosqlite:///path/to/file.db",
    "sqlite:///:memory:",
    "sqlite:///path/to/file.db?synchronous=normal",
    "postgresql://user:password@host:5432/dbname",
    "postgres://user:password@host:5432/dbname",
    "postgresql+asyncpg://user:password@host:5432/dbname",
    "mysql://user:password@host:3306/dbname",
    "mysql+aiomysql://user:password@host:3306/dbname",
    "mariadb://user:password@host:3306/dbname",
)

# scheme (before "+") -> (backend, async driver name, accepted explicit drivers)
_SCHEMES: Final[dict[str, tuple[str, str, frozenset[str]]]] = {
    "sqlite": ("sqlite", "aiosqlite", frozenset({"", "aiosqlite"})),
    "postgresql": ("postgresql", "asyncpg", frozenset({"", "asyncpg"})),
    "postgres": ("postgresql", "asyncpg", frozenset({"", "asyncpg"})),
    "mysql": ("mysql", "aiomysql", frozenset({"", "aiomysql"})),
    "mariadb": ("mysql", "aiomysql", frozenset({"", "aiomysql"})),
}

_INSTALL_HINTS: Final[dict[str, str]] = {
    "sqlite": "pip install aiosqlite  (it is a core dependency of edda-mcp; reinstall edda-mcp)",
    "postgresql": "pip install 'edda-mcp[postgresql]'",
    "mysql": "pip install 'edda-mcp[mysql]'",
}

_PASSWORD_RE: Final = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_EMPTY_SYNCHRONOUS_RE: Final = re.compile(rf"[?&]{SYNCHRONOUS_PARAM}=?(&|$)")


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (works on unparsable strings too).

    Args:
        url: a database URL, valid or not.

    Returns:
        The URL, safe to print in logs and error messages.
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return _PASSWORD_RE.sub(r"\1***@", str(url))


def _invalid(url: str, why: str) -> InvalidDatabaseURLError:
    forms = "\n  ".join(ACCEPTED_FORMS)
    return InvalidDatabaseURLError(
        f"Invalid database URL {mask_url(url)!r}: {why}.\nAccepted forms:\n  {forms}"
    )


def _module_available(module: str) -> bool:
    """True when ``module`` can be imported (patched in tests to simulate a missing driver)."""
    return importlib.util.find_spec(module) is not None


def _parse(url: str) -> URL:
    if type(url) is not str or not url.strip():
        raise _invalid(str(url), "the URL is empty")
    try:
        return make_url(url.strip())
    except (ArgumentError, ValueError) as exc:
        raise _invalid(url, f"it could not be parsed ({exc})") from None


def backend_of(url: str) -> Backend:
    """The backend family of an accepted URL: SQLITE, POSTGRESQL or MYSQL.

    Args:
        url: any accepted URL (normalized or not).

    Raises:
        InvalidDatabaseURLError: the scheme is not one of the accepted forms.
    """
    parsed = _parse(url)
    scheme, _, driver = parsed.drivername.partition("+")
    spec = _SCHEMES.get(scheme.lower())
    if spec is None:
        raise _invalid(url, f"unknown database scheme {parsed.drivername!r}")
    backend, _async_driver, drivers = spec
    if driver.lower() not in drivers:
        raise _invalid(
            url, f"driver {driver!r} is not supported for {backend} (use the plain {scheme}:// form)"
        )
    return Backend(backend)


def is_memory_sqlite(url: str) -> bool:
    """True for an in-memory SQLite URL (``sqlite:///:memory:``).

    Args:
        url: an accepted URL.
    """
    parsed = _parse(url)
    if not parsed.drivername.lower().startswith("sqlite"):
        return False
    return parsed.database in (None, "", ":memory:")


def _sqlite_database(url: str, parsed: URL) -> str:
    """The SQLite database of ``parsed``: ``:memory:`` only when asked for, ``~`` expanded."""
    database = parsed.database
    if database is None or not database.strip():
        raise _invalid(
            url,
            "a SQLite URL needs a file path (sqlite:///app.db, sqlite:////abs/app.db, sqlite:///~/app.db); "
            "for a throwaway in-memory database write sqlite:///:memory: explicitly",
        )
    if database == ":memory:":
        return database
    return os.path.expanduser(database)


def normalize_url(url: str) -> str:
    """Rewrite an accepted database URL to the async-driver form SQLAlchemy runs.

    ``postgres://`` and ``postgresql://`` become ``postgresql+asyncpg://`` (``sslmode=`` is renamed to
    asyncpg's ``ssl=``); ``mysql://`` and ``mariadb://`` become ``mysql+aiomysql://`` with
    ``charset=utf8mb4``; ``sqlite:///path`` becomes ``sqlite+aiosqlite:///path`` with a leading ``~`` in
    the path expanded to the home directory (SQLite itself would take it as a directory named ``~``).
    A SQLite URL without a path (``sqlite://``, ``sqlite:///``) is refused rather than silently opening a
    throwaway in-memory database: write ``sqlite:///:memory:`` when that is what you want.
    A SQLite URL's ``?synchronous=full|normal`` is checked and removed (it is not a driver argument;
    the storage applies it, see :func:`resolve_sqlite_synchronous`); on other databases it is an error.

    Args:
        url: the URL the user configured.

    Returns:
        The normalized URL (passwords kept: it is meant for the engine, not for logs).

    Raises:
        InvalidDatabaseURLError: the URL is empty, unparsable or of an unknown scheme/driver, or has a
            bad ``?synchronous=``.
        DriverNotInstalledError: the async driver for the backend is not installed.
    """
    backend = backend_of(url)
    parsed = _parse(url)
    _scheme, async_driver, _drivers = _SCHEMES[parsed.drivername.partition("+")[0].lower()]
    if backend is Backend.SQLITE:
        if parsed.host or parsed.username or parsed.port:
            raise _invalid(url, "a SQLite URL has no host; use sqlite:///relative.db or sqlite:////abs.db")
        _synchronous_in_query(url, parsed)  # validated here, applied by the dialect (not a driver argument)
        parsed = parsed.set(
            drivername=f"sqlite+{async_driver}", database=_sqlite_database(url, parsed)
        ).difference_update_query([SYNCHRONOUS_PARAM])
    elif SYNCHRONOUS_PARAM in parsed.query:
        raise _invalid(
            url, f"?{SYNCHRONOUS_PARAM}= is a SQLite setting; {backend} sets durability on the server"
        )
    elif backend is Backend.POSTGRESQL:
        query = dict(parsed.query)
        if "sslmode" in query and "ssl" not in query:
            query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(drivername=f"postgresql+{async_driver}", query=query)
    else:
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(drivername=f"mysql+{async_driver}", query=query)
    if not _module_available(async_driver):
        raise DriverNotInstalledError(
            f"The {backend} database URL {mask_url(url)!r} needs the {async_driver!r} driver, which is "
            f"not installed. Install it with: {_INSTALL_HINTS[backend]}"
        )
    return parsed.render_as_string(hide_password=False)


def _synchronous_choice(value: object) -> SqliteSynchronous | None:
    """The setting ``value`` names (any letter case), or None."""
    if isinstance(value, str):
        try:
            return SqliteSynchronous(value.lower())
        except ValueError:
            return None
    return None


def _synchronous_in_query(url: str, parsed: URL) -> SqliteSynchronous | None:
    raw = parsed.query.get(SYNCHRONOUS_PARAM)
    if raw is None:
        if _EMPTY_SYNCHRONOUS_RE.search(url):  # URL parsing drops an empty value; it is still a mistake
            raise _invalid(url, f"{SYNCHRONOUS_PARAM} must be 'full' or 'normal', got ''")
        return None
    if not isinstance(raw, str):
        raise _invalid(url, f"?{SYNCHRONOUS_PARAM}= is given {len(raw)} times; give it once")
    choice = _synchronous_choice(raw)
    if choice is None:
        raise _invalid(url, f"{SYNCHRONOUS_PARAM} must be 'full' or 'normal', got {raw!r}")
    return choice


def resolve_sqlite_synchronous(url: str, option: SqliteSynchronous | str | None) -> SqliteSynchronous:
    """The ``PRAGMA synchronous`` setting for ``url``: the option, else the URL's ``?synchronous=``, else FULL.

    Args:
        url: the URL the user configured (before :func:`normalize_url`, which drops the parameter).
        option: the ``sqlite_synchronous`` option (``"full"``, ``"normal"`` or the enum), or None.

    Returns:
        The setting to apply (also returned, and unused, for PostgreSQL and MySQL when no option is set).

    Raises:
        ValueError: the option is not ``"full"``/``"normal"``, is given for a PostgreSQL or MySQL URL, or
            contradicts the URL's ``?synchronous=``.
        InvalidDatabaseURLError: the URL itself is not accepted (including a bad ``?synchronous=``).
    """
    backend = backend_of(url)
    in_url = _synchronous_in_query(url, _parse(url)) if backend is Backend.SQLITE else None
    if option is None:
        return in_url or SqliteSynchronous.FULL
    choice = _synchronous_choice(option)
    if choice is None:
        raise ValueError(f"sqlite_synchronous must be 'full' or 'normal', got {option!r}")
    if backend is not Backend.SQLITE:
        raise ValueError(
            f"sqlite_synchronous={choice.value!r} applies only to SQLite; the {backend} database sets its "
            "durability on the server"
        )
    if in_url is not None and in_url is not choice:
        raise ValueError(
            f"sqlite_synchronous={choice.value!r} contradicts ?{SYNCHRONOUS_PARAM}={in_url.value} in the "
            f"database URL {mask_url(url)!r}; set it in one place"
        )
    return choice
