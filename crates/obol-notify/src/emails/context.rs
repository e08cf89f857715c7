//! What each email's template may name, built from its event's object (an
//! order, a webhook endpoint) as opaque JSON, and the sample contexts a
//! brand's template is checked against.

use obol_core::Timestamp;
use obol_store::brands::BrandRow;
use serde_json::{Value, json};

/// The brand as its customers know it.
fn brand(row: &BrandRow) -> Value {
    json!({
        "name": row.display_name.as_deref().unwrap_or(&row.name),
        "support_email": row.support_email,
    })
}

/// `2026-11-23 10:00 UTC`.
pub fn date(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}

/// The order's lines, each with its amount (quantity times unit amount).
fn items(order: &Value) -> Value {
    let Some(items) = order["items"].as_array() else {
        return json!([]);
    };
    items
        .iter()
        .map(|item| {
            let amount = item["quantity"]
                .as_i64()
                .zip(item["unit_amount"].as_i64())
                .and_then(|(quantity, unit)| quantity.checked_mul(unit));
            json!({
                "name": item["name"],
                "quantity": item["quantity"],
                "unit_amount": item["unit_amount"],
                "amount": amount,
            })
        })
        .collect()
}

fn payments(order: &Value) -> impl Iterator<Item = &Value> {
    order["payments"].as_array().into_iter().flatten()
}

/// The card that paid: the succeeded payment's, else any payment's.
fn card(order: &Value) -> Value {
    let has_card = |payment: &&Value| payment["payment_method"]["last4"].is_string();
    let paid = payments(order)
        .filter(has_card)
        .find(|payment| payment["status"] == "succeeded" && payment["kind"] != "refund")
        .or_else(|| payments(order).find(has_card));
    match paid {
        Some(payment) => json!({
            "brand": payment["payment_method"]["brand"].as_str().unwrap_or("card"),
            "last4": payment["payment_method"]["last4"],
        }),
        None => Value::Null,
    }
}

/// The refund the event reports: the newest succeeded refund of the order,
/// else all that the order had refunded.
fn refund_amount(order: &Value) -> Value {
    payments(order)
        .filter(|payment| payment["kind"] == "refund" && payment["status"] == "succeeded")
        .max_by(|a, b| {
            let at = |payment: &Value| payment["created_at"].as_str().unwrap_or("").to_owned();
            at(a).cmp(&at(b))
        })
        .map(|refund| refund["amount"].clone())
        .unwrap_or_else(|| order["amount_refunded"].clone())
}

/// The context of a payment or refund confirmation of `order`.
pub fn order(row: &BrandRow, order: &Value, at: Timestamp) -> Value {
    json!({
        "brand": brand(row),
        "order": {
            "id": order["id"],
            "amount": order["amount"],
            "currency": order["currency"],
            "amount_refunded": order["amount_refunded"],
            "description": order["description"],
            "customer_email": order["customer_email"],
            "payment_link": order["payment_link"],
        },
        "items": items(order),
        "card": card(order),
        "refund": {"amount": refund_amount(order)},
        "date": date(at),
        // No receipt page yet: the payment link shows the paid order.
        "receipt_url": order["payment_link"],
    })
}

/// The context of an invoice's email: the invoice as its event shows it,
/// with its due date as a day.
pub fn invoice(row: &BrandRow, invoice: &Value, at: Timestamp) -> Value {
    let due_date = invoice["due_date"]
        .as_str()
        .and_then(Timestamp::parse_rfc3339)
        .map(date);
    json!({
        "brand": brand(row),
        "invoice": {
            "id": invoice["id"],
            "number": invoice["number"],
            "order_id": invoice["order_id"],
            "currency": invoice["currency"],
            "lines": invoice["lines"],
            "total": invoice["total"],
            "amount_due": invoice["amount_due"],
            "due_date": due_date,
            "hosted_invoice_url": invoice["hosted_invoice_url"],
        },
        "date": date(at),
    })
}

/// The context of the email about a failing webhook endpoint.
pub fn endpoint(row: &BrandRow, endpoint: &Value, at: Timestamp) -> Value {
    json!({
        "brand": brand(row),
        "endpoint": {
            "id": endpoint["id"],
            "url": endpoint["url"],
            "description": endpoint["description"],
        },
        "date": date(at),
    })
}

/// A brand for the samples, with or without its optional settings.
fn sample_brand(full: bool) -> BrandRow {
    BrandRow {
        id: obol_core::BrandId::from("brd_sample"),
        name: "Acme".into(),
        parent_brand_id: None,
        commission_rate_bps: 0,
        default_currency: None,
        clearing_days: 2,
        support_email: full.then(|| "help@acme.example".into()),
        display_name: full.then(|| "Acme Shop".into()),
        logo_url: None,
        primary_color: None,
        webhook_secret_ciphertext: String::new(),
        sender_name: None,
        sender_email: None,
        invoice_prefix: None,
        dunning_retry_days: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// Contexts of template `name` to check a brand's version against: every
/// optional value set, then none.
pub fn samples(name: &str) -> Vec<Value> {
    let at = Timestamp::from_ms(1_795_428_000_000);
    [true, false]
        .into_iter()
        .map(|full| {
            let brand = sample_brand(full);
            if name == super::ENDPOINT_FAILING {
                let endpoint = json!({
                    "id": "whe_sample",
                    "url": "https://shop.example/hooks",
                    "description": full.then_some("Orders"),
                });
                return self::endpoint(&brand, &endpoint, at);
            }
            if name == super::INVOICE {
                let invoice = json!({
                    "id": "inv_sample", "number": "ACME-000042", "order_id": "ord_sample",
                    "currency": if full { "EUR" } else { "JPY" },
                    "lines": [{"description": "Pro plan", "quantity": 1, "amount": 8925}],
                    "total": 8925, "amount_due": 8925,
                    "due_date": full.then_some("2026-12-11T10:00:00Z"),
                    "hosted_invoice_url": "https://pay.example/invoices/inv_sample?sig=x",
                });
                return self::invoice(&brand, &invoice, at);
            }
            let order = if full {
                json!({
                    "id": "ord_sample", "amount": 8925, "currency": "EUR", "amount_refunded": 2500,
                    "description": "Pro plan", "customer_email": "ann@example.com",
                    "payment_link": "https://pay.example/pay/ord_sample",
                    "items": [{"name": "Pro plan", "quantity": 1, "unit_amount": 8925}],
                    "payments": [
                        {"kind": "sale", "status": "succeeded", "amount": 8925,
                         "payment_method": {"type": "card", "brand": "visa", "last4": "4242"}},
                        {"kind": "refund", "status": "succeeded", "amount": 2500,
                         "created_at": "2026-11-23T10:00:00Z"},
                    ],
                })
            } else {
                json!({
                    "id": "ord_sample", "amount": 500, "currency": "JPY", "amount_refunded": 500,
                    "description": null, "customer_email": "ann@example.com",
                    "payment_link": "https://pay.example/pay/ord_sample",
                    "items": null, "payments": [],
                })
            };
            self::order(&brand, &order, at)
        })
        .collect()
}
