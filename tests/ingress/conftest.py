"""Fixtures for the CloudEvents ingress tests: a fake sink and an httpx client speaking ASGI to the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from durable_core.ingress import CloudEventsASGI
from tests.ingress.fakes import FakeSink


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def ingress(sink: FakeSink) -> CloudEventsASGI:
    return CloudEventsASGI(sink, max_body_bytes=4096)


@pytest.fixture
async def client(ingress: CloudEventsASGI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ingress)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress.test") as http:
        yield http
