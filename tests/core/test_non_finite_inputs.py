"""NaN and Infinity are not JSON numbers: a start with one is refused naming the field, nothing is stored."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import BaseModel

from durable_core import Catalog, InputValidationError, WorkflowContext, workflow


class Line(BaseModel):
    sku: str
    price: float


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"amount": math.nan}, "amount"),
        ({"amount": 1.0, "limits": {"daily": math.inf}}, r"limits\.daily"),
        (
            {"amount": 1.0, "lines": [{"sku": "a", "price": 1.0}, {"sku": "b", "price": -math.inf}]},
            r"lines\.1\.price",
        ),
    ],
)
async def test_non_finite_numbers_are_refused_naming_the_field(
    make_app: Any, catalog: Catalog, arguments: dict[str, Any], field: str
) -> None:
    @workflow(catalog=catalog)
    async def charge(
        ctx: WorkflowContext,
        amount: float,
        limits: dict[str, float] | None = None,
        lines: list[Line] | None = None,
    ) -> float:
        return amount

    app = await make_app()
    with pytest.raises(
        InputValidationError, match=rf"invalid input {field}: NaN and Infinity are not JSON numbers"
    ):
        await app.start(charge, arguments)
    assert await app.list_instances() == []
    assert await charge.start_and_wait(amount=2.5) == 2.5  # finite numbers still pass
