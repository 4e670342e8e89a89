"""The console's pages: overview, instance list, workflows, live stream, login; the route table.

The queues and schedules pages are in :mod:`edda_mcp.console.ops`, the stream view in
:mod:`edda_mcp.console.streams`, the instance page in :mod:`edda_mcp.console.detail`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from durable_core import EddaError, InstanceStatus, Workflow
from edda_mcp.console import detail, ops, streams
from edda_mcp.console.filters import FilterProblem, ListFilter
from edda_mcp.console.live import event_stream
from edda_mcp.console.security import AUTH_COOKIE, csrf_ok

if TYPE_CHECKING:
    from edda_mcp.console.app import Console, Handler

__all__ = ["routes", "signature_of"]

Guard = Callable[..., Callable[[Request], Any]]
STATUSES = [s.value for s in InstanceStatus]


def _type_text(hint: Any) -> str:
    if hint is inspect.Parameter.empty:
        return ""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("builtins.", "")


def signature_of(wf: Workflow[Any, Any]) -> str:
    """``name(param: type, ...) -> result`` of a workflow (its parameters after ``ctx``)."""
    try:
        sig = inspect.signature(wf.fn)
        hints = typing.get_type_hints(wf.fn)
    except Exception:  # unresolvable hints: show the names only
        return f"{wf.name}(...)"
    params = []
    for p in list(sig.parameters.values())[1:]:
        text = p.name + (f": {_type_text(hints[p.name])}" if p.name in hints else "")
        params.append(text + (f" = {p.default!r}" if p.default is not inspect.Parameter.empty else ""))
    result = f" -> {_type_text(hints['return'])}" if "return" in hints else ""
    return f"{wf.name}({', '.join(params)}){result}"


async def overview(console: Console, request: Request) -> Response:
    """Counts by status and workflow, throughput, failures, blocked and input-waiting instances."""
    app = console.app
    counts = await console.counts()
    points = await app.throughput(60)
    return console.render(
        request,
        "overview.html",
        title="Overview",
        live="page=overview",
        statuses=STATUSES,
        by_status={s.value: n for s, n in counts.by_status},
        by_workflow=dict(counts.by_workflow),
        total=counts.total,
        points=points,
        peak=max([1, *(max(p.started, p.finished) for p in points)]),
        failures=await app.list_instances(status=InstanceStatus.FAILED, limit=10),
        blocked=await app.list_instances(status=InstanceStatus.BLOCKED, limit=20),
        awaiting=await app.instances_awaiting_input(20),
    )


async def instances(console: Console, request: Request) -> Response:
    """The filtered, keyset-paged instance list."""
    try:
        wanted = ListFilter.parse(request.query_params)
        rows = await console.app.search_instances(**wanted.search_arguments(console.options.page_size + 1))
    except (FilterProblem, ValueError, EddaError) as exc:
        return console.render(
            request, "instances.html", 400, title="Instances", f=ListFilter(), rows=[], more="",
            problem=str(exc), statuses=STATUSES, workflows=await _workflow_names(console),
        )  # fmt: skip
    if not wanted.cursor and len(rows) == 1 and rows[0].instance_id == wanted.q:  # an exact id: its page
        return RedirectResponse(f"{request.scope.get('root_path', '')}/instances/{quote(wanted.q)}", 303)
    page = rows[: console.options.page_size]
    more = wanted.next_cursor(page[-1]) if len(rows) > len(page) else ""
    return console.render(
        request,
        "instances.html",
        title="Instances",
        live="page=instances&" + wanted.query(),
        f=wanted,
        rows=page,
        more=more,
        problem="",
        statuses=STATUSES,
        workflows=await _workflow_names(console),
    )


async def _workflow_names(console: Console) -> list[str]:
    """Names for the workflow filter: registered ones and those of the cached counts (never a scan)."""
    names = {name for name, _ in console.cached_counts().by_workflow}
    return sorted(names | {wf.name for wf in console.workflows()})


async def workflows(console: Console, request: Request) -> Response:
    """Each workflow: signature when registered, counts, recent runs."""
    counts = dict((await console.counts()).by_workflow)
    registered = {wf.name: signature_of(wf) for wf in console.workflows()}
    names = sorted(set(counts) | set(registered))
    recent = {name: await console.app.list_instances(workflow_name=name, limit=5) for name in names}
    return console.render(
        request,
        "workflows.html",
        title="Workflows",
        live="page=workflows",
        names=names,
        registered=registered,
        counts=counts,
        recent=recent,
        statuses=STATUSES,
    )


async def live(console: Console, request: Request) -> Response:
    """The SSE stream of one page (``page=overview|instances|instance|workflows|queues|schedules|stream``)."""
    params = request.query_params
    page = params.get("page", "")
    if page == "instance":
        fingerprint = _instance_fingerprint(console, params.get("id", ""))
    elif page == "stream":
        fingerprint = streams.stream_fingerprint(console, params.get("id", ""), params.get("name", ""))
    elif page in ("queues", "schedules"):
        read = ops.queues_fingerprint if page == "queues" else ops.schedules_fingerprint

        async def fingerprint() -> Hashable:
            return await read(console)  # type: ignore[no-any-return]

    elif page == "instances":
        try:
            fingerprint = _list_fingerprint(console, ListFilter.parse(params))
        except FilterProblem as exc:
            return PlainTextResponse(str(exc), status_code=400)
    else:

        async def fingerprint() -> Hashable:
            counts = await console.counts()
            waiting = tuple(r.instance_id for r in await console.app.instances_awaiting_input(20))
            return counts, waiting

    stream = event_stream(console.hub, fingerprint, poll_interval=console.options.poll_interval)
    return StreamingResponse(stream, media_type="text/event-stream", headers={"x-accel-buffering": "no"})


def _instance_fingerprint(console: Console, instance_id: str) -> Callable[[], Any]:
    async def fingerprint() -> Hashable:
        record = await console.app.get_instance(instance_id)
        return record.status, record.updated_at, record.lease_epoch

    return fingerprint


def _list_fingerprint(console: Console, wanted: ListFilter) -> Callable[[], Any]:
    async def fingerprint() -> Hashable:
        rows = await console.app.search_instances(**wanted.search_arguments(console.options.page_size))
        return tuple((r.instance_id, r.status, r.updated_at) for r in rows)

    return fingerprint


async def login(console: Console, request: Request) -> Response:
    """The token form (GET) and its check (POST): a valid token is kept in an HttpOnly cookie."""
    root = request.scope.get("root_path", "")
    target = request.query_params.get("next", "")
    target = target if target.startswith("/") and not target.startswith("//") else f"{root}/"
    if request.method == "GET":
        return console.render(request, "login.html", title="Sign in", next=target, problem="")
    form = await request.form()
    token = str(form.get("token") or "").strip()
    if not csrf_ok(request, form.get("csrf")):
        return console.render(request, "error.html", 403, title="Refused", problem=detail.CSRF_PROBLEM)
    auth = console.options.auth
    if auth is None or not token or await auth.principal(token) is None:
        return console.render(
            request, "login.html", 401, title="Sign in", next=target, problem="invalid token"
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        AUTH_COOKIE, token, path=root or "/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


def routes(console: Console, guard: Guard) -> list[BaseRoute]:
    """The route table (add a page: one line here and a template)."""

    def page(path: str, handler: Handler, methods: tuple[str, ...] = ("GET",), public: bool = False) -> Route:
        return Route(path, guard(console, handler, public=public), methods=list(methods))

    return [
        page("/", overview),
        page("/instances", instances),
        page("/instances/{instance_id:path}/payload/{which}", detail.payload),
        page("/instances/{instance_id:path}/actions/{action}", detail.act, ("POST",)),
        page("/instances/{instance_id:path}/stream", streams.stream_view),
        page("/instances/{instance_id:path}", detail.instance_page),
        page("/workflows", workflows),
        page("/queues", ops.queues),
        page("/schedules", ops.schedules),
        page("/schedules/{schedule_id:path}/actions/{action}", ops.schedule_act, ("POST",)),
        page("/live", live),
        page("/login", login, ("GET", "POST"), public=True),
    ]
