"""The tools/list sizes documented in docs/mcp.md are what bench/tool_list_size.py measures.

Tool counts must match exactly; bytes within 15%, so that a reworded description elsewhere does not
fail this test but a change in what the styles list does.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from edda_mcp import ToolStyle

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| [^|]+ \|$")


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_edda_bench_tool_list_size", ROOT / "bench" / "tool_list_size.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def documented() -> dict[int, tuple[int, int, int, int]]:
    rows = [ROW.match(line) for line in (ROOT / "docs" / "mcp.md").read_text(encoding="utf-8").splitlines()]
    table = {int(m[1]): (int(m[2]), int(m[3]), int(m[4]), int(m[5])) for m in rows if m}
    assert sorted(table) == [1, 3, 10], table
    return table


async def test_documented_sizes_match_the_benchmark(tmp_path: Path) -> None:
    bench = bench_module()
    for size, (full_tools, full_bytes, compact_tools, compact_bytes) in documented().items():
        tools = bench.TOOLS[:size]
        full = await bench.measure(tools, ToolStyle.FULL, f"sqlite:///{tmp_path / f'full{size}.db'}")
        compact = await bench.measure(tools, ToolStyle.COMPACT, f"sqlite:///{tmp_path / f'compact{size}.db'}")
        assert (full["tools"], compact["tools"]) == (full_tools, compact_tools), size
        assert abs(full["bytes"] - full_bytes) <= 0.15 * full_bytes, (size, full)
        assert abs(compact["bytes"] - compact_bytes) <= 0.15 * compact_bytes, (size, compact)
    assert compact["bytes"] < full["bytes"] / 2  # ten durable tools: the compact listing is under half
