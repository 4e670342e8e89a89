"""The MCP Apps progress view: linked only for hosts that declare it, and working in a real browser.

The browser test loads the ``ui://`` resource into headless Chromium (the system's ``/usr/bin/chromium``,
driven by Playwright) inside a small host page of our own, which relays the view's postMessage JSON-RPC
calls to a real server over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.client import advertise

from edda_mcp import EddaMCPServer
from edda_mcp.apps import UI_EXTENSION, VIEW_MIME_TYPE, view_uri
from tests.backends import backends_required
from tests.mcp.support import http_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOST_URL = "http://127.0.0.1:9/host"
HOST_PAGE = Path(__file__).with_name("apps_host.html")


async def test_hosts_without_the_extension_see_nothing_new(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    for mode in ("legacy", "2026-07-28"):
        async with server.running(), Client(server.mcp, mode=mode) as client:
            tools = (await client.list_tools()).tools
            resources = (await client.list_resources()).resources
        assert all("ui" not in (tool.meta or {}) for tool in tools), mode
        assert not [r for r in resources if str(r.uri).startswith("ui://")], mode


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_declaring_hosts_get_the_view_linked_from_start_tools(
    server_on: Callable[..., EddaMCPServer], mode: str
) -> None:
    server = server_on()
    async with (
        server.running(),
        Client(server.mcp, mode=mode, extensions=[advertise(UI_EXTENSION)]) as client,
    ):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        resources = {str(r.uri): r for r in (await client.list_resources()).resources}
        read = await client.read_resource(view_uri("place_order"))
    linked = {name for name, tool in tools.items() if "ui" in (tool.meta or {})}
    assert linked == {"place_order", "gated_order", "failing"}  # start tools only, not _status etc.
    assert (tools["place_order"].meta or {})["ui"] == {"resourceUri": "ui://edda/place_order/progress"}
    assert resources["ui://edda/place_order/progress"].mime_type == VIEW_MIME_TYPE
    [content] = read.contents
    assert content.mime_type == VIEW_MIME_TYPE
    html = getattr(content, "text", "")
    assert '"statusTool": "place_order_status"' in html and "__EDDA_CONFIG__" not in html
    # no external requests: no URL of any scheme in src/href attributes, no fetch/import of anything
    assert not re.search(r"""(src|href)\s*=\s*["']?[a-z]+:""", html, re.IGNORECASE)
    assert "fetch(" not in html and "import(" not in html and "XMLHttpRequest" not in html


async def test_apps_can_be_switched_off(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on(apps=False)
    async with server.running(), Client(server.mcp, extensions=[advertise(UI_EXTENSION)]) as client:
        tools = (await client.list_tools()).tools
        with pytest.raises(MCPError):
            await client.read_resource(view_uri("place_order"))
    assert all("ui" not in (tool.meta or {}) for tool in tools)


@pytest.mark.skipif(
    shutil.which("chromium") is None and not backends_required(),
    reason="needs the Debian chromium package (.ci/run installs it; required there)",
)
@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_the_view_follows_a_run_and_answers_its_input_form(tmp_path: Path, mode: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'apps.db'}"
    argv = ["-m", "edda_mcp", "serve", "tests.mcp.programs.apps_server:server", "--db", db_url]
    # a handshake-era host declares the extension once, in initialize: its session must be kept
    argv += ["--transport", "http", *(["--stateful-sessions"] if mode == "legacy" else []), "--port"]
    async with (
        http_server(db_url, tmp_path, argv=argv) as (url, _),
        Client(url, mode=mode, extensions=[advertise(UI_EXTENSION)]) as client,
    ):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        view = (tools["apps_booking"].meta or {})["ui"]["resourceUri"]
        [content] = (await client.read_resource(view)).contents
        arguments = {"amount": 12.5}
        started = await client.call_tool("apps_booking", arguments)
        tool_call = {"arguments": arguments, "result": _wire(started)}
        seen = await _drive_view(getattr(content, "text", ""), tool_call, _relay_to(client), tmp_path)
    assert seen.result == '"quote 12.50 booked for 3 by ada"'
    assert seen.steps == [
        "apps_quote (activity, ok)",
        "wait_event:approval (wait, ok)",
        "apps_book (activity, ok)",
    ], seen.steps
    assert seen.host_log[:2] == ["ui/initialize", "ui/notifications/initialized"]
    assert "tools/call" in seen.host_log and "resources/read" in seen.host_log
    assert seen.external == [], f"the view made external requests: {seen.external}"
    assert seen.console_errors == [], seen.console_errors
    assert (tmp_path / "apps-view.png").stat().st_size > 0


@dataclass
class Seen:
    """What the browser showed and did."""

    result: str | None = None
    steps: list[str] = field(default_factory=list)
    host_log: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def _wire(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(by_alias=True, mode="json", exclude_none=True))


def _relay_to(client: Client) -> Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]:
    """The host's relay: the view's ``tools/call`` and ``resources/read`` sent to the real server."""

    async def relay(method: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            if method == "tools/call":
                answer: Any = await client.call_tool(params["name"], params.get("arguments") or {})
            else:
                answer = await client.read_resource(params["uri"])
        except MCPError as exc:
            return {"error": {"code": exc.error.code, "message": exc.error.message}}
        return {"result": _wire(answer)}

    return relay


async def _drive_view(
    html: str,
    tool_call: dict[str, Any],
    relay: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]],
    artifacts: Path,
) -> Seen:
    """Show the view in the host page, answer its form, wait for the result; screenshot into ``artifacts``."""
    from playwright.async_api import Route, async_playwright

    seen = Seen()

    async def route(r: Route) -> None:
        url = r.request.url
        if url == HOST_URL:
            await r.fulfill(body=HOST_PAGE.read_text(), content_type="text/html")
        elif url.startswith("http://127.0.0.1"):
            await r.fulfill(status=404, body="")
        else:  # anything else leaves the machine: recorded and refused
            seen.external.append(url)
            await r.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.route("**/*", route)
            page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.console_errors.append(str(e)))
            await page.expose_function("relay", relay)
            await page.goto(HOST_URL)
            await page.evaluate("call => { window.toolCall = call; }", tool_call)
            await page.evaluate("html => window.showView(html)", html)
            view = page.frame_locator("#view")
            await view.locator("#status[data-state='waiting']").wait_for(timeout=30_000)
            await view.locator("#input-form input[name='approver']").fill("ada")
            await view.locator("#input-form input[name='approved']").check()
            await view.locator("#input-form input[name='seats']").fill("3")
            await view.locator("#input-form button[type='submit']").click()
            await view.locator("#status[data-state='completed']").wait_for(timeout=30_000)
            await view.locator("#result-section:not([hidden])").wait_for(timeout=30_000)
            seen.result = await view.locator("#result").text_content()
            seen.steps = await view.locator("#steps li").all_text_contents()
            await page.screenshot(path=str(artifacts / "apps-view.png"), full_page=True)
            seen.host_log = await page.evaluate("window.hostLog")
        finally:
            await browser.close()
    return seen
