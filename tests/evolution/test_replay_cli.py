"""``edda-mcp replay MODULE`` for CI, ``edda-mcp instances export`` and ``replay_check(histories=...)``."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from durable_core import EddaApp, InstanceStatus
from edda_mcp.cli import main
from tests.crash.support import wait_until
from tests.evolution import versions
from tests.evolution.versions import EVENT

V2_MODULE = "tests.evolution.programs.shop_v2"
UNGUARDED_MODULE = "tests.evolution.programs.shop_unguarded"


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


async def _cli(*argv: str) -> tuple[int, str]:
    return await asyncio.to_thread(run_cli, *argv)


async def _recorded_by_v1(db_url: str) -> tuple[list[str], str]:
    """Two v1 runs waiting for the event and one finished; returns (waiting ids, finished id)."""
    async with EddaApp(db_url, "shop", workflows=list(versions.V1), poll_interval=0.1) as app:
        for n in range(3):
            await app.start("order", {"n": n}, instance_id=f"old-{n}")

        async def waiting() -> bool:
            return len(await app.list_instances(status=InstanceStatus.WAITING)) == 3

        await wait_until(waiting, "three runs wait")
        await app.send_event(EVENT, "test", {}, instance_id="old-2")
        assert await app.handle("old-2").result(timeout=30) == "old 2"
    return ["old-0", "old-1"], "old-2"


async def test_replay_of_a_plain_module_reports_each_blocking_instance(db_url: str) -> None:
    waiting, finished = await _recorded_by_v1(db_url)

    code, out = await _cli("replay", V2_MODULE, "--db", db_url)
    assert code == 0, out
    assert out.endswith("2 instance(s) checked, 0 would block\n")  # not finished only, by default
    assert finished not in out
    code, out = await _cli("replay", V2_MODULE, "--db", db_url, "--all")
    assert code == 0 and "3 instance(s) checked" in out and finished in out

    code, out = await _cli("replay", UNGUARDED_MODULE, "--db", db_url, "--running-only")
    assert code == 1, out
    for iid in waiting:
        assert f"{iid}  order  BLOCKS at position 1: expected the wait or timer" in out
    assert "actual activity 'audit'" in out and 'ctx.patched("<change-id>")' in out
    assert out.endswith("2 instance(s) checked, 2 would block\n")

    code, out = await _cli("replay", UNGUARDED_MODULE, "--db", db_url, "--json", "--workflow", "order")
    assert code == 1
    reports = json.loads(out)
    assert sorted(r["instance_id"] for r in reports) == waiting
    assert {(r["workflow"], r["ok"], r["position"]) for r in reports} == {("order", False, 1)}
    assert all(r["actual"].startswith("activity 'audit'") and r["message"] for r in reports)


async def test_replay_never_creates_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.db"
    code, out = await _cli("replay", V2_MODULE, "--db", f"sqlite:///{missing}")
    assert code == 1 and out == ""
    assert "nowhere.db" in (err := capsys.readouterr().err) and "does not exist" in err
    assert not missing.exists()
    code, _ = await _cli("replay", "tests.evolution.versions", "--db", f"sqlite:///{missing}")
    assert code == 1  # a module with several workflows of one name is not one deploy ...
    assert not missing.exists()


async def test_exported_histories_replay_without_a_database(db_url: str, tmp_path: Path) -> None:
    await _recorded_by_v1(db_url)
    for iid in ("old-0", "old-2"):
        code, out = await _cli("instances", "export", iid, "--db", db_url)
        assert code == 0, out
        (tmp_path / f"{iid}.json").write_text(out)
    code, shown = await _cli("instances", "show", "old-2", "--db", db_url)
    assert code == 0 and versions.code_version_of_v1() in shown  # show prints the code version
    exported = json.loads((tmp_path / "old-2.json").read_text())
    assert exported["format"] == "edda-history" and exported["format_version"] == 1
    assert exported["instance"]["status"] == "completed" and exported["instance"]["app_version"]
    assert [e["kind"] for e in exported["history"]] == ["activity", "wait", "activity"]
    assert exported["history"][2]["result"] == {"encoding": "json", "json": "old 2"}

    golden = [tmp_path / "old-0.json", tmp_path / "old-2.json"]
    empty = f"sqlite:///{tmp_path / 'golden.db'}"  # no rows: the histories come from the files
    async with EddaApp(empty, workflows=list(versions.V2), run_workers=False) as app:
        assert [(r.instance_id, r.ok) for r in await app.replay_check(histories=golden)] == [
            ("old-0", True),
            ("old-2", True),
        ]
    async with EddaApp(empty, workflows=list(versions.UNGUARDED), run_workers=False) as app:
        checked = await app.replay_check(histories=[json.loads(p.read_text()) for p in golden])
    assert [(r.ok, r.position) for r in checked] == [(False, 1), (False, 1)]
    assert checked[1].expected == "wait 'wait_event:go'" or checked[1].expected.startswith("wait ")
    async with EddaApp(empty, workflows=[], run_workers=False) as app:
        (unknown,) = await app.replay_check(histories=[golden[0]])
    assert not unknown.ok and "no workflow named 'order'" in unknown.message
