// One MCP client session of the TypeScript SDK (@modelcontextprotocol/sdk, pinned in package.json),
// driven over pipes by the Python tests (tests/mcp/ts_clients.py).
//
// Usage: node sdk_session.mjs '<connection JSON>'
//   connection: {"url": "http://127.0.0.1:PORT/mcp", "headers": {...}}             streamable HTTP
//           or: {"command": "python", "args": [...], "env": {...}, "cwd": "..."}    stdio subprocess
//   optional:   "capabilities": {...} (client capabilities), "clientName": "..."
//
// After connecting it lists the tools (so the SDK caches each tool's outputSchema and validates every
// later result against it, as hosts built on this SDK do) and prints one line:
//   {"event": "ready", "tools": [...], "serverVersion": {...}}
// Then every line on stdin is a request and gets exactly one line on stdout:
//   {"id": 1, "tool": "name", "arguments": {...}}         -> client.callTool (validated)
//   {"id": 2, "method": "tools/list"}                      -> client.listTools
//   {"id": 3, "method": "ping"}                            -> client.ping
//   {"id": 4, "tool": "name", "arguments": {...}, "progress": true}
//                                                          -> callTool with onprogress; the result gets
//                                                             "progress": [{progress, message}, ...]
//   {"id": 5, "method": "resources/read", "uri": "..."}    -> client.readResource
// answered with {"id": ..., "ok": true, "result": {...}} or {"id": ..., "ok": false, "error":
// {"code": <JSON-RPC code or null>, "message": "..."}}. Closing stdin closes the session.
// Only 127.0.0.1 is contacted: the URL comes from the test, and stdio servers are local processes.

import { run, serveRequests, transportFor, write } from "./pipe_session.mjs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";

async function answer(client, request) {
  if (request.tool !== undefined && request.progress) {
    const progress = [];
    const onprogress = (p) => progress.push({ progress: p.progress, message: p.message });
    const result = await client.callTool({ name: request.tool, arguments: request.arguments ?? {} }, undefined, {
      onprogress,
    });
    return { ...result, progress };
  }
  if (request.tool !== undefined) {
    return client.callTool({ name: request.tool, arguments: request.arguments ?? {} });
  }
  if (request.method === "resources/read") {
    return client.readResource({ uri: request.uri });
  }
  if (request.method === "tools/list") {
    return client.listTools();
  }
  if (request.method === "ping") {
    return client.ping();
  }
  throw new Error(`unknown request ${JSON.stringify(request)}`);
}

async function main() {
  const connection = JSON.parse(process.argv[2]);
  const client = new Client(
    { name: connection.clientName ?? "edda-ts-sdk-test", version: "1.0.0" },
    { capabilities: connection.capabilities ?? {} },
  );
  await client.connect(transportFor(connection));
  const tools = await client.listTools();
  write({ event: "ready", tools: tools.tools.map((t) => t.name), serverVersion: client.getServerVersion() });
  await serveRequests(client, answer);
}

run("sdk_session", main);
