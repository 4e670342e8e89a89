// The TypeScript MCP SDK (what Claude Desktop and Claude Code are built on) against an Edda MCP server
// over streamable HTTP: progress notifications during the start tool's bounded wait, and human input on
// a stateless handshake-era connection (no elicitation request can reach the client there, so it answers
// with the generated respond tool). Prints one JSON line with what it saw.
// Usage: node http_progress_client.mjs http://127.0.0.1:PORT/mcp
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const url = new URL(process.argv[2]);
const client = new Client(
  { name: "edda-ts-http-progress", version: "1.0.0" },
  { capabilities: { elicitation: { form: {} } } },
);
let elicitations = 0;
client.setRequestHandler(ElicitRequestSchema, async () => {
  elicitations += 1;
  return { action: "decline" };
});
await client.connect(new StreamableHTTPClientTransport(url));

const progress = [];
const steps = await client.callTool({ name: "remote_steps", arguments: { order_id: "T" } }, undefined, {
  onprogress: (p) => progress.push({ progress: p.progress, message: p.message }),
});
const started = await client.callTool({ name: "remote_approval", arguments: { amount: 9 } });
const instanceId = started.structuredContent.instance_id;
const responded = await client.callTool({
  name: "remote_approval_respond",
  arguments: { instance_id: instanceId, data: { approved: true, approver: "ts" } },
});
const result = await client.callTool({
  name: "remote_approval_result",
  arguments: { instance_id: instanceId, wait_seconds: 20 },
});
await client.close();
console.log(
  JSON.stringify({
    progress,
    steps: steps.structuredContent,
    started: started.structuredContent,
    startedText: started.content[0].text,
    responded: responded.structuredContent,
    result: result.structuredContent,
    elicitations,
  }),
);
