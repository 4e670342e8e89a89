"""Every program in examples/ runs to completion and prints what it promises.

Each example runs as its own process (``sys.executable -W error``) in a fresh temporary working directory,
so files an example creates in its working directory never leak between runs. An example that is added
without an entry in ``EXPECTED`` fails :func:`test_every_example_is_covered`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT_SECONDS = 120

# example file -> lines (substrings) its output must contain, in this order
EXPECTED: dict[str, list[str]] = {
    "quickstart.py": [
        "reserving book-42 for ORD-1",
        "charging 19.99 for ORD-1",
        "completed: {'reservation': 'RSV-ORD-1', 'payment': 'PAY-ORD-1'}",
    ],
    "crash_recovery_demo.py": [
        "Killing worker",
        "reserve_stock    ran 1 time(s)",
        "charge_card      ran 1 time(s)",
        "OK: completed steps were replayed",
    ],
    "concepts.py": [
        "first app stops while send_invoice is running",
        "position 5: activity send_invoice",
        "OK: recorded steps were replayed, the unfinished one ran again",
    ],
    "starting_and_results.py": [
        "conflict: instance id 'order-B-2' already exists",
        "start_and_wait -> parcel-C-3 shipped standard",
        "D-4 not finished yet; status: running",
        "cancelled: instance",
        "bob's orders: ['order-B-2']",
        "1: activity ship -> 'parcel-B-2 shipped express'",
    ],
    "retries.py": [
        "default delays without jitter: [1.0, 2.0, 4.0, 8.0]",
        "fetch_rate attempt 3",
        "terminal: card declined for 42.00",
        "exhausted after 3 attempts, last error builtins:OSError",
        "timed out: ActivityTimeoutError",
    ],
    "worker_process.py": [
        "from a client-only app",
        "worker running; SIGTERM drains it",
        ": parcel-ORD-7",
        "SIGTERM received: draining",
        "worker stopped",
    ],
    "llamaindex_agent.py": [
        "tool convert(120, 0.92)",
        "120 USD is 110.4 EUR",
        "checkpoints: init_run, setup_agent, run_agent_step, parse_agent_output, call_tool",
    ],
    "timeouts.py": [
        "3 chunks: 3",
        "100 chunks: WorkflowTimeoutError",
        "OK: the deadline stopped the workflow and its compensations ran in reverse order",
    ],
    "schedules.py": [
        'paris-report: cron "30 2 * * *" Europe/Paris, next 2030-03-31 01:00 UTC',
        "started paris-report@2030-03-31T01:00:00Z -> report for eu-west",
        "resumed, next 2030-04-03 00:30 UTC",
        "triggered paris-report@2030-04-02T01:00:00Z -> report for eu-west",
        "nightly_cleanup started ['nightly_cleanup@2030-04-01T03:00:00Z']",
    ],
    "at_most_once.py": [
        "charged 42.00 for ORD-1: ch_1",
        "checkout: receipt for ORD-1 (ch_1)",
        "resend is outcome_unknown: outcome unknown: attempt 1 of at-most-once activity send_receipt",
        "resend: receipt for ORD-0 (ch_old)",
        "OK: no side effect ran twice without a decision",
    ],
    "retry_after_crash.py": [
        "call_partner_api attempt 2",
        "killed by SIGKILL: True",
        "call_partner_api attempt 3",
        "OK: the retry budget survived the crash",
    ],
    "saga.py": ["Cancelled reservation for ITEM-2", "OK: compensations ran in reverse order"],
    "saga_cancel.py": ["cancel: requested", "OK: cancelling ran the compensations in reverse order"],
    "transactions.py": ["T-1 done", "OK: only the successful attempt's writes were committed"],
    "metrics.py": [
        "edda_workflows_finished_total{status=completed,workflow=checkout} 1",
        "edda_step_attempts_sum{activity=charge,kind=activity,workflow=checkout} 2",
        "edda_dispatcher_capacity{} 20",
    ],
    "operator_cli.py": [
        "INSTANCE      WORKFLOW  STATUS",
        "waits for:      event 'order.approved'",
        "C-3 approved by ops",
        "purged 1 instance(s)",
        "does not exist",
        "typo.db created: False",
    ],
    "outbox.py": [
        "workflow result: ORD-7",
        "receiver got order.created from order-service",
        "data: {'order_id': 'ORD-7', 'attempt': 2}",
        "outbox: 1 sent, 0 pending",
        "OK: only the committed attempt's event was delivered, once",
    ],
    "determinism.py": [
        "replay check of v2: ok=False",
        "at history position 0 the code asked for activity 'fraud_check'",
        "v2 deployed anyway: status=blocked",
        "replay check of v3: ok=True",
        "OK: the blocked instance completed after the fix",
    ],
    "replay_check_ci.py": ["replay check: 2 instance(s) checked, 0 diverged"],
    "versioning_patch.py": [
        "v1: order A waits for its payment",
        "fraud check for B",
        "A: shipped A",
        "B: shipped B (checked)",
        "A was started by 1.0 and last run by 2.0",
        "C: shipped C (checked)",
        "blocked instances: 0",
    ],
    "versioning_golden.py": [
        "exported format edda-history v1: ['activity']",
        "patched code: ok",
        'unguarded code: ["signup-1: position 1: expected the wait or timer the run was parked on there, '
        "actual activity 'send_welcome'",
    ],
    "hooks.py": [
        "workflow deliver started with {'address': 'Karl Johans gate 1'}",
        "geocode:0 attempt 1 failed (geocoder busy)",
        "workflow deliver completed: 'van 7 to 59.91,10.75'",
    ],
    "console_mount.py": ["waiting for input: True", "answer form field: True", "card number shown: False"],
    "run_control.py": [
        "failed: instance",
        "retry: applied",
        "result: ['reserved ORD-7', 'shipped ORD-7']",
        "reserve ran 1 time(s); ship ran 3 time(s)",
        "at position 1; reserve ran 1",
        "while paused: paused",
        "after unpause: ORD-8 approved by carol",
        "terminated: durable_core.errors:WorkflowTerminatedError",
        "journal: retry by ops@example.com (carrier is back) {'position': 1, 'removed': [1]}",
    ],
    "timers.py": ["after start: waiting", "reminder 2 sent to ada", "result: ['reminder-1', 'reminder-2']"],
    "queues.py": ["summary of contract for initech", "7 summaries, never more than 2 at once: True"],
    "debounce_singleton.py": [
        "reindexed: draft 5 - runs: 1",
        "second start returns the active instance: True",
        "queued start: queued",
        "then: synced acct-7",
    ],
    "otel_tracing.py": [
        "result: 108.0",
        "span 'activity fetch_rate' (child of workflow)",
        "span 'workflow convert' (root)",
    ],
    "storage.py": [
        "Invalid database URL 'redis://localhost/0'",
        "-- Edda MCP schema for sqlite",
        "purged 1 finished instance(s)",
    ],
    "events_approval.py": [
        "R-1 waits for ('expense.decided',)",
        "expected data fields: ['approved', 'approver']",
        "paying 120.00 for R-1",
        "R-1: PAID-R-1, approved by grace via manager-ui",
        "reminder: R-2 still needs a decision",
        "R-2: rejected by linus",
        "reminder: R-3 still needs a decision",
        "R-3: expired: no decision within 5 days",
    ],
    "events_delivery.py": [
        "alice: ['welcome, alice', 'your badge is ready', 'lunch is served']",
        "bob: ['lunch is served']",
    ],
    "events_http.py": [
        "binary mode: 202 {'status': 'accepted', 'event_id': 'pay-1'}",
        "result: ORD-1 paid 42 (event pay-1)",
        "structured mode: 202 {'status': 'accepted', 'event_id': 'pay-2'}",
        "result: ORD-2 paid 7 (event pay-2)",
        "malformed: 400 InvalidCloudEventError False",
        "cancel unknown: 404 InstanceNotFoundError",
        "wrong token: 403 ForbiddenError",
        "no token: 401",
    ],
    "events_wsgi.py": [
        "WSGI answer: 202 {'status': 'accepted', 'event_id': 'scan-1'}",
        "result: PCL-9 scanned at Leipzig",
    ],
    "channels_jobs.py": [
        "jobs done: [1, 2, 3, 4, 5, 6, 7, 8]",
        "each job exactly once: True",
        "worker waits on 'jobs'; history of its current run: ['subscribe:jobs']",
        "worker waits on 'jobs'; history of its current run: ['subscribe:jobs']",
    ],
    "channels_broadcast.py": [
        "ticker published 2 prices",
        "lobby: ['ACME=101', 'ACME=103', 'note: welcome']",
        "trading-floor: ['ACME=101', 'ACME=103', 'note: market closes early today']",
    ],
    "children_orders.py": [
        "shipping child id: <parent>.0",
        "A-1: {'receipt': 'PAY-A-1', 'tracking': 'TRACK-A-1'}",
        "B-2 failed: order B-2: payment child failed with TerminalError",
        "B-2 shipping child: cancelled (the parent workflow ended)",
    ],
    "recur_meter.py": [
        "acme month 1: 100 units -> 25.00",
        "acme month 4: 20 units -> 5.00",
        "total: 55.0",
        "history of the last run only: ['receive:usage', 'bill']",
    ],
    "parallel_shipping.py": [
        "activities run before the timer: {'book_courier': 3, 'make_label': 3}",
        "shipped: ['LBL-A-1 booked', 'LBL-B-2 booked', 'LBL-C-3 booked']",
        "activities run in all: {'book_courier': 3, 'make_label': 3}",
        "replay check ok: True",
    ],
    "concurrency_checkout.py": [
        "each cart waits for ('payment.completed',), ('cancellations',) or 00:15",
        "cart-1: paid 42",
        "cart-2: cancelled (customer changed their mind)",
        "cart-3: abandoned after 15 minutes",
        "visa: ['passport.pdf', 'photo.jpg', 'ada: no records']",
    ],
    "llamaindex_approval.py": [
        "streamed Status: {'message': 'proposal drafted'}",
        "streamed ApprovalRequest: {'prefix': 'Refund 42.50 to ada?'}",
        "waiting for: ('refund.decision',)",
        "first app stopped; the instance waits in the database",
        "result: T-ada: refunded 42.50",
        "step runs: {'draft': 1, 'ask': 1, 'settle': 1}",
        "OK: the approval survived a restart and no step ran twice",
    ],
    "llamaindex_mcp_server.py": [
        "tools: refund, refund_cancel, refund_respond, refund_result, refund_status",
        "waiting for ['refund.decision']; answer fields: ['decision']",
        "result: {'ticket': 'T-ada', 'asked': 'Refund 42.50 to ada?', 'decision': 'approve', 'refunded': 42.5}",
    ],
    "pydantic_ai_agent.py": [
        "result: Lyon: sunny in Lyon, 24 C",
        "model requests sent: 2 | tool calls made: 1",
        "1: forecaster__model.request",
        "2: forecaster__function_toolset__<agent>.call_tool:weather",
        "3: forecaster__model.request",
        "usage: 2 requests, 300 tokens",
    ],
    "pydantic_ai_rate_limit.py": [
        "result: ['answer 1', 'answer 2', 'answer 3']",
        "model requests sent: 3",
        "the third request waited for a grant: yes",
    ],
    "llm_budgets.py": [
        "failed: research-budget exceeded by a model request (cost 0.0135 of 0.01)",
        "model requests sent: 3",
        "usage: 3600 tokens, cost 0.0135, left 0.0",
    ],
    "pydantic_ai_mcp_server.py": [
        "waiting for: ['approve_refund'] {'pay': 'refund({\"amount\": 12.5, \"order_id\": \"A-7\"})'}",
        "result: Done: refunded 12.50 EUR for A-7",
    ],
    "pydantic_graph_mcp_server.py": [
        "tools: place_order, place_order_cancel, place_order_result, place_order_status",
        "place_order -> completed",
        "charge: PAY-A-7-29.50",
        "steps: ['priced', 'reserved', 'charged', 'confirmed']",
        "status: 4 steps completed",
    ],
    "pydantic_graph_orders.py": [
        "waiting for the fraud review timer",
        "first app stops while ship is running",
        "state after the graph: Payment(charge_id='ch_1', amount=33.0) ['stock checked', 'charged 33.00']",
        "result: shipped 2x book, 1x mug (paid by ch_1)",
        "position 4: activity order_flow.ship",
        "step runs: {'check_stock': 1, 'charge': 1, 'ship': 2}",
        "OK: the graph resumed after its last recorded step",
    ],
    "mirascope_agent.py": [
        "tool: search('",  # the two searches of one turn run concurrently: either may print first
        "tool: search('",
        "result: {'summary': 'Durable agents resume after crashes.', 'steps': 2, 'tokens': 495}",
        "position 0: mirascope.call:research",
        "position 3: mirascope.resume:research",
        "instance usage: 2 requests, 495 tokens",
        "replay check ok: True",
    ],
    "streams.py": [
        "seq 1 attempt 1: 'Durable'",
        "seq 4 attempt 2: ' streams' (after reconnecting)",
        "seq 6 attempt 2: ' tokens' (after reconnecting)",
        "result: Durable streams of tokens",
        "committed text: 'Durable streams of tokens'; abandoned attempt's chunks: ['Durable', ' streams']",
    ],
    "mirascope_stream_agent.py": [
        "streamed by step 0: Let me check the weather.",
        "streamed by step 2: It is 12 degrees in Oslo.",
        "answer: It is 12 degrees in Oslo.",
    ],
    "mcp_client.py": [
        "tools of the other server: ['reserve']",
        "result: ['reserved 2 x A-1', 'reserved 2 x B-2']",
        "history: ['mcp.list_tools:inventory', 'mcp.call_tool:inventory', 'mcp.call_tool:inventory']",
        "reservations made: ['A-1 x2', 'B-2 x2']",
    ],
    "mirascope_streaming.py": [
        "chunk: ' Edda'",
        "result: You said: Pitch Edda in one line.",
        "result: You said: Shorter, please.",
        "history: ['mirascope.stream:pitch', 'now', 'mirascope.request:slogan', 'now', 'sleep', 'mirascope.resume:slogan']",
        "provider requests: 3 (streamed: 1)",
    ],
    "mirascope_mcp_server.py": [
        "tools: research, research_cancel, research_result, research_status",
        "research -> completed",
        "summary: 2 searches done",
        "model_requests: 2",
        "tokens: 255",
    ],
    "mcp_greeting_server.py": [
        "tools: ['greet', 'greet_cancel', 'greet_result', 'greet_status']",
        "greet -> Hello, Dr. Ada! (instance",
        "greet_result -> Hello, Dr. Ada!",
    ],
    "mcp_order_server.py": [
        "tools: process_order, process_order_cancel, process_order_result, process_order_status",
        "process_order -> completed: {'order_id': 'A-100', 'status': 'completed', 'payment': 'PAY-A-100-25.00'",
        "status: 3 steps completed",
    ],
    "mcp_saga_cancel.py": [
        "book_trip -> waiting",
        "cancel: requested",
        "was cancelled",
        "OK: cancelling from MCP ran the compensations in reverse order",
    ],
    "mcp_approval.py": [
        "waiting for ['approval'] with fields ['approved', 'approver']",
        "bad answer refused:",
        "'approver' is a required property",
        "result: paid EXP-ann-420 (approved by mia)",
        "elicitation: expense_approval",
        "result: EXP-bob-99 rejected by leo",
        "== a 2026-07-28 client gets an input_required round and retries with the answer",
        "result: EXP-cai-15 rejected by leo",
    ],
    "mcp_remote_http.py": [
        "without a token: HTTP 401",
        "WWW-Authenticate: Bearer",
        "with a token: quarterly_report -> {'quarter': 'Q2', 'revenue': 135}",
    ],
    "mcp_compact.py": [
        "tools: ['refund_order', 'runs_cancel', 'runs_list', 'runs_result', 'runs_status', 'ship_order']",
        "runs_result -> parcel-A1",
        "runs_list(tool=refund_order) -> [('refund_order', 'completed')]",
    ],
    "mcp_tasks.py": [
        "task created: 32-char id",
        "input_required region: create_cluster",
        "task completed: db1.eu-north.example.net",
        "without the extension: waiting, no task",
    ],
    "mcp_demo.py": [
        "== 1. MCP client starts the order server over stdio",
        "-> tools/call process_order",
        "  instance id: ",
        '"steps_completed": 2, "last_completed_step": "process_payment", "current_step": "arrange_shipping"',
        "== 3. SIGKILL the server",
        "== 4. start the server again and ask for the result",
        '"tracking": "TRACK-ORD-42"',
        "reserve_inventory  ran 1 time(s)",
        "process_payment    ran 1 time(s)",
        "OK: the completed steps were not re-run; the workflow finished after the crash",
    ],
}


def example_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDDA_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_example(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name)],
        cwd=cwd,
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def test_every_example_is_covered() -> None:
    on_disk = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert on_disk == sorted(EXPECTED), "add new examples to EXPECTED (and remove deleted ones)"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, tmp_path: Path) -> None:
    result = run_example(name, tmp_path)
    report = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode == 0, f"{name} exited with {result.returncode}\n{report}"
    assert "Traceback" not in result.stderr, report
    position = 0
    for line in EXPECTED[name]:
        found = result.stdout.find(line, position)
        assert found >= 0, f"{name}: expected {line!r} (in order) in the output\n{report}"
        position = found + len(line)


def test_quickstart_keeps_its_database_in_the_working_directory(tmp_path: Path) -> None:
    assert run_example("quickstart.py", tmp_path).returncode == 0
    assert (tmp_path / "quickstart.db").is_file()
    # A second run on the same database starts a second order and still works.
    second = run_example("quickstart.py", tmp_path)
    assert second.returncode == 0 and "completed" in second.stdout, second.stderr


async def test_storage_example_runs_on_every_backend(db_url: str, tmp_path: Path) -> None:
    """examples/storage.py reads EDDA_DB_URL: run it on SQLite, PostgreSQL and MySQL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        str(EXAMPLES / "storage.py"),
        cwd=tmp_path,
        env=example_env(EDDA_DB_URL=db_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_SECONDS)
    output = stdout.decode()
    assert process.returncode == 0, f"{output}\n{stderr.decode()}"
    assert "-- Edda MCP schema for" in output and "purged 1 finished instance(s)" in output, output
