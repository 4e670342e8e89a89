"""Remote deployment settings, in process: Host/Origin checks on every bind, /events gating, CLI options.

The ASGI app is called in process with chosen ``Host``/``Origin`` headers, so a bind to 0.0.0.0 is
configured without ever opening a socket beyond 127.0.0.1; ``uvicorn.run`` is replaced where the CLI
would serve.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from edda_mcp import EddaMCPServer
from edda_mcp.cli import main

PROGRAM_MODULE = "tests.mcp.programs.remote_server"
PROGRAM = f"{PROGRAM_MODULE}:server"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[Callable[..., Any]]:
    """Run the app's lifespan; yield ``post(base_url, path, **headers)`` calling it in process."""
    async with app.router.lifespan_context(app):

        async def post(base: str, path: str = "/mcp", json: Any = PING, **headers: str) -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=base) as http:
                return await http.post(path, json=json, headers={**HEADERS, **headers})

        yield post


async def test_a_bind_to_all_interfaces_keeps_host_and_origin_checks(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    async with serving(server_on().asgi_app(host="0.0.0.0")) as post:
        foreign_host = await post("http://evil.example")
        foreign_origin = await post("http://127.0.0.1:8000", Origin="http://evil.example")
        local = await post("http://127.0.0.1:8000", Origin="http://localhost:3000")
        portless = await post("http://localhost")
    assert foreign_host.status_code == 421
    assert foreign_origin.status_code == 403
    assert local.status_code == 200 and portless.status_code == 200


async def test_allow_lists_and_the_public_url_decide_what_is_accepted(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    listed = server.asgi_app(
        host="0.0.0.0", allowed_hosts=["mcp.example.com"], allowed_origins=["https://app.example.com"]
    )
    async with serving(listed) as post:
        named = await post("http://mcp.example.com", Origin="https://app.example.com")
        other_origin = await post("http://mcp.example.com", Origin="https://evil.example")
        loopback = await post("http://127.0.0.1:8000")  # an explicit list replaces the loopback default
    public = server.asgi_app(host="0.0.0.0", public_url="https://mcp.example.org/mcp")
    async with serving(public) as post:
        canonical = await post("https://mcp.example.org", Origin="https://mcp.example.org")
        still_local = await post("http://127.0.0.1:8000")
        elsewhere = await post("https://other.example.org")
    assert named.status_code == 200 and other_origin.status_code == 403 and loopback.status_code == 421
    assert canonical.status_code == 200 and still_local.status_code == 200
    assert elsewhere.status_code == 421


async def test_events_are_served_only_with_auth_or_an_explicit_opt_in(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    event = {"specversion": "1.0", "id": "e1", "source": "t", "type": "go", "eddainstanceid": "nope"}
    headers = {"Content-Type": "application/cloudevents+json"}
    async with serving(server.asgi_app()) as post:
        closed_event = await post("http://127.0.0.1", "/events", json=event, **headers)
        closed_cancel = await post("http://127.0.0.1", "/events/cancel/nope", json={})
    async with serving(server.asgi_app(allow_unauthenticated_events=True)) as post:
        open_event = await post("http://127.0.0.1", "/events", json=event, **headers)
        open_cancel = await post("http://127.0.0.1", "/events/cancel/nope", json={})
    assert closed_event.status_code == 404 and closed_cancel.status_code == 404
    assert open_event.status_code == 404 and open_event.json()["error_type"] == "InstanceNotFoundError"
    assert open_cancel.status_code == 404 and open_cancel.json()["error_type"] == "InstanceNotFoundError"


async def test_an_oversized_body_is_refused_before_it_is_parsed(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    async with serving(server_on().asgi_app(max_request_body_size=1000)) as post:
        huge = await post("http://127.0.0.1", json={**PING, "params": {"pad": "x" * 2000}})
        small = await post("http://127.0.0.1")
    assert huge.status_code == 413 and small.status_code == 200


# --------------------------------------------------------------------------- edda-mcp serve


@pytest.fixture
def captured_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace uvicorn.run (nothing is bound); re-import the program module so each test configures anew."""
    monkeypatch.setenv("EDDA_MCP_TEST_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delitem(sys.modules, PROGRAM_MODULE, raising=False)
    calls: list[dict[str, Any]] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    return calls


def serve(*options: str) -> int:
    return main(["serve", PROGRAM, "--transport", "http", *options])


def test_serving_on_all_interfaces_without_auth_warns_on_stderr(
    captured_run: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve("--host", "0.0.0.0", "--port", "8123") == 0
    [call] = captured_run
    assert call["host"] == "0.0.0.0" and call["port"] == 8123
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0 without authentication" in err
    assert serve("--port", "8124") == 0  # loopback: no warning
    assert "warning" not in capsys.readouterr().err


async def test_token_verifier_by_import_path(
    captured_run: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    public = "https://mcp.example.com/mcp"
    monkeypatch.setenv("EDDA_MCP_TEST_PUBLIC_URL", public)
    code = serve(
        "--host",
        "0.0.0.0",
        "--token-verifier",
        f"{PROGRAM_MODULE}:FixedTokens",
        "--authorization-server",
        "https://auth.example.com",
        "--public-url",
        public,
        "--required-scope",
        "orders",
    )
    assert code == 0
    assert "warning" not in capsys.readouterr().err
    app = captured_run[0]["app"]
    async with serving(app) as post:
        anonymous = await post("https://mcp.example.com")
        forged = await post("https://mcp.example.com", Authorization="Bearer forged")
        good = await post("https://mcp.example.com", Authorization="Bearer good-token")
        metadata = await httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://mcp.example.com"
        ).get("/.well-known/oauth-protected-resource/mcp")
        events = await post("https://mcp.example.com", "/events/cancel/x", json={})
    assert anonymous.status_code == 401 and forged.status_code == 401
    assert good.status_code == 200
    assert metadata.json()["resource"] == public
    assert metadata.json()["authorization_servers"] == ["https://auth.example.com/"]
    assert events.status_code == 401  # with auth on, /events is served and guarded


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--jwt-issuer", "https://auth.example.com", "--public-url", "https://m.example/mcp"], "--jwks-url"),
        (["--jwt-issuer", "https://a.example", "--jwks-url", "https://a.example/jwks"], "needs --public-url"),
        (
            ["--token-verifier", f"{PROGRAM_MODULE}:FixedTokens", "--public-url", "https://m.example/mcp"],
            "--authorization-server",
        ),
        (
            [
                "--token-verifier",
                "x:y",
                "--jwt-issuer",
                "https://a.example",
                "--public-url",
                "https://m.example",
            ],
            "not both",
        ),
        (
            [
                *("--token-verifier", f"{PROGRAM_MODULE}:Approval"),
                *("--authorization-server", "https://a.example", "--public-url", "https://m.example/mcp"),
            ],
            "not a TokenVerifier",
        ),
        (
            ["--token-verifier", f"{PROGRAM_MODULE}:nothing", "--public-url", "https://m.example"],
            "no attribute",
        ),
        (["--public-url", "mcp.example.com"], "public_url must be an absolute http(s) URL"),
        (["--max-body-bytes", "0"], "--max-body-bytes must be a positive"),
        (["--jwks-url", "https://a.example/jwks"], "need --jwt-issuer or --token-verifier"),
    ],
)
def test_remote_options_that_do_not_fit_are_one_line_errors(
    captured_run: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    message: str,
) -> None:
    assert serve(*options) == 1
    err = capsys.readouterr().err
    assert err.startswith("edda-mcp: error:") and message in err, err
    assert captured_run == []


def test_remote_options_are_refused_on_stdio(
    captured_run: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", PROGRAM, "--public-url", "https://m.example/mcp"])
    assert code == 1
    assert "apply to --transport http only" in capsys.readouterr().err
