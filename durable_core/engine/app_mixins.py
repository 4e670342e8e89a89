"""The parts of :class:`~durable_core.engine.app.EddaApp`'s API kept in their own modules (one base).

``app.py`` is at its size cap, so each query area lives in a mixin module and ``EddaApp`` inherits this
one class: adding an area is one line here, none in ``app.py``.
"""

from __future__ import annotations

from durable_core.engine.app_control import RunControlAPI
from durable_core.engine.app_evolution import EvolutionAPI
from durable_core.engine.app_flow import FlowAPI
from durable_core.engine.app_operations import OperationsAPI
from durable_core.engine.app_queries import OperatorAPI
from durable_core.engine.app_schedules import SchedulesAPI
from durable_core.engine.app_streams import StreamsAPI
from durable_core.engine.app_usage import UsageAPI

__all__ = ["AppQueries"]


class AppQueries(
    OperationsAPI, OperatorAPI, EvolutionAPI, RunControlAPI, StreamsAPI, SchedulesAPI, FlowAPI, UsageAPI
):
    """Every API area of ``EddaApp`` kept outside ``app.py``.

    Outbox and metrics queries, the console's operator queries and action journal, run control, code versions and replay checks, output streams, schedules,
    queues and rate limits, and LLM usage.
    """
