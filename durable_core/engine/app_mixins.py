"""The parts of :class:`~durable_core.engine.app.EddaApp`'s API kept in their own modules (one base).

``app.py`` is at its size cap, so each query area lives in a mixin module and ``EddaApp`` inherits this
one class: adding an area is one line here, none in ``app.py``.
"""

from __future__ import annotations

from durable_core.engine.app_outbox import OutboxAPI
from durable_core.engine.app_usage import UsageAPI

__all__ = ["AppQueries"]


class AppQueries(OutboxAPI, UsageAPI):
    """Outbox listing/purging and LLM usage queries."""
