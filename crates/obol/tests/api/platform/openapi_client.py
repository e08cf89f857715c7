"""Pays an order through a client generated from Obol's /openapi.json.

Run by the test `platform::openapi_tools` (crates/obol/tests/api/platform/
openapi_tools.rs), which serves Obol, generates the package `obol_client`
with openapi-python-client and puts it on PYTHONPATH:

    openapi_client.py BASE_URL SECRET_KEY

The brand of SECRET_KEY has a sandbox card account. Every call goes through
the generated code, so every request body is built from the document's
schemas and every answer is parsed by them: a schema that does not match
what the server sends fails here. Exits non-zero with the reason on any
mismatch.
"""

import sys

from obol_client import AuthenticatedClient
from obol_client.api.customers import create_customer
from obol_client.api.orders import confirm_order, create_order, get_order, list_orders
from obol_client.models import (
    CardInput,
    ConfirmOrder,
    CreateCustomer,
    CreateOrder,
    Customer,
    Error,
    ListOrder,
    Order,
    PaymentMethodInput,
)

AMOUNT = 8925
CARD = "4242424242424242"


def check(condition, what):
    if not condition:
        sys.exit(f"openapi_client.py: {what}")


def parsed(response, model, what):
    """The answer of `response` as `model`, which its status must give."""
    check(
        isinstance(response.parsed, model),
        f"{what}: answered {int(response.status_code)} {response.content!r}, "
        f"parsed as {type(response.parsed).__name__}, not {model.__name__}",
    )
    return response.parsed


def main(base_url, secret_key):
    # An undocumented status raises: the document lists every answer.
    client = AuthenticatedClient(
        base_url=base_url, token=secret_key, raise_on_unexpected_status=True
    )
    with client:
        customer = parsed(
            create_customer.sync_detailed(
                client=client, body=CreateCustomer(email="client@example.com")
            ),
            Customer,
            "POST /v1/customers",
        )
        check(customer.id.startswith("cus_"), f"customer id {customer.id}")

        order = parsed(
            create_order.sync_detailed(
                client=client,
                body=CreateOrder(amount=AMOUNT, currency="EUR", customer_id=customer.id),
            ),
            Order,
            "POST /v1/orders",
        )
        check(order.status == "in_progress", f"new order is {order.status}")

        card = CardInput(number=CARD, exp_month=12, exp_year=2030, cvc="123")
        confirm = ConfirmOrder(payment_method=PaymentMethodInput(type_="card", card=card))
        paid = parsed(
            confirm_order.sync_detailed(order.id, client=client, body=confirm),
            Order,
            "POST /v1/orders/{id}/confirm",
        )
        # As the sandbox pays 4242…: one sale, succeeded, all captured.
        check(paid.status == "paid", f"confirmed order is {paid.status}")
        check(paid.customer_id == customer.id, f"order customer {paid.customer_id}")
        check(paid.amount_authorized == AMOUNT, f"authorized {paid.amount_authorized}")
        check(paid.amount_captured == AMOUNT, f"captured {paid.amount_captured}")
        check(len(paid.payments) == 1, f"{len(paid.payments)} payments")
        sale = paid.payments[0]
        check(
            (sale.kind, sale.status, sale.connector, sale.amount)
            == ("sale", "succeeded", "sandbox", AMOUNT),
            f"payment {sale.kind} {sale.status} {sale.connector} {sale.amount}",
        )

        again = parsed(
            get_order.sync_detailed(order.id, client=client), Order, "GET /v1/orders/{id}"
        )
        check(again.status == "paid", f"read back as {again.status}")

        page = parsed(
            list_orders.sync_detailed(client=client, customer_id=customer.id),
            ListOrder,
            "GET /v1/orders",
        )
        check(
            [o.id for o in page.data] == [order.id] and page.has_more is False,
            f"list: {[o.id for o in page.data]} has_more={page.has_more}",
        )

        # An error answer parses as the one `Error` schema.
        answer = confirm_order.sync_detailed(order.id, client=client, body=confirm)
        refused = parsed(answer, Error, "POST /v1/orders/{id}/confirm again")
        check(int(answer.status_code) == 409, f"confirm again answered {answer.status_code}")
        check(refused.error.code == "invalid_state", f"error code {refused.error.code}")
    print(f"paid {order.id} through the generated client")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: openapi_client.py BASE_URL SECRET_KEY")
    main(sys.argv[1], sys.argv[2])
