"""Waiting for a log message without sleeping."""

from __future__ import annotations

import asyncio
import logging


class MessageSeen(logging.Handler):
    """An asyncio event set once a log record of ``logger`` contains ``text`` (while installed)."""

    def __init__(self, logger: str, text: str) -> None:
        super().__init__(logging.WARNING)
        self.text = text
        self.event = asyncio.Event()
        self._logger = logging.getLogger(logger)

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()

    def __enter__(self) -> MessageSeen:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
