// What every pipe-driven client script of tests/ts shares: the transport for a connection description,
// one JSON line per answer, the request loop over stdin, and the exit code.
// Only 127.0.0.1 is contacted: URLs come from the tests, and stdio servers are local processes.

import readline from "node:readline";

import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

export function write(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

// {"url": ..., "headers": {...}} is streamable HTTP; {"command", "args", "env", "cwd"} a stdio subprocess.
export function transportFor(connection) {
  if (connection.url) {
    return new StreamableHTTPClientTransport(new URL(connection.url), {
      requestInit: { headers: connection.headers ?? {} },
    });
  }
  return new StdioClientTransport({
    command: connection.command,
    args: connection.args ?? [],
    env: { ...getDefaultEnvironment(), ...(connection.env ?? {}) },
    cwd: connection.cwd,
    stderr: "inherit",
  });
}

// Answer every stdin line (a JSON request with an "id") with exactly one line; closing stdin ends it.
export async function serveRequests(client, answer) {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    try {
      write({ id: request.id, ok: true, result: await answer(client, request) });
    } catch (error) {
      write({ id: request.id, ok: false, error: { code: error?.code ?? null, message: String(error?.message ?? error) } });
    }
  }
  await client.close();
}

export function run(name, main) {
  main().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`${name} failed: ${error?.stack ?? error}\n`);
      process.exit(1);
    },
  );
}
