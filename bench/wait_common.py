"""Helpers shared by the wait benchmarks (standard library only, importable from both venvs).

Percentiles of latency samples that may include trials that never finished (kept as ``None`` and
ranked as infinitely slow, so a percentile that lands on one reads "did not finish"), and the
command-line options every wait benchmark has.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

from wait_engines import ENGINES

EXIT_UNAVAILABLE = 3  # as in core_throughput.py: our engine is not importable (yet)


def percentile(samples: Sequence[float | None], q: float) -> float | None:
    """Nearest-rank ``q``-quantile (0 < q <= 1); ``None`` samples rank last; None if it lands on one."""
    if not samples:
        return None
    ranked = sorted(samples, key=lambda v: math.inf if v is None else v)
    value = ranked[max(0, math.ceil(q * len(ranked)) - 1)]
    return value


def summarize_ms(samples_s: Sequence[float | None]) -> dict[str, Any]:
    """p50 / p90 / p99 / min / max / mean in milliseconds of samples given in seconds.

    Unfinished samples (``None``) count in the percentiles as slower than everything else; ``min``,
    ``max`` and ``mean`` are over finished samples only.
    """
    done = [v for v in samples_s if v is not None]

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 3)

    return {
        "n": len(samples_s),
        "finished": len(done),
        "unfinished": len(samples_s) - len(done),
        "p50_ms": ms(percentile(samples_s, 0.5)),
        "p90_ms": ms(percentile(samples_s, 0.9)),
        "p99_ms": ms(percentile(samples_s, 0.99)),
        "min_ms": ms(min(done)) if done else None,
        "max_ms": ms(max(done)) if done else None,
        "mean_ms": ms(sum(done) / len(done)) if done else None,
    }


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    """``--engine``, ``--db-url`` and ``--sqlite-pragmas`` (edda only), shared by every wait benchmark."""
    parser.add_argument("--engine", choices=ENGINES, required=True)
    parser.add_argument("--db-url", required=True, help="sqlite:///FILE or postgresql://USER@127.0.0.1/DB")
    parser.add_argument(
        "--sqlite-pragmas",
        choices=["same", "stock"],
        default="same",
        help="edda only: same = WAL + synchronous=FULL like ours (default); stock = edda's own",
    )


def loop_name() -> str:
    """Name of the running event loop's implementation (``asyncio`` or ``uvloop``)."""
    import asyncio

    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def engine_unavailable(engine: str) -> str:
    """Why our engine cannot run the wait benchmarks (an import error or missing API), or ``""``.

    Only ``durable_core`` is checked (the peer venv is validated by ``peer_setup.py``).
    """
    if engine != "durable_core":
        return ""
    try:
        import durable_core as dc

        for name in ("EddaApp", "wait_event", "sleep_until", "Catalog", "InstanceStatus"):
            getattr(dc, name)
    except Exception as exc:  # ImportError, AttributeError, or anything a half-written package raises
        return f"{type(exc).__name__}: {exc}"
    return ""
