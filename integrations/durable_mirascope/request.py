"""``model_request``: one durable model request from messages built in the workflow (the low-level API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mirascope import llm
from mirascope.llm.messages import promote_to_messages

from durable_core import RetryPolicy, WorkflowContext
from durable_mirascope._ops import CallSpec, RequestOperation, check_tools
from durable_mirascope.response import DurableResponse, request_response


async def model_request(
    ctx: WorkflowContext,
    model: str | llm.Model,
    content: llm.UserContent | Sequence[llm.Message],
    *,
    tools: Sequence[Any] | None = None,
    format: Any = None,
    name: str = "request",
    retry_policy: RetryPolicy | None = None,
    tool_retry_policy: RetryPolicy | None = None,
    timeout: float | None = None,
    rate_limit: str | None = None,
    **params: Any,
) -> DurableResponse:
    """Send ``content`` to ``model`` as one activity named ``mirascope.request:<name>``.

    The messages are built in the workflow body and are the activity's arguments, so they must be
    deterministic (use ``ctx.now()``/``ctx.uuid()`` for times and ids). On replay the recorded response
    is returned and the provider is not called.

    Args:
        ctx: the workflow context.
        model: model id (``"provider/model"``) or an ``llm.Model`` (its params are used).
        content: a prompt string / user content, or a full list of ``llm.Message``.
        tools: ``@llm.tool`` functions the model may call (run them with ``response.execute_tools()``).
        format: structured-output format, as for ``llm.call``.
        name: stable name of this request site (part of the activity name).
        retry_policy: retries of the request (default: the app's policy; rejected requests are never
            retried).
        tool_retry_policy: retries of each tool activity run from the response.
        timeout: seconds one attempt may take.
        rate_limit: name of an ``EddaApp(rate_limits={...})`` limit the request takes a grant of.
        **params: model parameters (``temperature``, ``max_tokens``, ...).
    """
    if isinstance(model, llm.Model):
        if params:
            raise TypeError("pass params either to llm.Model(...) or to model_request, not both")
        model_id, params = model.model_id, dict(model.params)
    else:
        llm.Model(model)  # validates the "provider/model" form with mirascope's own message
        model_id = model
    spec = CallSpec(
        label=name,
        model_id=model_id,
        params=params,
        tools=check_tools(tools or ()),
        format=format,
        retry_policy=retry_policy,
        tool_retry_policy=tool_retry_policy,
        timeout=timeout,
        rate_limit=rate_limit,
    )
    return await request_response(ctx, spec, promote_to_messages(content), RequestOperation)
