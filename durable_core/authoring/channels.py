"""Channels: workflow-to-workflow messaging with competing or broadcast subscriptions.

* ``subscribe(ctx, channel, mode)``: ``"competing"`` - each message published on the channel goes to
  exactly one competing subscriber (a job queue; messages published while nobody subscribes wait in the
  queue); ``"broadcast"`` - every broadcast subscriber gets its own copy of each message published after
  it subscribed. Subscriptions survive ``ctx.recur`` and end with ``unsubscribe`` or the instance.
* ``receive(ctx, channel)``: the oldest message for the instance on that channel (its own copies and
  direct ``send_to`` messages first-in first-out, plus the shared queue when it is a competing subscriber),
  waiting durably when there is none.
* ``publish`` / ``send_to`` from a workflow are journaled (sent once, never again on replay); from outside
  a workflow use ``app.publish`` / ``app.send_to``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError

from durable_core.authoring.context import WorkflowContext
from durable_core.authoring.events import due_after, event_data, workflow_body_context
from durable_core.authoring.runtime import TIMED_OUT, Outgoing, WaitResult, WaitSpec
from durable_core.errors import EddaError, EventTimeoutError
from durable_core.types import JsonValue, SubscriptionMode, WaitKey, WaitKind
from durable_core.validation import MAX_CHANNEL_LENGTH, MAX_ID_LENGTH, check_identifier, check_text

__all__ = [
    "ChannelMessage",
    "ReceivedMessage",
    "channel_metadata",
    "publish",
    "receive",
    "received_message",
    "send_to",
    "subscribe",
    "unsubscribe",
]

D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class ReceivedMessage(Generic[D]):
    """What ``receive`` returns.

    Attributes:
        data: the message data (JSON value, bytes, or an instance of ``model=``).
        channel: the channel it came on.
        id: the message id.
        sender_instance_id: the instance that sent it, if a workflow did.
        sent_at: when it was sent.
        metadata: every attribute stored with the message (channel, id, sender, time, ...).
    """

    data: D
    channel: str
    id: str
    sender_instance_id: str | None = None
    sent_at: datetime | None = None
    metadata: dict[str, JsonValue] = field(default_factory=dict)

    @property
    def published_at(self) -> datetime | None:
        """When it was sent (the seed's name for :attr:`sent_at`)."""
        return self.sent_at


#: The seed's (Edda's) name for what ``receive`` returns: ``id``, ``channel``, ``data``, ``metadata`` and
#: ``published_at`` read the same, so Edda code that imports ``ChannelMessage`` keeps working.
ChannelMessage = ReceivedMessage


def channel_metadata(
    channel: str, message_id: str, sender: str | None, now: datetime
) -> dict[str, JsonValue]:
    """The attributes stored with a channel message."""
    check_text("message_id", message_id, limit=MAX_ID_LENGTH)
    return {"channel": channel, "id": message_id, "sender_instance_id": sender, "time": now.isoformat()}


def received_message(result: WaitResult, model: type[BaseModel] | None, channel: str) -> ReceivedMessage[Any]:
    """Rebuild the :class:`ReceivedMessage` from a recorded wait."""
    meta = result.metadata
    data = result.data
    if model is not None:
        try:
            data = model.model_validate_json(data) if isinstance(data, bytes) else model.model_validate(data)
        except ValidationError as exc:
            raise EddaError(f"message on {channel!r} does not match {model.__name__}: {exc}") from exc
    sent = meta.get("time")
    return ReceivedMessage(
        data=data,
        channel=str(meta.get("channel", channel)),
        id=str(meta.get("id", "")),
        sender_instance_id=cast("str | None", meta.get("sender_instance_id")),
        sent_at=datetime.fromisoformat(sent) if isinstance(sent, str) else None,
        metadata=dict(meta),
    )


def _mode(mode: str | SubscriptionMode) -> SubscriptionMode:
    try:
        return SubscriptionMode(mode)
    except ValueError:
        raise ValueError(f"subscription mode must be 'competing' or 'broadcast', got {mode!r}") from None


async def subscribe(ctx: WorkflowContext, channel: str, mode: str | SubscriptionMode = "broadcast") -> None:
    """Subscribe this instance to ``channel`` (journaled; idempotent; survives ``ctx.recur``).

    Args:
        ctx: the workflow's context.
        channel: the channel name.
        mode: ``"competing"`` (each message to one subscriber) or ``"broadcast"`` (to all).
    """
    ctx = workflow_body_context(ctx, "subscribe")
    checked = _mode(mode)
    runtime = ctx._runtime
    await runtime.subscription(
        runtime.next_position(), check_identifier("channel", channel, limit=MAX_CHANNEL_LENGTH), checked
    )


async def unsubscribe(ctx: WorkflowContext, channel: str) -> None:
    """Stop receiving ``channel``'s published messages (direct ``send_to`` messages still arrive)."""
    ctx = workflow_body_context(ctx, "unsubscribe")
    runtime = ctx._runtime
    await runtime.subscription(
        runtime.next_position(), check_identifier("channel", channel, limit=MAX_CHANNEL_LENGTH), None
    )


async def receive(
    ctx: WorkflowContext,
    channel: str,
    timeout_seconds: float | None = None,
    model: type[BaseModel] | None = None,
) -> ReceivedMessage[Any]:
    """Take the next message on ``channel`` for this instance, waiting durably until there is one.

    Raises:
        EventTimeoutError: ``timeout_seconds`` passed first.
    """
    ctx = workflow_body_context(ctx, "receive")
    check_identifier("channel", channel, limit=MAX_CHANNEL_LENGTH)
    due = due_after(ctx, timeout_seconds, "receive")
    spec = WaitSpec(name=f"receive:{channel}", keys=(WaitKey(WaitKind.MESSAGE, channel),), due=due)
    runtime = ctx._runtime
    result = await runtime.wait_for(runtime.next_position(), spec)
    if result.index == TIMED_OUT:
        raise EventTimeoutError(f"no message on channel {channel!r} within {timeout_seconds} s")
    return received_message(result, model, channel)


async def publish(ctx: WorkflowContext, channel: str, data: Any = None) -> str:
    """Publish ``data`` on ``channel`` from a workflow (journaled: sent once); return the message id.

    Outside a workflow, use ``await app.publish(channel, data)``.
    """
    ctx = workflow_body_context(ctx, "publish")
    return await _send(ctx, channel, data, None, "publish")


async def send_to(ctx: WorkflowContext, instance_id: str, channel: str, data: Any = None) -> str:
    """Send ``data`` directly to one instance on ``channel`` (journaled); return the message id.

    The message waits in that instance's mailbox until it receives on ``channel``, subscribed or not.
    """
    ctx = workflow_body_context(ctx, "send_to")
    check_identifier("instance_id", instance_id)
    return await _send(ctx, channel, data, instance_id, "send_to")


async def _send(ctx: WorkflowContext, channel: str, data: Any, target: str | None, what: str) -> str:
    check_identifier("channel", channel, limit=MAX_CHANNEL_LENGTH)
    runtime = ctx._runtime
    position = runtime.next_position()
    message_id = f"{ctx.instance_id}:{position}"
    meta = channel_metadata(channel, message_id, ctx.instance_id, runtime.clock_now())
    value = event_data(data)
    await runtime.send(
        position, f"{what}:{channel}", Outgoing(WaitKey(WaitKind.MESSAGE, channel), value, meta, target)
    )
    return message_id
