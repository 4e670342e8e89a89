"""InputRequiredEvent waits durably (instance parked, no worker held) until a response is sent from outside."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest
from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from durable_core import Catalog, ConfigurationError, EddaApp, InstanceStatus, WorkflowContext, workflow
from durable_core.ingress import CloudEventsASGI
from durable_llamaindex import DEFAULT_RESPONSE_EVENT_TYPE, DurableLlamaWorkflow
from tests.crash.support import wait_until
from tests.integrations.llamaindex.flows import ApprovalFlow, ApprovalRequest, Decision, GreetingFlow
from tests.integrations.llamaindex.support import wait_status


def _approval(catalog: Catalog, counts: Counter[str], streamed: list[Event]) -> Any:
    durable = DurableLlamaWorkflow(lambda: ApprovalFlow(counts), name="approval", response_event=Decision)

    @workflow(catalog=catalog)
    async def approve_payment(ctx: WorkflowContext, amount: int) -> str:
        result: str = await durable.run(ctx, amount=amount, on_event=streamed.append)
        return result

    return approve_payment


async def test_waits_durably_and_resumes_on_a_response_sent_from_outside(
    make_app: Any, catalog: Catalog
) -> None:
    counts: Counter[str] = Counter()
    streamed: list[Event] = []
    wf = _approval(catalog, counts, streamed)
    app: EddaApp = await make_app()
    iid = await wf.start(amount=120)

    await wait_status(app, iid, InstanceStatus.WAITING)
    wait = await app.get_wait(iid)
    assert wait is not None and wait.event_types == (DEFAULT_RESPONSE_EVENT_TYPE,)
    assert iid not in app._dispatcher.running  # parked in the database, no worker holds it
    assert [type(ev) for ev in streamed] == [ApprovalRequest]
    assert isinstance(streamed[0], ApprovalRequest) and streamed[0].prefix == "approve payment of 120?"

    await app.send_event(DEFAULT_RESPONSE_EVENT_TYPE, "reviewer", {"response": "yes"}, instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == "paid 120"
    assert counts == Counter(prepare=1, decide=1)  # prepare did not run again on the resume


async def test_a_response_sent_early_waits_in_the_mailbox(make_app: Any, catalog: Catalog) -> None:
    counts: Counter[str] = Counter()
    wf = _approval(catalog, counts, [])
    client: EddaApp = await make_app(run_workers=False)
    iid = await wf.start(amount=7)
    await client.send_event(DEFAULT_RESPONSE_EVENT_TYPE, "reviewer", {"response": "no"}, instance_id=iid)
    worker: EddaApp = await make_app()
    assert await worker.wait_result(iid, timeout=10) == "rejected 7"
    assert counts == Counter(prepare=1, decide=1)


async def test_an_invalid_response_is_skipped_and_the_wait_continues(make_app: Any, catalog: Catalog) -> None:
    counts: Counter[str] = Counter()
    wf = _approval(catalog, counts, [])
    app: EddaApp = await make_app()
    iid = await wf.start(amount=3)
    await wait_status(app, iid, InstanceStatus.WAITING)
    with pytest.raises(ValueError, match=r"data\.response"):  # addressed: refused when it is sent
        await app.send_event(
            DEFAULT_RESPONSE_EVENT_TYPE, "reviewer", {"response": ["not", "text"]}, instance_id=iid
        )
    # by type it reaches the wait, which skips it and goes on waiting
    await app.send_event(DEFAULT_RESPONSE_EVENT_TYPE, "reviewer", {"response": ["not", "text"]})
    await wait_status(app, iid, InstanceStatus.WAITING)
    await app.send_event(DEFAULT_RESPONSE_EVENT_TYPE, "reviewer", {"response": "yes"}, instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == "paid 3"
    assert counts == Counter(prepare=1, decide=1)


async def test_wait_for_event_inside_a_step_waits_durably_too(make_app: Any, catalog: Catalog) -> None:
    counts: Counter[str] = Counter()
    streamed: list[Event] = []
    durable = DurableLlamaWorkflow(lambda: GreetingFlow(counts), name="greeting", response_event=Decision)

    @workflow(catalog=catalog)
    async def greet(ctx: WorkflowContext) -> str:
        result: str = await durable.run(ctx, on_event=streamed.append)
        return result

    app: EddaApp = await make_app()
    iid = await greet.start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    assert [type(ev) for ev in streamed] == [ApprovalRequest]
    await app.send_event(DEFAULT_RESPONSE_EVENT_TYPE, "user", {"response": "ada"}, instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == "hello ada"
    # LlamaIndex replays a waiting step from its top when the answer arrives: twice is its semantics.
    assert counts == Counter(greet=2)


async def test_a_cloudevent_over_http_answers_the_request(make_app: Any, catalog: Catalog) -> None:
    counts: Counter[str] = Counter()
    wf = _approval(catalog, counts, [])
    app: EddaApp = await make_app()
    iid = await wf.start(amount=64)
    await wait_status(app, iid, InstanceStatus.WAITING)
    event = {
        "specversion": "1.0",
        "id": "decision-1",
        "source": "https://desk.example/reviewers/7",
        "type": DEFAULT_RESPONSE_EVENT_TYPE,
        "eddainstanceid": iid,
        "datacontenttype": "application/json",
        "data": {"response": "yes"},
    }
    transport = httpx.ASGITransport(app=CloudEventsASGI(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://edda.test") as http:
        reply = await http.post(
            "/events", json=event, headers={"content-type": "application/cloudevents+json"}
        )
    assert reply.status_code == 202, reply.text
    assert await app.wait_result(iid, timeout=10) == "paid 64"
    assert counts == Counter(prepare=1, decide=1)


class BudgetQuestion(InputRequiredEvent):
    """Asks for a spending limit."""


class BudgetAnswer(HumanResponseEvent):
    limit: int


class NoteQuestion(InputRequiredEvent):
    """Asks for a note to file with the order."""


class NoteAnswer(HumanResponseEvent):
    note: str


class TwoQuestionsFlow(Workflow):
    @step
    async def ask_budget(self, ev: StartEvent) -> BudgetQuestion:
        return BudgetQuestion()

    @step
    async def ask_note(self, ctx: Context, ev: BudgetAnswer) -> NoteQuestion:
        await ctx.store.set("limit", ev.limit)
        return NoteQuestion()

    @step
    async def finish(self, ctx: Context, ev: NoteAnswer) -> StopEvent:
        return StopEvent(result=f"limit {await ctx.store.get('limit')}, note {ev.note!r}")


async def test_each_kind_of_question_is_answered_by_its_own_response_class(
    make_app: Any, catalog: Catalog
) -> None:
    durable = DurableLlamaWorkflow(
        lambda: TwoQuestionsFlow(timeout=None),
        name="two_questions",
        response_event={BudgetQuestion: BudgetAnswer, NoteQuestion: NoteAnswer},
    )

    @workflow(catalog=catalog)
    async def order(ctx: WorkflowContext) -> str:
        result: str = await durable.run(ctx)
        return result

    app: EddaApp = await make_app()
    iid = await order.start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    with pytest.raises(ValueError, match=r"limit"):  # the first wait expects a BudgetAnswer
        await app.send_event(DEFAULT_RESPONSE_EVENT_TYPE, "buyer", {"note": "early"}, instance_id=iid)
    await app.send_event(DEFAULT_RESPONSE_EVENT_TYPE, "buyer", {"limit": 300}, instance_id=iid)

    async def asks_for_a_note() -> bool:
        wait = await app.get_wait(iid)
        return wait is not None and "note" in json.dumps(wait.input_schemas)

    await wait_until(asks_for_a_note, "the second question")
    await app.send_event(DEFAULT_RESPONSE_EVENT_TYPE, "buyer", {"note": "gift wrap"}, instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == "limit 300, note 'gift wrap'"


def test_a_mapping_must_pair_request_and_response_classes() -> None:
    with pytest.raises(ConfigurationError, match="InputRequiredEvent subclasses"):
        DurableLlamaWorkflow(TwoQuestionsFlow, name="bad", response_event={StartEvent: NoteAnswer})  # type: ignore[dict-item]
