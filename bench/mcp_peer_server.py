"""The peer of ``mcp_bench_server.py``: the same 3-step durable tool on edda-framework 0.16.2's MCP server.

Runs inside ``bench/.peer-venv`` (edda-framework 0.16.2 with its ``mcp`` extra); ``mcp_roundtrip.py``
starts it as a subprocess and drives it with the project's MCP client. Serves over stdio or over
streamable HTTP on 127.0.0.1 only.

How edda-framework 0.16.2's MCP server is used (read from ``edda/integrations/mcp/server.py`` and
``decorators.py``):

* ``EddaMCPServer(name, db_url)`` wraps an ``EddaApp`` and the SDK's ``MCPServer``;
  ``@server.durable_tool(description=...)`` registers ``<name>``, ``<name>_status``, ``<name>_result``
  and ``<name>_cancel``. The start tool calls ``workflow.start(**kwargs)``, which in edda 0.16.2 runs the
  whole workflow inline before it returns the instance id (as text: ``Instance ID: <id>``); the result
  tool never waits: it answers ``isError`` "not completed yet" unless the instance is completed.
* ``await server.initialize()`` must run on the loop that serves (it opens the database engine there), so
  this script runs ``initialize()`` and then ``run_stdio()`` or a ``uvicorn.Server`` on one loop.
* HTTP: ``server.asgi_app()`` is the SDK's streamable HTTP app at ``/mcp`` with ``json_response=True``
  and ``stateless_http=True`` (fixed by edda), plus edda's ``/cancel/{id}`` route.

Database settings as in ``peer_edda.py``: on SQLite every connection gets ``journal_mode=WAL`` and
``synchronous=FULL`` (the engine's default pragmas) unless ``--sqlite-pragmas stock``; uvloop by default.

Usage (inside the peer venv)::

    bench/.peer-venv/bin/python bench/mcp_peer_server.py --db sqlite:///FILE [--transport http --port N]
"""

import argparse
import asyncio
import logging
import sys

try:
    from edda import WorkflowContext, activity
    from edda.integrations.mcp import EddaMCPServer
except ImportError as exc:  # pragma: no cover - only outside the peer venv
    raise SystemExit(
        "mcp_peer_server.py must run inside bench/.peer-venv with edda-framework[mcp]==0.16.2 "
        f"(bench/.peer-venv/bin/pip install 'edda-framework[mcp]==0.16.2'): {exc}"
    ) from exc

from peer_edda import apply_sqlite_pragmas, to_edda_url


@activity
async def bench_step(ctx: WorkflowContext, n: int) -> int:
    """A trivial activity: ``n + 1``."""
    return n + 1


def build_server(db_url: str, sqlite_pragmas: str) -> EddaMCPServer:
    """Create the peer server with the ``three_steps`` durable tool (same body as ours)."""
    url = to_edda_url(db_url)
    server = EddaMCPServer("bench-peer", db_url=url)
    if url.startswith("sqlite") and sqlite_pragmas == "same":
        apply_sqlite_pragmas(server._edda_app)

    @server.durable_tool(description="Three trivial durable steps")
    async def three_steps(ctx: WorkflowContext, seed: int) -> int:
        value = seed
        for _ in range(3):
            value = await bench_step(ctx, value)
        return value

    return server


async def serve(args: argparse.Namespace) -> None:
    """Initialise the peer's engine and serve on the same event loop until stdin closes or SIGTERM."""
    server = build_server(args.db, args.sqlite_pragmas)
    await server.initialize()
    try:
        if args.transport == "stdio":
            await server.run_stdio()
        else:
            import uvicorn

            config = uvicorn.Config(
                server.asgi_app(), host="127.0.0.1", port=args.port, log_level="warning", lifespan="on"
            )
            await uvicorn.Server(config).serve()
    finally:
        await server.shutdown()


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", required=True, help="sqlite:///FILE or postgresql://USER@127.0.0.1/DB")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port on 127.0.0.1")
    parser.add_argument("--sqlite-pragmas", choices=["same", "stock"], default="same")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args))
    else:
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
