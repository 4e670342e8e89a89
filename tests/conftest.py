"""Shared fixtures: ``backend`` / ``db_url`` parametrised over SQLite, PostgreSQL and MySQL, ``storage``, and
``catalog`` / ``make_app`` (initialized apps with a catalog private to the test).

Every test gets its own freshly created database (see :mod:`tests.backends`), so tests can run in
parallel under pytest-xdist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from durable_core import Catalog, EddaApp
from durable_core.storage.sql import SqlStorage
from tests.backends import (
    BACKENDS,
    ENV_VARS,
    backends_required,
    create_database,
    drop_database,
    missing_backend_message,
    server_url,
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test; server backends without an env URL skip (or fail when required)."""
    name: str = request.param
    if name != "sqlite" and server_url(name) is None:
        message = missing_backend_message(name)
        if backends_required():
            pytest.fail(f"{message} (EDDA_TEST_REQUIRE_BACKENDS=1 makes every backend mandatory)")
        pytest.skip(message)
    return name


@pytest.fixture
async def db_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """URL of a fresh, empty database on ``backend``, dropped after the test."""
    url = await create_database(backend, tmp_path)
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture
async def storage(db_url: str) -> AsyncIterator[SqlStorage]:
    """An initialized (migrated) :class:`SqlStorage` on ``db_url``, closed after the test."""
    store = SqlStorage(db_url)
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()


_SKIPPED: list[str] = []
#: fixtures (other than the parametrised ``backend``) that need a server backend
_BACKEND_FIXTURES = {"postgres_url": "postgresql"}
_NOT_RUN = pytest.StashKey[int]()
_NOT_RUN_KEY = "edda_backend_tests_not_run"


def _unconfigured_backends() -> tuple[str, ...]:
    """Server backends without a URL, when they may be left out (never with EDDA_TEST_REQUIRE_BACKENDS=1)."""
    if backends_required():
        return ()
    return tuple(name for name in BACKENDS if name != "sqlite" and server_url(name) is None)


def _backends_of(item: pytest.Item) -> set[str]:
    callspec = getattr(item, "callspec", None)
    needed = {callspec.params["backend"]} if callspec is not None and "backend" in callspec.params else set()
    fixtures = getattr(item, "fixturenames", ())
    return needed | {backend for name, backend in _BACKEND_FIXTURES.items() if name in fixtures}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the cases of unconfigured server backends (one summary line instead of a skip each)."""
    missing = set(_unconfigured_backends())
    if not missing:
        return
    kept = [item for item in items if not _backends_of(item) & missing]
    left_out = [item for item in items if _backends_of(item) & missing]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
    config.stash[_NOT_RUN] = len(left_out)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Under xdist, the controller learns from each worker how many cases it left out (all collect alike)."""
    left_out = int(getattr(node, "workeroutput", {}).get(_NOT_RUN_KEY, 0))
    node.config.stash[_NOT_RUN] = max(node.config.stash.get(_NOT_RUN, 0), left_out)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line about the backends whose tests did not run."""
    missing = _unconfigured_backends()
    left_out = config.stash.get(_NOT_RUN, 0)
    if not missing or not left_out:
        return
    variables = " and ".join(ENV_VARS[name] for name in missing)
    terminalreporter.write_line(
        f"{left_out} test case(s) for {', '.join(missing)} not run: set {variables} to run them "
        "(see tests/backends.py; CI sets EDDA_TEST_REQUIRE_BACKENDS=1, which makes every backend required)",
        yellow=True,
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember skipped tests (under xdist this runs in the controller for every worker's report)."""
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With EDDA_TEST_REQUIRE_BACKENDS=1 (CI), any skipped test fails the run."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: tell the controller what it left out
        workeroutput[_NOT_RUN_KEY] = session.config.stash.get(_NOT_RUN, 0)
    if backends_required() and _SKIPPED and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"EDDA_TEST_REQUIRE_BACKENDS=1: {len(_SKIPPED)} skipped test(s) count as failures: "
                + ", ".join(_SKIPPED[:10]),
                red=True,
            )


# -- engine apps on the parametrised backend (tests/core, tests/messaging, ...) ----------------------------
@pytest.fixture
def catalog() -> Catalog:
    """A catalog private to the test, so workflows defined in tests never leak between tests."""
    return Catalog()


@pytest.fixture
async def make_app(db_url: str, catalog: Catalog) -> AsyncIterator[Callable[..., Any]]:
    """Create initialized apps on the test database; all are shut down at the end."""
    apps: list[EddaApp] = []

    async def factory(**options: Any) -> EddaApp:
        options.setdefault("service_name", "test")
        options.setdefault("workflows", list(catalog))
        options.setdefault("lease_ttl", 5.0)
        options.setdefault("poll_interval", 0.2)
        app = EddaApp(db_url, **options)
        await app.initialize()
        apps.append(app)
        return app

    yield factory
    for app in reversed(apps):
        await app.shutdown()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for tests that need PostgreSQL itself (NOTIFY, several replicas)."""
    if server_url("postgresql") is None:
        message = missing_backend_message("postgresql")
        if backends_required():
            pytest.fail(message)
        pytest.skip(message)
    url = await create_database("postgresql")
    try:
        yield url
    finally:
        await drop_database(url)
