"""EddaApp's grouped options (worker, outbox, ingress) and their flat keywords say the same thing."""

from __future__ import annotations

import pytest

from durable_core import (
    ConfigurationError,
    EddaApp,
    IngressOptions,
    OutboxMode,
    OutboxOptions,
    WorkerOptions,
)
from durable_core.engine.options import ingress_options, outbox_options, worker_options


def test_flat_keywords_fill_the_groups() -> None:
    assert worker_options(None, lease_ttl=5.0, run_workers=False) == WorkerOptions(
        lease_ttl=5.0, run_workers=False
    )
    assert outbox_options(None, target_url="http://127.0.0.1:1/e", mode="structured") == OutboxOptions(
        target_url="http://127.0.0.1:1/e", mode=OutboxMode.STRUCTURED
    )
    assert ingress_options(None, max_event_bytes=10) == IngressOptions(max_event_bytes=10)


def test_nothing_given_is_the_documented_defaults() -> None:
    assert worker_options(None) == WorkerOptions(30.0, 1.0, 200, 10.0, True)
    assert outbox_options(None).mode is OutboxMode.BINARY
    assert outbox_options(None).target_url is None


def test_a_group_is_used_as_given() -> None:
    group = WorkerOptions(poll_interval=0.25)
    assert worker_options(group) is group


def test_an_option_given_both_ways_names_both_spellings() -> None:
    with pytest.raises(ConfigurationError, match=r"lease_ttl.*worker="):
        EddaApp("sqlite:///:memory:", worker=WorkerOptions(lease_ttl=5.0), lease_ttl=6.0)
    with pytest.raises(ConfigurationError, match=r"target_url.*outbox="):
        outbox_options(OutboxOptions(), target_url="http://127.0.0.1:1/e")


def test_mode_strings_become_the_enum_and_bad_modes_are_named() -> None:
    assert OutboxOptions(mode="binary").mode is OutboxMode.BINARY  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'binary' or 'structured', got 'xml'"):
        OutboxOptions(mode="xml")  # type: ignore[arg-type]


def test_worker_options_are_validated_with_the_app_message() -> None:
    with pytest.raises(ConfigurationError, match="invalid EddaApp options: lease_ttl must be > 0"):
        WorkerOptions(lease_ttl=0)
    with pytest.raises(ConfigurationError, match="max_concurrent_runs must be >= 1"):
        EddaApp("sqlite:///:memory:", max_concurrent_runs=0)


def test_grouped_options_configure_the_app() -> None:
    app = EddaApp(
        "sqlite:///:memory:",
        outbox=OutboxOptions(target_url="http://127.0.0.1:9/events", mode=OutboxMode.STRUCTURED),
    )
    relayer = app.outbox_relayer
    assert relayer is not None and relayer.mode is OutboxMode.STRUCTURED
    assert EddaApp("sqlite:///:memory:", outbox_target_url=None).outbox_relayer is None


def test_the_mcp_server_forwards_typed_options_to_its_app() -> None:
    from edda_mcp import EddaMCPServer

    server = EddaMCPServer(
        "Options",
        db_url="sqlite:///:memory:",
        outbox=OutboxOptions(target_url="http://127.0.0.1:9/events", mode=OutboxMode.STRUCTURED),
        worker=WorkerOptions(poll_interval=0.5),
    )
    relayer = server.app.outbox_relayer
    assert relayer is not None and relayer.mode is OutboxMode.STRUCTURED
    with pytest.raises(ConfigurationError, match="poll_interval"):
        EddaMCPServer("Options", db_url="sqlite:///:memory:", worker=WorkerOptions(), poll_interval=0.5)
