"""``edda-mcp serve --transport http`` prints a banner (URL, database, tools, auth) and warns when exposed."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from edda_mcp import EddaMCPServer
from edda_mcp.cli import main
from edda_mcp.serve_banner import mask_password, write_banner

PROGRAM = "tests.mcp.programs.order_server:server"


def test_serve_prints_the_banner_and_the_exposure_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: dict[str, Any] = {}

    def fake_uvicorn_run(app: Any, **options: Any) -> None:  # the banner is printed before serving
        served.update(options)

    monkeypatch.setattr("uvicorn.run", fake_uvicorn_run)
    # the program builds its server at import: another test in this worker may have imported it already
    monkeypatch.delitem(sys.modules, PROGRAM.partition(":")[0], raising=False)
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    monkeypatch.setenv("EDDA_MCP_TEST_DB", db)
    monkeypatch.setenv("EDDA_MCP_DB_URL", db)  # serve --db sets it for the server: restored after the test
    monkeypatch.setenv("EDDA_MCP_TEST_DIR", str(tmp_path))
    assert (
        main(["serve", PROGRAM, "--transport", "http", "--host", "0.0.0.0", "--port", "8123", "--db", db])
        == 0
    )
    err = capsys.readouterr().err
    assert (
        "edda-mcp: serving 'e2e-order-server' at http://0.0.0.0:8123/mcp (reachable from other machines)"
        in err
    )
    assert f"  database: {db}" in err
    assert "  tools (" in err and "e2e_order" in err
    assert "  auth: off" in err
    assert "warning: serving on 0.0.0.0 without authentication" in err
    assert served == {"host": "0.0.0.0", "port": 8123, "log_level": "warning"}
    assert main(["serve", PROGRAM, "--allow-unauthenticated-metrics"]) == 1  # an HTTP-only option
    assert "apply to --transport http only" in capsys.readouterr().err


def test_banner_masks_the_password_and_lists_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDDA_MCP_DB_URL", raising=False)
    server = EddaMCPServer("banner", db_url="postgresql://ops:s3cret@db.internal/edda")

    @server.tool()
    def ping() -> str:
        return "pong"

    out = io.StringIO()
    write_banner(out, server, host="127.0.0.1", port=8000, auth=True)
    text = out.getvalue()
    assert "s3cret" not in text and "postgresql://ops:***@db.internal/edda" in text
    assert "(loopback only)" in text and "tools (1): ping" in text and "auth: on" in text
    assert mask_password("sqlite:///x.db") == "sqlite:///x.db"


async def test_the_banner_is_written_inside_a_running_event_loop() -> None:
    out = io.StringIO()
    write_banner(out, EddaMCPServer("in-loop", db_url="sqlite:///x.db"), host="::1", port=1, auth=False)
    assert "at http://[::1]:1/mcp (loopback only)" in out.getvalue()
