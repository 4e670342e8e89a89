"""The console in a real Chromium (Debian's ``/usr/bin/chromium`` driven by Playwright).

One browser and one served console per module. Every page is checked for console errors and for
requests that would leave 127.0.0.1 (each request is intercepted; anything else is recorded and
aborted). Screenshots go to ``tests/artifacts/console/``; with ``EDDA_CONSOLE_DOCS_SCREENSHOTS=1`` the
ones docs/console.md shows are copied into ``docs/img/``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from durable_core import InstanceStatus
from durable_core.flow import FlowOptions
from edda_mcp.console.ops import schedule_journal_key
from tests.console.support import (
    DRIFT,
    GATES,
    LAST_WORDS,
    NARRATED,
    TOKEN,
    ServedConsole,
    approve,
    drifting,
    greet,
    order,
    queued_job,
    storyteller,
    wait_go,
)

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
DOCS_IMG = ROOT / "docs" / "img"
DOCS_SHOTS = {"overview.png", "instances.png", "instance.png", "answer.png"}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run)")


@dataclass
class Watch:
    """What a page did that it must not: console errors and requests off 127.0.0.1."""

    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedConsole]:
    db = tmp_path_factory.mktemp("console") / "console.db"
    redact = {"greet": lambda value: "[hidden by the redaction hook]"}
    with ServedConsole(f"sqlite:///{db}", redact=lambda wf, v: redact[wf](v) if wf in redact else v) as sc:
        yield sc


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, served: ServedConsole) -> Iterator[tuple[Page, Watch]]:
    watch = Watch()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()

    def route(r: Route) -> None:
        if r.request.url.startswith(served.url + "/"):
            r.continue_()
        else:
            watch.external.append(r.request.url)
            r.abort()

    tab.route("**/*", route)
    tab.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: watch.errors.append(str(e)))
    yield tab, watch
    context.close()
    assert watch.external == [], "requests left 127.0.0.1"
    assert [e for e in watch.errors if "status of 40" not in e] == [], "console errors"


def shot(tab: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / name), full_page=True)
    if os.environ.get("EDDA_CONSOLE_DOCS_SCREENSHOTS") == "1" and name in DOCS_SHOTS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, DOCS_IMG / f"console-{name}")


def start(served: ServedConsole, wf: Any, args: dict[str, Any], *statuses: InstanceStatus) -> str:
    assert served.app is not None
    iid: str = served.call(served.app.start(wf, args))
    served.call(served.settle(iid, *statuses))
    return iid


def block(served: ServedConsole) -> str:
    """An instance BLOCKED by non-determinism (its code changed between two runs)."""
    assert served.app is not None
    DRIFT["on"] = False
    iid = start(served, drifting, {}, InstanceStatus.WAITING)
    DRIFT["on"] = True
    served.call(served.app.send_event("continue", "test", None, instance_id=iid))
    served.call(served.settle(iid, InstanceStatus.BLOCKED))
    return iid


def live_ready(tab: Page) -> None:
    expect(tab.locator("body[data-live-state='open']")).to_have_count(1, timeout=10_000)


def test_overview_shows_counts_throughput_failures_blocked_and_waiting(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    failed = start(served, order, {"item": "lamp", "amount": 40}, InstanceStatus.FAILED)
    waiting = start(served, approve, {"request": "two seats"}, InstanceStatus.WAITING)
    blocked = block(served)
    start(served, greet, {"name": "ada"}, InstanceStatus.COMPLETED)
    tab.goto(served.url + "/")
    expect(tab.locator("#failures")).to_contain_text(failed)
    expect(tab.locator("#failures")).to_contain_text("TerminalError: card declined for 40")
    expect(tab.locator("#awaiting")).to_contain_text(waiting)
    expect(tab.locator("#blocked")).to_contain_text(blocked)
    expect(tab.locator("#blocked")).to_contain_text("step_b")  # the non-determinism message
    assert int(tab.locator("#counts td[data-status='completed']").inner_text()) >= 2  # greet + child ship
    assert tab.locator("svg.chart rect.finished[height]").count() == 60
    shot(tab, "overview.png")


def test_instance_list_filters_and_pages_with_the_filter_in_the_url(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    ids = {start(served, greet, {"name": f"user{i}"}, InstanceStatus.COMPLETED) for i in range(7)}
    tab.goto(served.url + "/instances")
    tab.fill("#filter input[name='workflow']", "greet")
    tab.click("#filter button[type='submit']")
    tab.wait_for_url(re.compile(r"workflow=greet"))
    first = set(tab.locator("table.list tbody tr[data-id]").evaluate_all("rs => rs.map(r => r.dataset.id)"))
    assert len(first) == 5
    shot(tab, "instances.png")
    tab.click("#next-page")
    tab.wait_for_url(re.compile(r"cursor="))
    second = set(tab.locator("table.list tbody tr[data-id]").evaluate_all("rs => rs.map(r => r.dataset.id)"))
    assert second and not first & second
    assert "workflow=greet" in tab.url
    assert ids <= _all_pages(tab, served.url + "/instances?workflow=greet&status=completed")
    one = sorted(ids)[0]
    tab.goto(served.url + f"/instances?q={one[:10]}")
    expect(tab.locator("table.list tbody tr[data-id]")).to_have_count(1)
    tab.goto(served.url + "/instances?q=name=%22user3%22")
    expect(tab.locator("table.list tbody tr[data-id]")).to_have_count(1)
    tab.goto(served.url + "/instances?status=nonsense")
    expect(tab.locator("#problem")).to_contain_text("status: expected one of")


def _all_pages(tab: Page, url: str) -> set[str]:
    seen: set[str] = set()
    tab.goto(url)
    while True:
        seen |= set(
            tab.locator("table.list tbody tr[data-id]").evaluate_all("rs => rs.map(r => r.dataset.id)")
        )
        if tab.locator("#next-page").count() == 0:
            return seen
        tab.click("#next-page")
        tab.wait_for_load_state()


def test_detail_timeline_shows_retries_timer_child_and_compensation(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    iid = start(served, order, {"item": "desk", "amount": 99}, InstanceStatus.FAILED)
    tab.goto(served.url + f"/instances/{iid}")
    kinds = tab.locator("#timeline tr.step").evaluate_all("rs => rs.map(r => r.dataset.kind)")
    assert kinds == ["activity", "timer", "child", "wait", "activity", "compensation"]
    reserve = tab.locator("#timeline tr.step").first
    expect(reserve.locator("td.attempts")).to_contain_text("3")
    expect(reserve.locator(".attempt-errors li")).to_have_count(2)
    delays = reserve.locator(".retry-delay").all_inner_texts()  # QUICK: 0.01 s, then 0.02 s, no jitter
    assert delays == ["then waited 0.01 s", "then waited 0.02 s"]
    expect(tab.locator("#error")).to_contain_text("card declined for 99")
    expect(tab.locator("details pre.traceback")).to_contain_text("Traceback")
    expect(tab.locator("#lease")).to_contain_text("epoch")
    shot(tab, "instance.png")
    tab.click("#timeline a.child-link")
    expect(tab.locator("#parent-link")).to_have_text(iid)
    expect(tab.locator("#status")).to_have_attribute("data-status", "completed")


def test_page_updates_live_when_a_waiting_instance_completes(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    assert served.app is not None
    iid = start(served, wait_go, {"label": "live"}, InstanceStatus.WAITING)
    tab.goto(served.url + f"/instances/{iid}")
    live_ready(tab)
    tab.evaluate("window.notReloaded = true")
    served.call(served.app.send_event("go", "test", {"n": 1}, instance_id=iid))
    expect(tab.locator("#status")).to_have_attribute("data-status", "completed", timeout=10_000)
    assert tab.evaluate("window.notReloaded") is True  # swapped in place, not reloaded
    assert int(tab.evaluate("document.body.dataset.liveUpdates")) >= 1


def test_answer_form_is_generated_from_the_schema_and_validated(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    iid = start(served, approve, {"request": "three seats"}, InstanceStatus.WAITING)
    tab.goto(served.url + f"/instances/{iid}")
    form = tab.locator("form.answer[data-event-type='approval']")
    form.locator("input[name='field.approver']").fill("grace")
    form.locator("input[name='field.approved']").check()
    form.locator("input[name='field.seats']").fill("many")
    form.locator("input[name='reason']").fill("approved in the weekly review")
    shot(tab, "answer.png")
    form.locator("button[type='submit']").click()
    expect(tab.locator("#problem")).to_contain_text("seats: expected a whole number")
    form = tab.locator("form.answer[data-event-type='approval']")
    form.locator("input[name='field.seats']").fill("3")
    form.locator("button[type='submit']").click()
    expect(tab.locator("#done")).to_contain_text("answer sent")
    served.call(served.settle(iid, InstanceStatus.COMPLETED))
    tab.reload()
    expect(tab.locator("#status")).to_have_attribute("data-status", "completed")
    expect(tab.locator("#journal tr.journal-row")).to_contain_text(["answer"])
    expect(tab.locator("#journal")).to_contain_text("approved in the weekly review")


def test_send_event_cancel_and_resume_are_journaled(served: ServedConsole, page: tuple[Page, Watch]) -> None:
    tab, _ = page
    waiting = start(served, wait_go, {"label": "event"}, InstanceStatus.WAITING)
    tab.goto(served.url + f"/instances/{waiting}")
    tab.fill("#send-event-form input[name='event_type']", "go")
    tab.fill("#send-event-form textarea[name='data']", '{"from": "console"}')
    tab.fill("#send-event-form input[name='reason']", "unstick the demo")
    tab.click("#send-event-form button")
    expect(tab.locator("#done")).to_contain_text("event 'go' sent")
    served.call(served.settle(waiting, InstanceStatus.COMPLETED))

    doomed = start(served, wait_go, {"label": "cancel"}, InstanceStatus.WAITING)
    tab.goto(served.url + f"/instances/{doomed}")
    tab.fill("#cancel-form input[name='reason']", "customer withdrew")
    tab.click("#cancel-form button")
    expect(tab.locator("#done")).to_contain_text("cancel: requested")
    served.call(served.settle(doomed, InstanceStatus.CANCELLED))
    tab.reload()
    expect(tab.locator("#cancelled")).to_contain_text("customer withdrew")
    expect(tab.locator("#cancelled")).to_contain_text("local:")

    blocked = block(served)
    tab.goto(served.url + f"/instances/{blocked}")
    expect(tab.locator("#blocked-reason")).to_contain_text("step_b")
    DRIFT["on"] = False  # the code fix
    tab.fill("#resume-form input[name='reason']", "deployed the fix")
    tab.click("#resume-form button")
    expect(tab.locator("#done")).to_contain_text("resumed")
    served.call(served.settle(blocked, InstanceStatus.WAITING, InstanceStatus.COMPLETED))
    tab.reload()
    expect(tab.locator("#journal")).to_contain_text("deployed the fix")


def test_posts_without_the_csrf_token_or_from_another_origin_are_refused(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    assert served.app is not None
    iid = start(served, wait_go, {"label": "csrf"}, InstanceStatus.WAITING)
    tab.goto(served.url + f"/instances/{iid}")  # sets the CSRF cookie
    token = tab.locator("#cancel-form input[name='csrf']").input_value()
    url = served.url + f"/instances/{iid}/actions/cancel"
    missing = tab.request.post(url, form={"reason": "forged"})
    wrong = tab.request.post(url, form={"reason": "forged", "csrf": "x" * 43})
    foreign = tab.request.post(
        url, form={"reason": "forged", "csrf": token}, headers={"origin": "http://evil.example"}
    )
    assert (missing.status, wrong.status, foreign.status) == (403, 403, 403)
    assert "CSRF" in missing.text()
    record = served.call(served.app.get_instance(iid))
    assert record.status is InstanceStatus.WAITING and not record.cancel_requested
    ok = tab.request.post(url, form={"reason": "real", "csrf": token}, max_redirects=0)
    assert ok.status == 303


def test_token_protected_console_asks_for_the_token(served: ServedConsole, page: tuple[Page, Watch]) -> None:
    tab, _ = page
    assert tab.request.get(served.url + "/auth/instances").status == 401
    tab.goto(served.url + "/auth/workflows")
    tab.wait_for_url(re.compile(r"/auth/login"))
    tab.fill("#login-form input[name='token']", "not-the-token-at-all")
    tab.click("#login-form button")
    expect(tab.locator("#problem")).to_have_text("invalid token")
    tab.fill("#login-form input[name='token']", TOKEN)
    tab.click("#login-form button")
    tab.wait_for_url(re.compile(r"/auth/workflows$"))
    expect(tab.locator("section.workflow[data-workflow='order'] pre.signature")).to_contain_text(
        "order(item: str, amount: int)"
    )
    assert TOKEN not in tab.content()
    bearer = tab.request.get(served.url + "/auth/instances", headers={"authorization": f"Bearer {TOKEN}"})
    assert bearer.status == 200


def test_read_only_console_hides_and_refuses_actions(served: ServedConsole, page: tuple[Page, Watch]) -> None:
    tab, _ = page
    assert served.app is not None
    iid = start(served, wait_go, {"label": "read-only"}, InstanceStatus.WAITING)
    tab.goto(served.url + f"/ro/instances/{iid}")
    expect(tab.locator("#status")).to_have_attribute("data-status", "waiting")
    expect(tab.locator("#actions")).to_have_count(0)
    expect(tab.locator("form[method='post']")).to_have_count(0)
    expect(tab.locator("header")).to_contain_text("read-only")
    token = tab.context.cookies()[0]["value"]
    refused = tab.request.post(
        served.url + f"/ro/instances/{iid}/actions/cancel", form={"reason": "no", "csrf": token}
    )
    assert refused.status == 403
    assert served.call(served.app.get_instance(iid)).status is InstanceStatus.WAITING


def test_redacted_payloads_are_not_shown(served: ServedConsole, page: tuple[Page, Watch]) -> None:
    tab, _ = page
    iid = start(served, greet, {"name": "secret-name"}, InstanceStatus.COMPLETED)
    tab.goto(served.url + f"/instances/{iid}")
    expect(tab.locator("#io")).to_contain_text("[hidden by the redaction hook]")
    assert "secret-name" not in tab.content()
    download = tab.request.get(served.url + f"/instances/{iid}/payload/input")
    assert "secret-name" not in download.text()


def test_run_control_buttons_pause_unpause_terminate_and_fork(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    assert served.app is not None
    iid = start(served, wait_go, {"label": "run-control"}, InstanceStatus.WAITING)
    tab.goto(served.url + f"/instances/{iid}")
    tab.fill("#pause-form input[name='reason']", "maintenance window")
    tab.click("#pause-form button")
    expect(tab.locator("#done")).to_contain_text("paused")
    assert served.call(served.app.get_instance(iid)).status is InstanceStatus.PAUSED
    tab.goto(served.url + f"/instances/{iid}")
    expect(tab.locator("#pause-form")).to_have_count(0)  # offered only while it applies
    tab.fill("#unpause-form input[name='reason']", "window over")
    tab.click("#unpause-form button")
    expect(tab.locator("#done")).to_contain_text("unpaused")
    tab.goto(served.url + f"/instances/{iid}")
    tab.fill("#terminate-form input[name='reason']", "wedged")
    tab.click("#terminate-form button")
    expect(tab.locator("#done")).to_contain_text("terminated")
    terminated = served.call(served.app.get_instance(iid))
    assert terminated.status is InstanceStatus.FAILED and terminated.error is not None
    tab.goto(served.url + f"/instances/{iid}")
    tab.fill("#fork-form input[name='at']", "0")
    tab.fill("#fork-form input[name='reason']", "try again from the start")
    tab.click("#fork-form button")
    expect(tab.locator("#done")).to_contain_text("forked at 0 into")
    log = served.call(served.app.control_log(iid))
    assert [entry.action.value for entry in log] == ["pause", "unpause", "terminate", "fork"]
    tab.goto(served.url + f"/instances/{iid}")
    expect(tab.locator("#journal")).to_contain_text("maintenance window")
    shot(tab, "run-control.png")


def test_queues_page_shows_the_backlog_and_follows_it_live(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    assert served.app is not None
    for gate in ("hold-1", "hold-2"):
        GATES[gate] = threading.Event()
    first = served.call(
        served.app.start(queued_job, {"gate": "hold-1"}, options=FlowOptions(queue_key="tenant-a"))
    )
    served.call(served.settle(first, InstanceStatus.RUNNING))
    second = served.call(
        served.app.start(queued_job, {"gate": "hold-2"}, options=FlowOptions(queue_key="tenant-b"))
    )
    tab.goto(served.url + "/queues")
    queue = tab.locator("section[data-queue='console-q']")
    expect(queue.locator(".running")).to_have_text("1")
    expect(queue.locator(".queued")).to_have_text("1")  # one slot: the second waits
    expect(queue.locator("tr.queue-key[data-key='tenant-b'] td").nth(1)).to_have_text("1")
    expect(tab.locator("tr.rate-limit[data-name='console-api']")).to_contain_text("10 per 1.00 s")
    live_ready(tab)
    shot(tab, "queues.png")
    GATES["hold-1"].set()  # the first ends, the second takes the slot: the page follows without a reload
    expect(queue.locator(".queued")).to_have_text("0", timeout=20_000)
    served.call(served.settle(second, InstanceStatus.RUNNING))
    GATES["hold-2"].set()
    served.call(served.settle(second, InstanceStatus.COMPLETED))
    expect(queue.locator(".running")).to_have_text("0", timeout=20_000)
    assert int(tab.evaluate("document.body.dataset.liveUpdates || '0'")) >= 1


def test_a_pause_click_on_the_schedules_page_pauses_and_is_journaled(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    assert served.app is not None
    served.call(
        served.app.schedules.create("browser-hourly", greet, every=timedelta(hours=1), args={"name": "s"})
    )
    tab.goto(served.url + "/schedules")
    row = tab.locator("tr.schedule[data-schedule='browser-hourly']")
    expect(row).to_have_attribute("data-paused", "false")
    form = row.locator("form[data-action='pause']")
    form.locator("input[name='reason']").fill("deploy window")
    form.locator("button").click()
    expect(tab.locator("#done")).to_contain_text("browser-hourly paused")
    expect(row).to_have_attribute("data-paused", "true")
    expect(tab.locator("tr.schedule-journal[data-schedule='browser-hourly']")).to_contain_text(
        "deploy window"
    )
    assert served.call(served.app.schedules.get("browser-hourly")).paused
    journal = served.call(served.app.list_operator_actions(schedule_journal_key("browser-hourly")))
    assert [(a.action, a.reason) for a in journal] == [("schedule-pause", "deploy window")]
    shot(tab, "schedules.png")
    ro = tab.context.new_page()
    ro.goto(served.url + "/ro/schedules")
    expect(ro.locator("tr.schedule[data-schedule='browser-hourly']")).to_have_count(1)
    expect(ro.locator("form.schedule-action")).to_have_count(0)  # read-only: no actions offered


def test_the_stream_view_follows_a_running_workflow_live(
    served: ServedConsole, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    assert served.app is not None
    GATES["live"] = threading.Event()
    NARRATED.pop("live", None)
    iid = served.call(served.app.start(storyteller, {"topic": "live"}, instance_id="story-live"))
    tab.goto(served.url + f"/instances/{iid}")
    # attempt 1 wrote a chunk and failed; attempt 2 wrote one and waits for the gate
    expect(tab.locator("tr.stream-row[data-stream='story'] td.num")).to_have_text("2", timeout=20_000)
    tab.locator("a.stream-link").click()
    expect(tab).to_have_url(re.compile(r"/instances/story-live/stream\?name=story$"))
    rows = tab.locator("#chunks tr.chunk")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-status", "abandoned")
    expect(rows.nth(0).locator(".partial")).to_have_text("partial attempt")
    expect(rows.nth(1)).to_have_attribute("data-status", "in_flight")
    expect(rows.nth(1).locator(".chunk-text")).to_have_text("attempt 2 of <b>live</b>")  # text, not markup
    expect(tab.locator("#stream-following")).to_have_count(1)
    live_ready(tab)
    GATES["live"].set()  # the activity writes its last chunk and closes the stream
    expect(rows).to_have_count(4, timeout=20_000)
    expect(rows.nth(2).locator(".chunk-text")).to_have_text(LAST_WORDS)
    expect(rows.nth(1)).to_have_attribute("data-status", "committed", timeout=20_000)
    expect(tab.locator("#stream-closed")).to_have_count(1)
    assert tab.title() != "owned"  # the chunk's script was shown, never run
    assert int(tab.evaluate("document.body.dataset.liveUpdates || '0'")) >= 1
    shot(tab, "stream.png")
