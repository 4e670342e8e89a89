"""``edda-mcp schedules ...`` on every database: create, list (--json), pause, resume, trigger, delete."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from edda_mcp.cli import main


async def cli(*argv: str) -> tuple[int, str]:
    """Run the command line in a thread (it runs its own event loop)."""

    def run() -> tuple[int, str]:
        out = io.StringIO()
        return main(list(argv), out=out), out.getvalue()

    return await asyncio.to_thread(run)


async def test_schedules_commands(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await cli(
        "schedules", "create", "nightly", "report", "--db", db_url, "--cron", "0 3 * * *",
        "--timezone", "Europe/Paris", "--args", '{"region": "eu"}', "--overlap", "buffer_one",
    )  # fmt: skip
    assert code == 0 and out.startswith("created nightly: next tick "), out
    code, out = await cli(
        "schedules", "create", "often", "report", "--db", db_url, "--every", "90", "--paused"
    )
    assert code == 0

    code, out = await cli("schedules", "list", "--db", db_url, "--json")
    listed = {s["schedule_id"]: s for s in json.loads(out)}
    assert set(listed) == {"nightly", "often"}
    nightly = listed["nightly"]
    assert nightly["cron"] == "0 3 * * *" and nightly["timezone"] == "Europe/Paris"
    assert nightly["args"] == {"region": "eu"} and nightly["overlap"] == "buffer_one"
    assert nightly["catch_up"] == "latest" and nightly["paused"] is False and nightly["last_fire_at"] is None
    assert listed["often"]["every_seconds"] == 90.0 and listed["often"]["paused"] is True

    code, out = await cli("schedules", "resume", "often", "--db", db_url)
    assert code == 0 and "resumed, next tick" in out
    code, out = await cli("schedules", "pause", "nightly", "--db", db_url)
    assert (code, out) == (0, "nightly: paused\n")
    code, out = await cli("schedules", "list", "--db", db_url)
    lines = out.splitlines()
    assert lines[0].startswith("nightly") and "paused" in lines[0] and "last never" in lines[0]
    assert lines[1].startswith("often") and "every 0:01:30" in lines[1]

    code, out = await cli("schedules", "trigger", "nightly", "--db", db_url)
    assert code == 0 and out.startswith("started nightly@")
    code, out = await cli("schedules", "list", "--db", db_url, "--json")
    last = json.loads(out)[0]
    assert last["last_instance_id"] is not None and last["last_instance_id"].startswith("nightly@")

    assert (await cli("schedules", "delete", "often", "--db", db_url)) == (0, "deleted often\n")
    assert (await cli("schedules", "delete", "often", "--db", db_url)) == (1, "no schedule 'often'\n")
    capsys.readouterr()
    code, _ = await cli("schedules", "pause", "often", "--db", db_url)
    assert code == 1 and "no schedule with id 'often'" in capsys.readouterr().err
    code, _ = await cli("schedules", "create", "bad", "report", "--db", db_url, "--cron", "0 25 * * *")
    assert code == 1 and "not a valid 5-field cron expression" in capsys.readouterr().err
