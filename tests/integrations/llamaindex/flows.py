"""LlamaIndex workflows used by the durable_llamaindex tests.

Each workflow counts its step executions in a :class:`collections.Counter` given to its constructor,
so tests can prove which steps ran again after a replay or a crash.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Drafted(Event):
    draft: str


class Reviewed(Event):
    draft: str
    score: int


class Progress(Event):
    message: str


class CountingFlow(Workflow):
    """Base: keeps the step counter."""

    def __init__(self, counts: Counter[str], **kwargs: Any) -> None:
        kwargs.setdefault("timeout", None)
        super().__init__(**kwargs)
        self.counts = counts


class LinearFlow(CountingFlow):
    """draft -> review -> publish, with ``ctx.store`` state and streamed progress events."""

    @step
    async def draft(self, ctx: Context, ev: StartEvent) -> Drafted:
        self.counts["draft"] += 1
        await ctx.store.set("history", ["drafted"])
        ctx.write_event_to_stream(Progress(message="drafting done"))
        return Drafted(draft=f"draft about {ev.topic}")

    @step
    async def review(self, ctx: Context, ev: Drafted) -> Reviewed:
        self.counts["review"] += 1
        history = await ctx.store.get("history")
        await ctx.store.set("history", [*history, "reviewed"])
        return Reviewed(draft=ev.draft, score=len(ev.draft))

    @step
    async def publish(self, ctx: Context, ev: Reviewed) -> StopEvent:
        self.counts["publish"] += 1
        history = await ctx.store.get("history")
        return StopEvent(result=f"{ev.draft} (score {ev.score}; {', '.join(history)})")


class Chunk(Event):
    index: int
    text: str


class Summary(Event):
    index: int
    summary: str


class FanFlow(CountingFlow):
    """split sends one Chunk per part (fan-out); summarize runs per chunk; combine collects (fan-in)."""

    @step
    async def split(self, ctx: Context, ev: StartEvent) -> Chunk | None:
        self.counts["split"] += 1
        parts: list[str] = ev.parts
        await ctx.store.set("expected", len(parts))
        for index, text in enumerate(parts):
            ctx.send_event(Chunk(index=index, text=text))
        return None

    @step(num_workers=3)
    async def summarize(self, ctx: Context, ev: Chunk) -> Summary:
        self.counts[f"summarize {ev.index}"] += 1
        return Summary(index=ev.index, summary=ev.text.upper())

    @step
    async def combine(self, ctx: Context, ev: Summary) -> StopEvent | None:
        expected = await ctx.store.get("expected")
        events = ctx.collect_events(ev, [Summary] * expected)
        if events is None:
            return None
        self.counts["combine"] += 1
        ordered = sorted(events, key=lambda e: e.index)
        return StopEvent(result=" ".join(e.summary for e in ordered))


class ApprovalRequest(InputRequiredEvent):
    """A typed input request: what the human is asked."""

    prefix: str


class Decision(HumanResponseEvent):
    """A typed human response: a list or a number is rejected before it reaches the workflow."""

    response: str


class ApprovalFlow(CountingFlow):
    """prepare -> ask a human (InputRequiredEvent) -> act on the HumanResponseEvent."""

    @step
    async def prepare(self, ctx: Context, ev: StartEvent) -> ApprovalRequest:
        self.counts["prepare"] += 1
        await ctx.store.set("amount", ev.amount)
        return ApprovalRequest(prefix=f"approve payment of {ev.amount}?")

    @step
    async def decide(self, ctx: Context, ev: Decision) -> StopEvent:
        self.counts["decide"] += 1
        amount = await ctx.store.get("amount")
        verdict = "paid" if ev.response.strip().lower() == "yes" else "rejected"
        return StopEvent(result=f"{verdict} {amount}")


class GreetingFlow(CountingFlow):
    """One step that waits inside itself with ``ctx.wait_for_event`` (LlamaIndex re-runs it on the answer)."""

    @step
    async def greet(self, ctx: Context, ev: StartEvent) -> StopEvent:
        self.counts["greet"] += 1
        answer = await ctx.wait_for_event(
            Decision, waiter_event=ApprovalRequest(prefix="your name?"), waiter_id="name", timeout=None
        )
        return StopEvent(result=f"hello {answer.response}")
