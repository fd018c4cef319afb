"""The functions of examples/flow.json, as plain Python handlers.

``flowmap run`` registers every top-level function under its name; the flow
names them by URN (``...:function:default:check_order:latest``), whose name
part is what is looked up.
"""

from typing import Any


class StockServiceBusy(Exception):
    """The stock service asks the caller to try again."""


def check_order(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    if not event["items"]:
        raise ValueError(f"order {event['order_id']} has no items")
    return {"customer": event["customer"], "currency": event["currency"]}


def price_order(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    net = sum(item["price"] * item["qty"] for item in event["items"])
    net *= 1 - event["discount"] / 100
    return {"total": round(net * (1 + event["tax_rate"]), 2)}


async def reserve_stock(event: dict[str, Any], context: dict[str, Any]) -> Any:
    # Busy on the first call of each execution, to show a retried failure.
    if context["attempt"] == 1:
        raise StockServiceBusy("the stock service is busy, try again")
    return {"reservation": f"R-{event['order_id']}-{len(event['skus'])}"}


def notify(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    # With --merge the event also holds the previous state's data (total,
    # reservation, ...), with the mapped arguments over it.
    total = event.get("total", "?")
    currency = event.get("currency", "")
    return {
        "receipt": {
            "to": event["to"],
            "channel": event["channel"],
            "text": f"Order {event['order']['id']}: {total} {currency}"
            if "order" in event
            else "Your order is on its way",
            "reservation": event.get("reservation"),
            "trace": event["trace"],
        }
    }
