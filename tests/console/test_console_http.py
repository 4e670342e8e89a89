"""The console without a browser: opening by URL, wrong paths, Host checks, the CLI's refusals, the
mount in the MCP server, the schema forms and the list filter."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from durable_core import (
    Catalog,
    DatabaseNotFoundError,
    EddaApp,
    InstanceStatus,
    WorkflowContext,
    activity,
    send_event_transactional,
    wait_event,
    workflow,
)
from edda_mcp import EddaMCPServer
from edda_mcp.cli import main
from edda_mcp.console import console_app
from edda_mcp.console.filters import FilterProblem, ListFilter
from edda_mcp.console.forms import FormProblem, fields_of, read_answer
from edda_mcp.console.payloads import Redactor, show
from tests.console.support import Approval, greet


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")  # type: ignore[arg-type]


async def test_a_console_opened_by_url_shows_stored_instances_without_workflow_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    async with EddaApp(url, workflows=[greet]) as app:
        iid = await app.start(greet, {"name": "ada"})
        await app.wait_result(iid, timeout=10)
    console = console_app(url, read_only=True)
    async with console.router.lifespan_context(console), _client(console) as client:
        overview = await client.get("/")
        page = await client.get(f"/instances/{iid}")
        workflows = await client.get("/workflows")
        evil = await client.get("/", headers={"host": "evil.example"})
    assert overview.status_code == 200 and "greet" in overview.text
    assert page.status_code == 200 and "hello ada" in page.text and 'id="actions"' not in page.text
    assert "not registered in this console" in workflows.text
    assert evil.status_code == 403  # DNS rebinding: only loopback Host headers without auth
    assert "content-security-policy" in page.headers


async def test_the_instance_page_of_a_queued_singleton_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    catalog = Catalog()

    @workflow(catalog=catalog)
    async def sync_once(ctx: WorkflowContext) -> None:
        await wait_event(ctx, "never", timeout_seconds=600)

    async with EddaApp(url, workflows=list(catalog)):
        bound = sync_once.with_options(singleton_key="acct-3", on_conflict="queue")
        holder, queued = await bound.start(), await bound.start()
    console = console_app(url, read_only=True)
    async with console.router.lifespan_context(console), _client(console) as client:
        page = await client.get(f"/instances/{queued}")
    assert page.status_code == 200
    assert 'data-status="queued"' in page.text and 'id="singleton-key">acct-3<' in page.text
    assert f"queued for singleton key &#39;acct-3&#39; behind {holder} (1st in line)" in page.text


async def test_a_wrong_database_path_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    console = console_app(f"sqlite:///{missing}")
    with pytest.raises(DatabaseNotFoundError, match=r"typo\.db"):
        async with console.router.lifespan_context(console):
            pass
    assert not missing.exists()


def test_ui_reports_a_wrong_database_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "typo.db"
    assert main(["ui", "--db", f"sqlite:///{missing}"], out=io.StringIO()) == 1
    assert "typo.db" in capsys.readouterr().err
    assert not missing.exists()


def test_ui_refuses_a_non_loopback_address_without_auth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--db", "sqlite:///x.db", "--host", "0.0.0.0"]) == 2
    assert "refusing to serve 0.0.0.0 without authentication" in capsys.readouterr().err
    assert main(["ui", "--db", "sqlite:///x.db", "--host", "0.0.0.0", "--token", "short"]) == 1
    assert "at least 16 characters" in capsys.readouterr().err


def test_ui_takes_the_database_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "from-env.db"
    monkeypatch.setenv("EDDA_MCP_DB_URL", f"sqlite:///{missing}")
    assert main(["ui"]) == 1  # read from the environment: the file does not exist
    assert not missing.exists()


async def test_the_mcp_server_mounts_the_console(tmp_path: Path) -> None:
    server = EddaMCPServer("shop", db_url=f"sqlite:///{tmp_path / 'shop.db'}")

    @server.durable_tool()
    async def hello(ctx: object, name: str) -> str:
        return f"hi {name}"

    http_app = server.asgi_app(console=True)
    async with server.running(), _client(http_app) as client:
        iid = await server.app.start("hello", {"name": "bo"})
        await server.app.wait_result(iid, timeout=10)
        workflows = await client.get("/console/workflows")
        page = await client.get(f"/console/instances/{iid}")
    assert workflows.status_code == 200 and "hello(name: str) -&gt; str" in workflows.text
    assert page.status_code == 200 and 'href="/console/static/console.css"' in page.text
    assert InstanceStatus.COMPLETED.value in page.text


def test_forms_follow_the_schema_and_read_typed_values() -> None:
    schema = Approval.model_json_schema()
    kinds = {f.name: f.kind for f in fields_of(schema)}
    assert kinds == {"approver": "text", "approved": "checkbox", "seats": "integer"}
    form = {"field.approver": "ada", "field.approved": "true", "field.seats": "2"}
    assert read_answer(schema, form) == {"approver": "ada", "approved": True, "seats": 2}
    assert read_answer(schema, {"field.approver": "ada", "field.seats": "2"})["approved"] is False
    with pytest.raises(FormProblem, match="seats: expected a whole number"):
        read_answer(schema, {**form, "field.seats": "two"})
    enum = {"type": "object", "properties": {"level": {"enum": ["low", "high"]}}}
    assert fields_of(enum)[0].options == ('"low"', '"high"')
    assert read_answer(enum, {"field.level": '"high"'}) == {"level": "high"}
    assert read_answer({}, {"field.": '{"free": 1}'}) == {"free": 1}


def test_the_list_filter_round_trips_through_the_url() -> None:
    wanted = ListFilter.parse(
        {"status": "failed", "workflow": "order", "since": "2026-01-02", "q": "customer=ada", "cursor": ""}
    )
    assert wanted.status is InstanceStatus.FAILED
    args = wanted.search_arguments(10)
    assert args["input_equals"] == {"customer": "ada"} and args["id_prefix"] is None
    assert ListFilter.parse(wanted.params()) == wanted
    assert ListFilter.parse({"q": "abc"}).search_arguments(5)["id_prefix"] == "abc"
    assert ListFilter.parse({"q": "n=3"}).search_arguments(5)["input_equals"] == {"n": 3}
    for bad in ({"status": "nope"}, {"since": "yesterday"}, {"cursor": "x"}):
        with pytest.raises(FilterProblem):
            ListFilter.parse(bad)


def test_payload_previews_pretty_print_summarize_bytes_truncate_and_redact() -> None:
    from durable_core.types import Payload, PayloadEncoding

    plain = Redactor(None)
    assert show(Payload(PayloadEncoding.JSON, {"a": 1}), "wf", plain).text == '{\n  "a": 1\n}'
    shown = show(Payload(PayloadEncoding.BYTES, blob=bytes(range(40))), "wf", plain)
    assert shown.text.startswith("40 bytes: 00 01 02") and shown.text.endswith("…")
    big = show(Payload(PayloadEncoding.JSON, "x" * 5000), "wf", plain)
    assert big.truncated and len(big.text) < 4100
    assert show(Payload(PayloadEncoding.CODEC_JSON, blob=b"123"), "wf", plain).kind == "encoded"

    def broken(value: object) -> object:
        raise RuntimeError("bug")

    hidden = show(Payload(PayloadEncoding.JSON, {"card": "4111"}), "pay", Redactor({"pay": broken}))
    assert hidden.kind == "redacted" and "4111" not in hidden.text
    untouched = Redactor(lambda wf, value: value)
    assert show(Payload(PayloadEncoding.JSON, [1]), "wf", untouched).kind == "json"


async def test_the_console_serves_the_stored_gauges_as_prometheus_metrics(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    async with EddaApp(url, workflows=[greet]) as app:
        for name in ("ada", "bob"):
            await app.wait_result(await app.start(greet, {"name": name}), timeout=10)
    console = console_app(url, read_only=True)
    async with console.router.lifespan_context(console), _client(console) as client:
        scraped = await client.get("/metrics")
        evil = await client.get("/metrics", headers={"host": "evil.example"})
    assert scraped.status_code == 200 and evil.status_code == 403  # behind the console's own guard
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    assert samples[("edda_instances", (("status", "completed"), ("workflow", "greet")))] == 2


@activity
async def publish_report(ctx: WorkflowContext) -> str:
    await send_event_transactional(ctx, "report.ready", "console-test", {"text": "line\n" * 400})
    return "published"


@workflow(catalog=Catalog())
async def reporter(ctx: WorkflowContext) -> str:
    return await publish_report(ctx)


async def test_a_truncated_outbox_preview_links_to_the_whole_event_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    async with EddaApp(url, workflows=[reporter]) as app:
        iid = await app.start(reporter, {})
        await app.wait_result(iid, timeout=10)
        [row] = await app.list_outbox_of(iid)
    console = console_app(url, read_only=True)
    async with console.router.lifespan_context(console), _client(console) as client:
        page = await client.get(f"/instances/{iid}")
        link = f"/instances/{iid}/payload/outbox-{row.event.event_id}"
        whole = await client.get(link)
        missing = await client.get(f"/instances/{iid}/payload/outbox-nope")
    assert link in page.text  # the preview of 2,000 characters is truncated, the link gives it all
    assert whole.status_code == 200 and whole.json() == {"text": "line\n" * 400}
    assert missing.status_code == 404
