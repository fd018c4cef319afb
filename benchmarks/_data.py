"""The order document the benchmarks share (about 1 KB, 5 items)."""

from __future__ import annotations

from typing import Any


def order_document() -> dict[str, Any]:
    """A paid order as a workflow engine would pass it between nodes."""
    items = [
        {"sku": "SKU-1001", "name": "Widget", "price": 4.5, "qty": 2},
        {"sku": "SKU-1002", "name": "Gadget", "price": 12, "qty": 1},
        {"sku": "SKU-1003", "name": "Sprocket", "price": 7.25, "qty": 4},
        {"sku": "SKU-1004", "name": "Flange", "price": 19.99, "qty": 1},
        {"sku": "SKU-1005", "name": "Grommet", "price": 0.5, "qty": 100},
    ]
    for item in items:
        item["tags"] = ["hardware", "in-stock"]
    return {
        "order": {
            "id": "ord-20240611-0042",
            "created": "2024-06-11T09:30:00Z",
            "status": "paid",
            "user": {
                "id": "u-1029",
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "tier": "gold",
            },
            "shipping": {
                "street": "12 Analytical Row",
                "city": "London",
                "postcode": "N1 9GU",
                "country": "GB",
            },
            "items": items,
            "total": 181.49,
        },
        "meta": {"region": "eu-west-1", "source": "web", "trace": "a1b2c3d4e5"},
    }
