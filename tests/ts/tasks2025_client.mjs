// One TypeScript SDK client session (@modelcontextprotocol/sdk 1.32.2) speaking the 2025-11-25
// experimental tasks form through `client.experimental.tasks`, driven over pipes by
// tests/mcp/test_tasks2025.py.
//
// Usage: node tasks2025_client.mjs '<connection JSON>'
//   connection: {"url": "http://127.0.0.1:PORT/mcp"} or {"command": ..., "args": [...], "env": {...}, "cwd": ...}
//   optional:   "elicit": {...}  content accepted for every elicitation/create (declares elicitation)
// The client declares the `tasks` capability. After connecting it lists the tools and prints
//   {"event": "ready", "tools": [...], "taskTools": [...], "serverTasks": {...}}
// Then every stdin line is a request answered by exactly one stdout line {"id", "ok", "result"|"error"}:
//   {"op": "create", "tool": n, "arguments": {...}}   tools/call with params.task (CreateTaskResult)
//   {"op": "call", "tool": n, "arguments": {...}}     plain client.callTool (no task)
//   {"op": "stream", "tool": n, "arguments": {...}}   callToolStream: {"messages": [...types], "result"}
//   {"op": "get"|"result"|"cancel", "taskId": id}      tasks/get, tasks/result, tasks/cancel
//   {"op": "list", "cursor": c}                        tasks/list
//   {"op": "seen"}                                     notifications/tasks/status and elicitations so far
// Only 127.0.0.1 is contacted: the URL comes from the test, and stdio servers are local processes.

import { run, serveRequests, transportFor, write } from "./pipe_session.mjs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  ElicitRequestSchema,
  TaskStatusNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const seen = { statuses: [], elicitations: [] };

async function stream(client, request) {
  const messages = [];
  let result = null;
  let error = null;
  const params = { name: request.tool, arguments: request.arguments ?? {} };
  for await (const message of client.experimental.tasks.callToolStream(params, CallToolResultSchema)) {
    messages.push(message.type === "taskStatus" ? `taskStatus:${message.task.status}` : message.type);
    if (message.type === "result") result = message.result;
    if (message.type === "error") error = { code: message.error.code, message: message.error.message };
  }
  return { messages, result, error };
}

async function answer(client, request) {
  const tasks = client.experimental.tasks;
  switch (request.op) {
    case "create":
      return client.request(
        { method: "tools/call", params: { name: request.tool, arguments: request.arguments ?? {}, task: { ttl: 60000 } } },
        CreateTaskResultSchema,
      );
    case "call":
      return client.callTool({ name: request.tool, arguments: request.arguments ?? {} });
    case "stream":
      return stream(client, request);
    case "get":
      return tasks.getTask(request.taskId);
    case "result":
      return tasks.getTaskResult(request.taskId, CallToolResultSchema);
    case "cancel":
      return tasks.cancelTask(request.taskId);
    case "list":
      return tasks.listTasks(request.cursor);
    case "seen":
      return seen;
    default:
      throw new Error(`unknown request ${JSON.stringify(request)}`);
  }
}

async function main() {
  const connection = JSON.parse(process.argv[2]);
  const capabilities = { tasks: { list: {}, cancel: {}, requests: {} } };
  if (connection.elicit) capabilities.elicitation = { form: {} };
  const client = new Client({ name: "edda-ts-tasks2025", version: "1.0.0" }, { capabilities });
  client.setNotificationHandler(TaskStatusNotificationSchema, (notification) => {
    seen.statuses.push(notification.params.status);
  });
  if (connection.elicit) {
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      seen.elicitations.push({ message: request.params.message, meta: request.params._meta ?? null });
      return { action: "accept", content: connection.elicit };
    });
  }
  await client.connect(transportFor(connection));
  const tools = (await client.listTools()).tools;
  write({
    event: "ready",
    tools: tools.map((t) => t.name),
    taskTools: tools.filter((t) => client.isToolTask(t.name)).map((t) => t.name),
    serverTasks: client.getServerCapabilities()?.tasks ?? null,
  });
  await serveRequests(client, answer);
}

run("tasks2025_client", main);
