"""SIGKILL while an activity streams: the reader sees the cut-off attempt's chunks marked ABANDONED.

``speaker`` runs ``sp1`` then ``sp2``; each writes three chunks to stream ``tokens`` and then its side
effect. The first worker is killed inside ``sp2``'s side effect (its chunks are stored); a second worker
re-runs ``sp2`` as attempt 2. A reader following with a cursor across the crash misses no chunk.
"""

from __future__ import annotations

from durable_core import ChunkStatus
from tests.crash.support import EffectLog, WorkerPool, assert_nothing_stranded, client, wait_until

IID = "speaker-1"


async def test_killed_mid_stream_marks_the_partial_attempt(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    async with client(db_url) as app:
        first = await workers.spawn("--hold", "sp2")
        await app.start("speaker", {"n": 1}, instance_id=IID)
        await wait_until(
            lambda: effects.counts()["start", IID, "sp2"] == 1, "sp2 started", explain=workers.diagnostics
        )
        before = await app.read_stream(IID, "tokens")
        assert [(c.data, c.status) for c in before.chunks] == [
            ("sp1.1.0", ChunkStatus.COMMITTED),
            ("sp1.1.1", ChunkStatus.COMMITTED),
            ("sp1.1.2", ChunkStatus.COMMITTED),
            ("sp2.1.0", ChunkStatus.IN_FLIGHT),
            ("sp2.1.1", ChunkStatus.IN_FLIGHT),
            ("sp2.1.2", ChunkStatus.IN_FLIGHT),
        ]
        await first.kill()
        await workers.spawn()
        assert await app.wait_result(IID, timeout=30) == ["sp1:1", "sp2:1"]
        # a reader that had stopped at its cursor goes on after it: nothing missed, nothing repeated
        after = [c async for c in app.follow_stream(IID, "tokens", after=before.cursor)]
        assert [c.seq for c in after] == [7, 8, 9]
        page = await app.read_stream(IID, "tokens")
        assert [(c.data, c.position, c.attempt, c.status) for c in page.chunks] == [
            ("sp1.1.0", 0, 1, ChunkStatus.COMMITTED),
            ("sp1.1.1", 0, 1, ChunkStatus.COMMITTED),
            ("sp1.1.2", 0, 1, ChunkStatus.COMMITTED),
            ("sp2.1.0", 1, 1, ChunkStatus.ABANDONED),
            ("sp2.1.1", 1, 1, ChunkStatus.ABANDONED),
            ("sp2.1.2", 1, 1, ChunkStatus.ABANDONED),
            ("sp2.2.0", 1, 2, ChunkStatus.COMMITTED),
            ("sp2.2.1", 1, 2, ChunkStatus.COMMITTED),
            ("sp2.2.2", 1, 2, ChunkStatus.COMMITTED),
        ]
        assert effects.counts()["done", IID, "sp1"] == 1
        await assert_nothing_stranded(app)
