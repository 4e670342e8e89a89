"""`make demo`: an MCP client drives a durable tool across a SIGKILL of the server.

1. start examples/mcp_order_server.py over stdio (`edda-mcp serve`) with a real MCP client,
2. call the durable tool process_order and poll process_order_status (steps completed, the last one, and
   the step running now),
3. kill the server process with SIGKILL while the slow shipping step runs,
4. start the server again on the same database and fetch the result with process_order_result,
5. show that the completed steps (reserve_inventory, process_payment) did not run again.

Run: python examples/mcp_demo.py
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

SERVER = Path(__file__).resolve().parent / "mcp_order_server.py"


def params(db_url: str, effects: Path, shipping_seconds: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDDA_")}
    env.update(ORDER_EFFECTS_LOG=str(effects), ORDER_SHIPPING_SECONDS=shipping_seconds)
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "edda_mcp", "serve", f"{SERVER}:server", "--db", db_url],
        env=env,
        cwd=str(effects.parent),
    )


def show(direction: str, what: str, payload: Any = None) -> None:
    line = f"  {direction} {what}"
    if payload is not None:
        line += " " + json.dumps(payload, default=str)
    print(line, flush=True)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    show("->", f"tools/call {tool}", arguments)
    result = await client.call_tool(tool, arguments)
    data = dict(result.structured_content or {})
    keys = ("status", "steps_completed", "last_completed_step", "current_step", "result", "error")
    brief = {k: data[k] for k in keys if k in data}
    show("<-", "error" if result.is_error else "result", brief)
    return data


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        effects = Path(tmp) / "effects.log"
        db_url = f"sqlite:///{Path(tmp) / 'orders.db'}"

        print("== 1. MCP client starts the order server over stdio", flush=True)
        async with Client(params(db_url, effects, shipping_seconds="60")) as client:
            tools = await client.list_tools()
            print(f"  server offers: {', '.join(sorted(t.name for t in tools.tools))}", flush=True)
            print("== 2. call the durable tool, then poll its status", flush=True)
            started = await call(client, "process_order", {"order_id": "ORD-42", "amount": 42.0})
            iid = started["instance_id"]
            print(f"  instance id: {iid}", flush=True)
            while True:
                status = await call(client, "process_order_status", {"instance_id": iid})
                if status["current_step"] == "arrange_shipping":
                    break
                await asyncio.sleep(0.2)
            pid = int((await client.call_tool("server_info", {})).structured_content["pid"])  # type: ignore[index]
            print(f"== 3. SIGKILL the server (pid {pid}) while arrange_shipping is running", flush=True)
            os.kill(pid, signal.SIGKILL)

        print("== 4. start the server again and ask for the result", flush=True)
        async with Client(params(db_url, effects, shipping_seconds="0.5")) as client:
            await call(client, "process_order_status", {"instance_id": iid})
            final = await call(client, "process_order_result", {"instance_id": iid, "wait_seconds": 30})

        print("== 5. which steps really ran", flush=True)
        runs = Counter(effects.read_text().split())
        for step in ("reserve_inventory", "process_payment", "arrange_shipping"):
            print(f"  {step:<18} ran {runs[step]} time(s)", flush=True)
        assert final["result"]["tracking"] == "TRACK-ORD-42", final
        assert runs["reserve_inventory"] == 1 and runs["process_payment"] == 1, runs
        print("OK: the completed steps were not re-run; the workflow finished after the crash", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
