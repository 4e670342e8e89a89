"""Code versions: recorded on each instance at start and by each worker that runs it (all databases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_core import Catalog, ConfigurationError, EddaApp, InstanceStatus, WorkflowContext, workflow
from durable_core.engine.versions import code_hash
from tests.crash.support import wait_until
from tests.evolution import versions
from tests.evolution.versions import EVENT


async def test_versions_are_recorded_at_start_and_by_every_run(db_url: str) -> None:
    async with EddaApp(db_url, workflows=list(versions.V1), version="2026.12.1", poll_interval=0.1) as app:
        assert app.version == "2026.12.1"
        iid = await app.start("order", {"n": 1})

        async def waiting() -> bool:
            return (await app.get_instance(iid)).status is InstanceStatus.WAITING

        await wait_until(waiting, "the run waits")
        record = await app.get_instance(iid)
        assert (record.app_version, record.last_run_version) == ("2026.12.1", "2026.12.1")

    async with EddaApp(db_url, workflows=list(versions.V2), version="2026.12.2", poll_interval=0.1) as app:
        later = await app.start("order", {"n": 2})
        await app.send_event(EVENT, "test", {}, instance_id=iid)
        assert await app.handle(iid).result(timeout=30) == "old 1"
        record = await app.get_instance(iid)
        assert (record.app_version, record.last_run_version) == ("2026.12.1", "2026.12.2")
        assert [r.instance_id for r in await app.list_instances(version="2026.12.1")] == [iid]
        assert [r.instance_id for r in await app.list_instances(version="2026.12.2")] == [later]
        assert await app.list_instances(version="1999.1") == []


def test_default_version_hashes_the_served_workflow_code() -> None:
    v1 = EddaApp("sqlite:///:memory:", workflows=list(versions.V1), run_workers=False)
    again = EddaApp("sqlite:///:memory:", workflows=list(versions.V1), run_workers=False)
    v2 = EddaApp("sqlite:///:memory:", workflows=list(versions.V2), run_workers=False)
    assert v1.version == again.version == code_hash(versions.V1)
    assert v1.version.startswith("code:") and len(v1.version) == len("code:") + 12
    assert v2.version != v1.version  # the body of the workflow changed
    grows = Catalog(versions.V1)
    app = EddaApp("sqlite:///:memory:", workflows=grows, run_workers=False)
    before = app.version

    @workflow(catalog=Catalog())
    async def other(ctx: WorkflowContext) -> None:
        return None

    app.add_workflow(other)  # the hash covers every served workflow, also ones added later
    assert app.version != before


@pytest.mark.parametrize("bad", ["", "x" * 300, "nul\x00"])
def test_a_bad_version_is_a_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="version"):
        EddaApp("sqlite:///:memory:", version=bad, run_workers=False)


def test_an_mcp_servers_version_is_its_code_version(tmp_path: Path) -> None:
    from edda_mcp import EddaMCPServer

    db_url = f"sqlite:///{tmp_path / 'mcp.db'}"
    assert EddaMCPServer("shop", db_url=db_url, version="3.1.4").app.version == "3.1.4"
    assert EddaMCPServer("shop", db_url=db_url).app.version.startswith("code:")
