"""Prometheus metrics: values match what the test ran, parsed with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from prometheus_client.parser import text_string_to_metric_families

from durable_core import (
    Catalog,
    EddaApp,
    InstanceStatus,
    RetryPolicy,
    TerminalError,
    activity,
    send_event_transactional,
    sleep,
    wait_event,
    workflow,
)
from edda_mcp import EddaMCPServer
from edda_mcp.metrics import METRICS, metrics_app, metrics_for

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog()
RESOURCE = "http://127.0.0.1:8000/mcp"
FAST = RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=0)


@activity(retry_policy=FAST)
async def m_flaky(ctx: Any) -> str:
    if ctx.attempt == 1:
        raise OSError("first attempt fails")
    return "ok"


@activity
async def m_refuse(ctx: Any) -> None:
    raise TerminalError("no")


@activity
async def m_publish(ctx: Any) -> None:
    await send_event_transactional(ctx, "m.published", "tests", {"n": 1})


@workflow(catalog=CATALOG)
async def m_ok(ctx: Any) -> str:
    result = await m_flaky(ctx)
    await sleep(ctx, 0.05)
    return result


@workflow(catalog=CATALOG)
async def m_fail(ctx: Any) -> None:
    await m_refuse(ctx)


@workflow(catalog=CATALOG)
async def m_wait(ctx: Any) -> None:
    await wait_event(ctx, "m.never")


@workflow(catalog=CATALOG)
async def m_outbox(ctx: Any) -> None:
    await m_publish(ctx)


def _app(db_url: str, **options: Any) -> EddaApp:
    options.setdefault("poll_interval", 0.05)
    return EddaApp(db_url, workflows=list(CATALOG), shutdown_timeout=0, **options)


async def scrape(asgi: Any, path: str = "/metrics", **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        return await client.get(path, headers=headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, from the exposition text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def _until_status(app: EddaApp, iid: str, status: InstanceStatus) -> None:
    for _ in range(400):
        if (await app.get_instance(iid)).status is status:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{iid} never became {status}")


async def test_metrics_match_what_ran(tmp_path: Path) -> None:
    async with _app(f"sqlite:///{tmp_path / 'm.db'}", max_concurrent_runs=7) as app:
        endpoint = metrics_app(app, refresh_interval=0)
        ok = await m_ok.with_options(app=app).start()
        failed = await m_fail.with_options(app=app).start()
        waiting = await m_wait.with_options(app=app).start()
        assert await app.wait_result(ok, timeout=20) == "ok"
        with pytest.raises(Exception, match="no"):
            await app.wait_result(failed, timeout=20)
        await _until_status(app, waiting, InstanceStatus.WAITING)
        await app.cancel(waiting, reason="test")
        await _until_status(app, waiting, InstanceStatus.CANCELLED)
        response = await scrape(endpoint)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert value(found, "edda_workflows_started_total", workflow="m_ok") == 1
    assert value(found, "edda_workflows_finished_total", workflow="m_ok", status="completed") == 1
    assert value(found, "edda_workflows_finished_total", workflow="m_fail", status="failed") == 1
    assert value(found, "edda_workflows_finished_total", workflow="m_wait", status="cancelled") == 1
    flaky = {"workflow": "m_ok", "activity": "m_flaky", "kind": "activity"}
    assert value(found, "edda_step_attempts_count", **flaky) == 1
    assert value(found, "edda_step_attempts_sum", **flaky) == 2  # one retry
    assert value(found, "edda_step_duration_seconds_count", **flaky, outcome="ok") == 1
    refused = {"workflow": "m_fail", "activity": "m_refuse", "kind": "activity", "outcome": "error"}
    assert value(found, "edda_step_duration_seconds_count", **refused) == 1
    assert value(found, "edda_wakeup_latency_seconds_count", workflow="m_ok") == 1
    assert 0 <= value(found, "edda_wakeup_latency_seconds_sum", workflow="m_ok") < 5
    for workflow_name, status in (("m_ok", "completed"), ("m_fail", "failed"), ("m_wait", "cancelled")):
        assert value(found, "edda_instances", workflow=workflow_name, status=status) == 1
    assert value(found, "edda_outbox_pending") == 0
    assert value(found, "edda_dispatcher_capacity") == 7
    assert value(found, "edda_dispatcher_running") == 0
    for (name, _labels), _ in found.items():  # never an instance id in a label
        assert ok not in str(_labels) and waiting not in str(_labels), name


async def test_two_apps_do_not_share_counters_and_counts_are_cached(tmp_path: Path) -> None:
    async with (
        _app(f"sqlite:///{tmp_path / 'a.db'}") as first,
        _app(f"sqlite:///{tmp_path / 'b.db'}") as second,
    ):
        assert metrics_for(first) is metrics_for(first) and metrics_for(first) is not metrics_for(second)
        cached = metrics_for(second, refresh_interval=3600)
        iid = await m_ok.with_options(app=first).start()
        await first.wait_result(iid, timeout=20)
        in_first = samples((await scrape(metrics_app(first))).text)
        in_second = samples((await scrape(metrics_app(second))).text)
        assert value(in_first, "edda_workflows_started_total", workflow="m_ok") == 1
        assert value(in_second, "edda_workflows_started_total", workflow="m_ok") == 0
        # the second app's counts were read once and are reused until refresh_interval passes
        iid = await m_ok.with_options(app=second).start()
        await second.wait_result(iid, timeout=20)
        stale = samples((await scrape(metrics_app(second))).text)
        assert value(stale, "edda_instances", workflow="m_ok", status="completed") == 0
        await cached.refresh(force=True)
        fresh = samples(cached.exposition().decode())
        assert value(fresh, "edda_instances", workflow="m_ok", status="completed") == 1


async def test_lease_takeover_and_outbox_failures_are_counted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    async with _app(url, run_workers=False) as client:
        iid = await m_fail.with_options(app=client).start()
        claimed = await client.storage.claim_instance(iid, "dead:1:x", client.clock.now(), timedelta(0))
        assert claimed is not None  # held by a worker that died: its lease is already expired
    outbox = {"outbox_target_url": "http://127.0.0.1:9/", "outbox_poll_interval": 0.05}
    async with _app(url, outbox_retry_policy=RetryPolicy(max_attempts=1), **outbox) as app:
        metrics = metrics_for(app, refresh_interval=0)
        with pytest.raises(Exception, match="no"):
            await app.wait_result(iid, timeout=20)
        await app.wait_result(await m_outbox.with_options(app=app).start(), timeout=20)
        for _ in range(400):
            found = samples(metrics.exposition().decode())
            if value(found, "edda_outbox_delivery_failures_total", final="true"):
                break
            await asyncio.sleep(0.025)
    assert value(found, "edda_lease_takeovers_total", workflow="m_fail") == 1
    assert value(found, "edda_outbox_delivery_failures_total", final="true") == 1


class _Tokens:
    async def verify_token(self, token: str) -> AccessToken | None:
        if token != "good":
            return None
        return AccessToken(token=token, client_id="prometheus", scopes=["ops"], resource=RESOURCE)


async def test_asgi_app_serves_metrics_per_the_auth_rule(tmp_path: Path) -> None:
    async with _app(f"sqlite:///{tmp_path / 's.db'}") as engine:
        server = EddaMCPServer("metrics-test", app=engine)
        local = await scrape(server.asgi_app())
        assert local.status_code == 200 and "edda_dispatcher_capacity" in local.text
        exposed = server.asgi_app(host="0.0.0.0")
        assert (await scrape(exposed)).status_code == 404  # not served: no auth on a public bind
        opened = server.asgi_app(host="0.0.0.0", allow_unauthenticated_metrics=True)
        assert (await scrape(opened)).status_code == 200
        assert (await scrape(server.asgi_app(metrics_path=None))).status_code == 404
        rebinding = await scrape(server.asgi_app(), Host="evil.example")
        assert rebinding.status_code == 401
        resource = RESOURCE
        server.use_auth(
            _Tokens(),
            AuthSettings(
                issuer_url="https://auth.example.com",  # type: ignore[arg-type]
                resource_server_url=resource,  # type: ignore[arg-type]
                required_scopes=["ops"],
                validate_token_resource=True,
            ),
        )
        guarded = server.asgi_app(host="0.0.0.0", public_url=resource)
        assert (await scrape(guarded)).status_code == 401
        assert (await scrape(guarded, Authorization="Bearer bad")).status_code == 401
        assert (await scrape(guarded, Authorization="Bearer good")).status_code == 200


def test_every_metric_is_documented() -> None:
    page = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(edda_[a-z_]+)`", page))
    assert set(METRICS) <= documented, sorted(set(METRICS) - documented)
    for name, (_kind, labels, _meaning) in METRICS.items():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{name}`"))
        for label in labels:
            assert f"`{label}`" in row, (name, label)
