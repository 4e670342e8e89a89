// The TypeScript MCP SDK (what Claude Desktop and Claude Code are built on) against an Edda MCP server
// over streamable HTTP: progress notifications during the start tool's bounded wait, and human input on
// a stateless handshake-era connection (no elicitation request can reach the client there, so it answers
// with the generated respond tool). Prints one JSON line with what it saw.
// With a server started with --stateful-sessions, the elicitation request does reach the client (on the
// SSE stream of the tool call), which accepts, and the start tool returns the finished run.
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
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  elicitations += 1;
  const fields = Object.keys(request.params.requestedSchema.properties).sort();
  return { action: "accept", content: { approved: fields.includes("approved"), approver: "ts-elicited" } };
});
await client.connect(new StreamableHTTPClientTransport(url));

const progress = [];
const steps = await client.callTool({ name: "remote_steps", arguments: { order_id: "T" } }, undefined, {
  onprogress: (p) => progress.push({ progress: p.progress, message: p.message }),
});
const started = await client.callTool({ name: "remote_approval", arguments: { amount: 9 } });
const instanceId = started.structuredContent.instance_id;
let responded = null;
let result = started.structuredContent;
if (started.structuredContent.status !== "completed") {
  const answer = await client.callTool({
    name: "remote_approval_respond",
    arguments: { instance_id: instanceId, data: { approved: true, approver: "ts" } },
  });
  responded = answer.structuredContent;
  const finished = await client.callTool({
    name: "remote_approval_result",
    arguments: { instance_id: instanceId, wait_seconds: 20 },
  });
  result = finished.structuredContent;
}
await client.close();
console.log(
  JSON.stringify({
    progress,
    steps: steps.structuredContent,
    started: started.structuredContent,
    startedText: started.content[0].text,
    responded,
    result,
    elicitations,
  }),
);
