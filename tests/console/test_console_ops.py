"""The queues page, the schedules page with its actions, and the stream view, over HTTP on every backend."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from durable_core import EddaApp, InstanceStatus
from durable_core.flow import FlowOptions
from edda_mcp.console import console_app, ops
from edda_mcp.console.security import CSRF_COOKIE
from tests.console.support import LAST_WORDS, NARRATED, QUEUES, RATE_LIMITS, greet, queued_job, storyteller

CSRF = "c" * 43


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://127.0.0.1",
        cookies={CSRF_COOKIE: CSRF},
    )


def _cells(html: str, css_class: str) -> list[str]:
    return re.findall(rf'class="[^"]*\b{css_class}\b[^"]*"[^>]*>([^<]*)<', html)


async def test_the_queues_page_shows_limits_backlog_per_key_and_rate_limits(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "KEY_LIMIT", 2)
    async with EddaApp(
        db_url, workflows=[queued_job], queues=QUEUES, rate_limits=RATE_LIMITS, run_workers=False
    ) as app:
        for i, key in enumerate(["acme", "acme", "acme", "globex", "globex", "initech"]):
            await app.start(queued_job, {"gate": f"q{i}"}, options=FlowOptions(queue_key=key))
        console = console_app(app)
        async with _client(console) as client:
            page = await client.get("/queues")
            link = re.search(r'href="([^"]+)">acme</a>', page.text)
            assert link is not None
            acme = await client.get(link.group(1).replace("&amp;", "&"))
            whole = await client.get("/instances?queue=console-q")
            keyless = await client.get("/instances?queue_key=acme")
    assert acme.status_code == 200 and 'id="queue-filter"' in acme.text
    assert len(re.findall(r"<tr data-id=", acme.text)) == 3  # the key's runs only
    assert len(re.findall(r"<tr data-id=", whole.text)) == 6
    assert keyless.status_code == 400 and "queue_key: give the queue too" in keyless.text
    assert page.status_code == 200
    html = page.text
    assert 'data-queue="console-q"' in html
    assert _cells(html, "concurrency") == ["1"] and _cells(html, "per-key") == ["1"]
    assert "100 per 60.00 s (burst 10)" in html  # the queue's rate limit
    assert re.search(r'data-queued="6"', html) and re.search(r'data-running="0"', html)
    keys = re.findall(r'<tr class="queue-key" data-key="([^"]*)">', html)
    assert keys == ["acme", "globex"]  # the largest backlogs first, capped ...
    assert "1 more key(s)" in html  # ... and the rest counted
    assert "Oldest queued" in html and "none</dd>" not in html.split("Oldest queued")[1][:60]
    assert 'data-name="console-api"' in html and "10 per 1.00 s" in html and "free now" in html
    assert 'href="/queues"' in html and 'href="/schedules"' in html  # navigation


async def test_the_queues_page_of_a_database_without_queues(db_url: str) -> None:
    async with (
        EddaApp(db_url, workflows=[greet], run_workers=False) as app,
        _client(console_app(app)) as client,
    ):
        page = await client.get("/queues")
    assert page.status_code == 200 and "No queues stored in this database" in page.text


async def test_schedule_actions_pause_resume_trigger_are_checked_and_journaled(db_url: str) -> None:
    async with EddaApp(db_url, workflows=[greet], run_workers=False) as app:
        await app.schedules.create("hourly-hello", greet, every=timedelta(hours=1), args={"name": "tick"})
        await app.schedules.create(
            "nightly", greet, cron="0 3 * * *", timezone="Europe/Berlin", args={"name": "n"}
        )
        console, read_only = console_app(app), console_app(app, read_only=True)
        async with _client(console) as client, _client(read_only) as ro:
            page = await client.get("/schedules")
            assert page.status_code == 200
            assert 'data-schedule="hourly-hello"' in page.text and "every 60.0 min" in page.text
            assert "cron <code>0 3 * * *</code> (Europe/Berlin)" in page.text
            assert "overlap skip · catch-up latest" in page.text
            assert page.text.count('class="action schedule-action"') == 4  # pause + trigger per schedule

            url = "/schedules/hourly-hello/actions/pause"
            no_csrf = await client.post(url, data={"reason": "maintenance"})
            assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
            no_reason = await client.post(url, data={"csrf": CSRF, "reason": "  "})
            assert no_reason.status_code == 400 and "reason: say why" in no_reason.text
            missing = await client.post("/schedules/nope/actions/pause", data={"csrf": CSRF, "reason": "x"})
            assert missing.status_code == 404
            unknown = await client.post(
                "/schedules/hourly-hello/actions/delete", data={"csrf": CSRF, "reason": "x"}
            )
            assert unknown.status_code == 404
            refused = await ro.post(url, data={"csrf": CSRF, "reason": "maintenance"})
            assert refused.status_code == 403 and "read-only" in refused.text
            ro_page = await ro.get("/schedules")
            assert "schedule-action" not in ro_page.text
            assert not (await app.schedules.get("hourly-hello")).paused  # nothing refused changed anything

            done = await client.post(url, data={"csrf": CSRF, "reason": "maintenance"})
            assert done.status_code == 303 and "/schedules?done=" in done.headers["location"]
            assert (await app.schedules.get("hourly-hello")).paused
            again = await client.post(url, data={"csrf": CSRF, "reason": "twice"})
            assert again.status_code == 400 and "does not apply to a" in again.text

            trigger = await client.post(
                "/schedules/hourly-hello/actions/trigger", data={"csrf": CSRF, "reason": "run it now"}
            )
            assert trigger.status_code == 303
            resume = await client.post(
                "/schedules/hourly-hello/actions/resume", data={"csrf": CSRF, "reason": "done"}
            )
            assert resume.status_code == 303
            after = await client.get("/schedules")
        journal = await app.list_operator_actions(ops.schedule_journal_key("hourly-hello"))
        assert [(a.action, a.reason) for a in journal] == [
            ("schedule-pause", "maintenance"),
            ("schedule-trigger", "run it now"),
            ("schedule-resume", "done"),
        ]
        started = journal[1].detail
        assert isinstance(started, dict)
        record = await app.get_instance(str(started["instance_id"]))
        assert record.workflow_name == "greet"
        assert not (await app.schedules.get("hourly-hello")).paused
    shown = re.findall(r'<li class="journal-row">[^<]* · (schedule-\w+) by', after.text)
    assert shown == ["schedule-resume", "schedule-trigger", "schedule-pause"]  # newest first
    assert "maintenance" in after.text
    assert f'href="/instances/{record.instance_id.replace(":", "%3A").replace("@", "%40")}"' in after.text


async def test_the_stream_view_shows_chunks_escaped_paged_and_marked(db_url: str) -> None:
    NARRATED.pop("http", None)
    async with EddaApp(db_url, workflows=[storyteller], poll_interval=0.05) as app:
        iid = await app.start(storyteller, {"topic": "http"}, instance_id="story-http")
        assert await app.wait_result(iid, timeout=30) == 2
        assert (await app.get_instance(iid)).status is InstanceStatus.COMPLETED
        async with _client(console_app(app)) as client:
            detail = await client.get(f"/instances/{iid}")
            view = await client.get(f"/instances/{iid}/stream", params={"name": "story"})
            paged = await client.get(f"/instances/{iid}/stream", params={"name": "story", "after": "3"})
            bad_cursor = await client.get(f"/instances/{iid}/stream", params={"name": "story", "after": "x"})
            huge = await client.get(f"/instances/{iid}/stream", params={"name": "story", "after": "9" * 30})
            bad_name = await client.get(f"/instances/{iid}/stream")
            missing = await client.get("/instances/nope/stream", params={"name": "story"})
    assert detail.status_code == 200
    row = re.search(r'<tr class="stream-row" data-stream="story">.*?</tr>', detail.text, re.S)
    assert row is not None
    assert 'href="/instances/story-http/stream?name=story"' in row.group(0)
    assert ">4<" in row.group(0) and "closed" in row.group(0) and "1 from partial attempts" in row.group(0)

    assert view.status_code == 200
    statuses = re.findall(r'data-seq="(\d+)" data-status="(\w+)"', view.text)
    assert statuses == [("1", "abandoned"), ("2", "committed"), ("3", "committed"), ("4", "committed")]
    assert view.text.count("partial attempt</span>") == 1
    assert "attempt 1 of &lt;b&gt;http&lt;/b&gt;" in view.text  # untrusted text is escaped
    assert "&lt;script&gt;" in view.text and LAST_WORDS not in view.text
    assert 'id="stream-closed"' in view.text
    assert re.findall(r'data-seq="(\d+)"', paged.text) == ["4"] and 'id="first-page"' in paged.text
    assert bad_cursor.status_code == 400 and "after: expected a cursor" in bad_cursor.text
    assert huge.status_code == 400
    assert bad_name.status_code == 400 and "stream name" in bad_name.text
    assert missing.status_code == 404
