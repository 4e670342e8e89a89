"""Liveness and readiness endpoints for orchestrators and load balancers: ``/healthz`` and ``/readyz``.

``/healthz`` answers 200 while the process serves HTTP at all (restart the process when it does not).
``/readyz`` answers 200 only when the engine is running and its database answered a query within the
timeout, else 503 (take the replica out of the load balancer, do not restart it: a database outage is
not cured by restarts). Neither needs a token, so probes work without credentials, and neither reveals
more than one word of why: no URL, no error text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from durable_core import EddaApp, EddaError

#: seconds the readiness probe waits for the database
READY_TIMEOUT: Final = 2.0


def health_routes(engine: Callable[[], EddaApp], *, timeout: float = READY_TIMEOUT) -> list[Route]:
    """The ``/healthz`` and ``/readyz`` routes of an app serving ``engine()``.

    Args:
        engine: returns the engine to probe (called per request, so a replaced engine is seen).
        timeout: seconds ``/readyz`` waits for the database before answering 503.
    """

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        try:
            await asyncio.wait_for(engine().list_instances(limit=1), timeout)
        except TimeoutError:
            return JSONResponse({"status": "unavailable", "reason": "database timeout"}, status_code=503)
        except EddaError as error:  # not started yet, or the database refused / is unreachable
            return JSONResponse({"status": "unavailable", "reason": type(error).__name__}, status_code=503)
        return JSONResponse({"status": "ready"})

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]


__all__ = ["READY_TIMEOUT", "health_routes"]
