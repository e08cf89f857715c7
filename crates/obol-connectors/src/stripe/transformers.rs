//! Stripe's wire format: the form parameters Obol sends, the objects Stripe
//! answers with, amounts in Stripe's unit, and what they mean in Obol's
//! normalized terms.

use crate::{AuthorizeRequest, ConnectorError, CustomerRef, Operation, Outcome, StoredMandate};
use obol_core::card::CardDetails;
use obol_core::{Currency, Money};
use serde::Deserialize;
use std::collections::HashMap;

/// The metadata key holding Obol's transaction id on every object Obol
/// creates at Stripe: sync finds an object whose answer was lost by it.
pub const TRANSACTION_METADATA: &str = "obol_transaction_id";

/// The metadata key marking a payment or setup that keeps its card as a
/// mandate, so that a later sync can answer with the mandate too.
pub(super) const MANDATE_METADATA: &str = "obol_setup_mandate";

/// A form-encoded body or query in Stripe's bracket keys (`card[number]`).
/// Its `Debug` shows the keys only: a card's number and CVC may be values.
#[derive(Clone, Default)]
pub(super) struct Form(Vec<(String, String)>);

impl Form {
    pub(super) fn new() -> Form {
        Form::default()
    }

    pub(super) fn with(mut self, key: &str, value: impl ToString) -> Form {
        self.0.push((key.to_owned(), value.to_string()));
        self
    }

    pub(super) fn with_some(self, key: &str, value: Option<impl ToString>) -> Form {
        match value {
            Some(value) => self.with(key, value),
            None => self,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn encode(&self) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        serializer.extend_pairs(self.0.iter().map(|(key, value)| (key, value)));
        serializer.finish()
    }
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(key, _)| key))
            .finish()
    }
}

/// Stripe's zero-decimal currencies: `amount` counts whole units.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// Stripe's three-decimal currencies: `amount` counts thousandths, and its
/// last digit must be 0.
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// How Stripe counts a currency: its digits after the decimal point, and
/// the step its `amount` must be a multiple of.
fn stripe_unit(currency: Currency) -> Result<(u32, i64), ConnectorError> {
    let code = currency.code();
    if ZERO_DECIMAL.contains(&code) {
        return Ok((0, 1));
    }
    if THREE_DECIMAL.contains(&code) {
        return Ok((3, 10));
    }
    match (code, currency.exponent()) {
        // Whole krónur only, still written with two decimals (100 = 1 ISK).
        ("ISK", _) => Ok((2, 100)),
        // ISO's other three-decimal currencies (IQD, LYD): Stripe lists no
        // unit for them, and a guessed one could charge ten times the price.
        (_, 3) => Err(ConnectorError::Invalid(format!(
            "Stripe does not take payments in {code}"
        ))),
        // HUF and TWD too: two decimals for charges (whole units for payouts only).
        _ => Ok((2, 1)),
    }
}

/// Obol's minor units as Stripe's `amount`, exactly: an amount Stripe cannot
/// represent is refused, never rounded.
pub fn to_stripe_amount(money: Money) -> Result<i64, ConnectorError> {
    let (stripe_exponent, step) = stripe_unit(money.currency)?;
    let obol_exponent = u32::from(money.currency.exponent());
    let code = money.currency.code();
    let amount = money.amount_minor;
    let converted = if stripe_exponent >= obol_exponent {
        amount
            .checked_mul(10_i64.pow(stripe_exponent - obol_exponent))
            .ok_or_else(|| ConnectorError::Invalid(format!("the {code} amount is too large")))?
    } else {
        let factor = 10_i64.pow(obol_exponent - stripe_exponent);
        if amount % factor != 0 {
            return Err(ConnectorError::Invalid(format!(
                "Stripe charges {code} in whole units: {amount} is not a multiple of {factor}"
            )));
        }
        amount / factor
    };
    if converted % step != 0 {
        return Err(ConnectorError::Invalid(format!(
            "Stripe takes {code} amounts in steps of {step} of its unit: {amount} is not one"
        )));
    }
    Ok(converted)
}

/// Stripe's `amount` in Obol's minor units, exactly.
pub fn from_stripe_amount(amount: i64, currency: Currency) -> Result<i64, ConnectorError> {
    let (stripe_exponent, _) = stripe_unit(currency)?;
    let obol_exponent = u32::from(currency.exponent());
    let unreadable = || ConnectorError::Provider {
        http_code: None,
        message: format!(
            "Stripe reported {amount} in {}, not a whole number of minor units",
            currency.code()
        ),
    };
    if stripe_exponent >= obol_exponent {
        let factor = 10_i64.pow(stripe_exponent - obol_exponent);
        if amount % factor != 0 {
            return Err(unreadable());
        }
        Ok(amount / factor)
    } else {
        amount
            .checked_mul(10_i64.pow(obol_exponent - stripe_exponent))
            .ok_or_else(unreadable)
    }
}

/// The currency of a Stripe object (`eur`), as Obol knows it.
pub(super) fn currency_of(code: &str) -> Result<Currency, ConnectorError> {
    Currency::parse(&code.to_ascii_uppercase()).ok_or_else(|| ConnectorError::Provider {
        http_code: None,
        message: format!("Stripe answered in a currency Obol does not know: {code}"),
    })
}

/// The money of an amount Stripe reports on one of its objects.
pub(super) fn money_of(amount: i64, currency: &str) -> Result<Money, ConnectorError> {
    let currency = currency_of(currency)?;
    Ok(Money {
        amount_minor: from_stripe_amount(amount, currency)?,
        currency,
    })
}

/// An object Stripe answers with an id, or whole when expanded.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Expandable<T> {
    Id(String),
    Object(T),
}

/// Any Stripe object, by its id only.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Identified {
    pub id: String,
}

/// Something with an id: what `Expandable` needs to name its object.
pub(super) trait HasId {
    fn id(&self) -> &str;
}

impl HasId for Identified {
    fn id(&self) -> &str {
        &self.id
    }
}

impl<T: HasId> Expandable<T> {
    pub(super) fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(object) => object.id(),
        }
    }

    pub(super) fn object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

/// Stripe's `metadata`: string values only, as Obol sends them.
pub(super) type Metadata = Option<HashMap<String, String>>;

fn metadata_value<'a>(metadata: &'a Metadata, key: &str) -> Option<&'a str> {
    metadata.as_ref()?.get(key).map(String::as_str)
}

/// A PaymentIntent: one authorize or sale.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: Option<i64>,
    pub currency: String,
    #[serde(default)]
    pub customer: Option<Expandable<Identified>>,
    #[serde(default)]
    pub payment_method: Option<Expandable<PaymentMethod>>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub next_action: Option<NextAction>,
    #[serde(default)]
    pub last_payment_error: Option<ApiError>,
}

/// A SetupIntent: one verify, which may keep the card as a mandate.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct SetupIntent {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub customer: Option<Expandable<Identified>>,
    #[serde(default)]
    pub payment_method: Option<Expandable<PaymentMethod>>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub next_action: Option<NextAction>,
    #[serde(default)]
    pub last_setup_error: Option<ApiError>,
}

/// A refund, also what a reverse makes (Stripe cannot void a capture).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Refund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// A card as Stripe keeps it: brand, last four digits, expiry.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct PaymentMethod {
    pub id: String,
    #[serde(default)]
    pub card: Option<StripeCard>,
}

impl HasId for PaymentMethod {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct StripeCard {
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

/// What the customer must do next: `redirect_to_url` (3-D Secure with a
/// `return_url`) or `use_stripe_sdk` (a challenge run by Stripe.js).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct NextAction {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub redirect_to_url: Option<RedirectToUrl>,
    #[serde(default)]
    pub use_stripe_sdk: Option<UseStripeSdk>,
}

/// What Stripe.js would run; `stripe_js` is, for a 3-D Secure redirect, the
/// bank's page itself.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct UseStripeSdk {
    #[serde(default)]
    pub stripe_js: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct RedirectToUrl {
    pub url: String,
}

/// A page of a list or a search.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

/// An object Obol made, findable by the transaction id in its metadata.
pub(super) trait Tagged {
    fn id(&self) -> &str;
    fn metadata(&self) -> &Metadata;

    fn transaction_id(&self) -> Option<&str> {
        metadata_value(self.metadata(), TRANSACTION_METADATA)
    }

    fn keeps_mandate(&self) -> bool {
        metadata_value(self.metadata(), MANDATE_METADATA) == Some("true")
    }
}

macro_rules! tagged {
    ($($kind:ty),*) => {$(
        impl Tagged for $kind {
            fn id(&self) -> &str {
                &self.id
            }
            fn metadata(&self) -> &Metadata {
                &self.metadata
            }
        }
    )*};
}

tagged!(PaymentIntent, SetupIntent, Refund);

/// Stripe's error answer: `{"error": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ErrorBody {
    pub error: ApiError,
}

/// One error: its type (`card_error`, `invalid_request_error` …), codes
/// and message; a card error names the intent it left behind.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct ApiError {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<Identified>,
}

impl ApiError {
    /// Stripe's message, without anything shaped like a card number (Stripe
    /// does not echo one, but an error may be shown and logged as it is).
    pub(super) fn message(&self) -> String {
        let message = self.message.as_deref().unwrap_or("no message");
        redact_card_numbers(message)
    }
}

/// `text` with every run of 12 or more digits replaced.
fn redact_card_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 12 {
            out.push_str("[redacted]");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// Obol's decline code for a Stripe card error: its `decline_code`, else
/// its `code`; anything Obol has no code for is `generic_decline`.
pub(super) fn decline_code(error: &ApiError) -> &'static str {
    match error.decline_code.as_deref().or(error.code.as_deref()) {
        Some("insufficient_funds") => "insufficient_funds",
        Some("expired_card") => "expired_card",
        Some("incorrect_cvc" | "invalid_cvc") => "incorrect_cvc",
        // A card reported lost or stolen is a fraud signal, not a plain decline.
        Some("fraudulent" | "lost_card" | "stolen_card" | "pickup_card") => "fraudulent",
        Some("merchant_blacklist") => "blocked",
        _ => "generic_decline",
    }
}

/// Obol's decline code and message for a card error (or an intent's last
/// error; none is a plain decline).
pub(super) fn decline(error: Option<&ApiError>) -> (String, String) {
    let code = error.map_or("generic_decline", decline_code).to_owned();
    let message = match error {
        Some(error) if error.message.is_some() => error.message(),
        _ => "Your card was declined.".to_owned(),
    };
    (code, message)
}

/// The decline a card error (or an intent's last error) is.
pub(super) fn declined(error: Option<&ApiError>) -> Outcome {
    let (code, message) = decline(error);
    Outcome::Declined { code, message }
}

/// A challenge: Stripe's redirect; when Stripe asks for Stripe.js instead,
/// the bank's page it names, or else Obol's own page (`challenge_page`).
fn challenge(next_action: Option<&NextAction>, challenge_page: impl FnOnce() -> String) -> Outcome {
    let redirect = next_action.and_then(|action| match action.kind.as_str() {
        "redirect_to_url" => action.redirect_to_url.as_ref().map(|r| r.url.clone()),
        "use_stripe_sdk" => action
            .use_stripe_sdk
            .as_ref()
            .and_then(|sdk| sdk.stripe_js.clone())
            .filter(|url| url.starts_with("https://")),
        _ => None,
    });
    Outcome::RequiresAction {
        url: redirect.unwrap_or_else(challenge_page),
    }
}

/// What an intent's status means for the authorize or sale that made it.
pub(super) fn payment_outcome(
    intent: &PaymentIntent,
    challenge_page: impl FnOnce() -> String,
) -> Outcome {
    match intent.status.as_str() {
        "succeeded" | "requires_capture" => Outcome::Succeeded,
        "requires_action" => challenge(intent.next_action.as_ref(), challenge_page),
        "requires_payment_method" | "canceled" => declined(intent.last_payment_error.as_ref()),
        // `processing`, and `requires_confirmation` (never left so by Obol).
        _ => Outcome::Pending,
    }
}

/// What a SetupIntent's status means for the verify that made it.
pub(super) fn setup_outcome(
    intent: &SetupIntent,
    challenge_page: impl FnOnce() -> String,
) -> Outcome {
    match intent.status.as_str() {
        "succeeded" => Outcome::Succeeded,
        "requires_action" => challenge(intent.next_action.as_ref(), challenge_page),
        "requires_payment_method" | "canceled" => declined(intent.last_setup_error.as_ref()),
        _ => Outcome::Pending,
    }
}

/// What an intent's status says of a capture (or void) made on it.
pub(super) fn follow_up_outcome(intent: &PaymentIntent, operation: Operation) -> Outcome {
    match (operation, intent.status.as_str()) {
        (Operation::Capture, "succeeded") | (Operation::Void, "canceled") => Outcome::Succeeded,
        (Operation::Capture, "processing") => Outcome::Pending,
        _ => Outcome::NotFound,
    }
}

/// What a refund's status means.
pub(super) fn refund_outcome(refund: &Refund) -> Outcome {
    match refund.status.as_deref() {
        Some("succeeded") => Outcome::Succeeded,
        Some("failed" | "canceled") => Outcome::Declined {
            code: "generic_decline".to_owned(),
            message: format!(
                "the refund failed: {}",
                refund
                    .failure_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ),
        },
        _ => Outcome::Pending,
    }
}

/// The fields every PaymentIntent Obol creates carries.
pub(super) fn intent_form(request: &AuthorizeRequest, amount: i64) -> Form {
    let capture_method = match request.operation {
        Operation::Authorize => "manual",
        _ => "automatic",
    };
    Form::new()
        .with("amount", amount)
        .with(
            "currency",
            request.amount.currency.code().to_ascii_lowercase(),
        )
        .with("confirm", "true")
        .with("capture_method", capture_method)
        .with("payment_method_types[0]", "card")
        .with(
            &format!("metadata[{TRANSACTION_METADATA}]"),
            &request.transaction_id,
        )
        .with("metadata[obol_order_id]", &request.order_id)
}

/// The one request that carries the card's number and CVC.
pub(super) fn payment_method_form(card: &CardDetails) -> Form {
    Form::new()
        .with("type", "card")
        .with("card[number]", card.number.expose())
        .with("card[exp_month]", card.exp_month)
        .with("card[exp_year]", card.exp_year)
        .with_some("card[cvc]", card.cvc.as_ref().map(|cvc| cvc.expose()))
        .with_some("billing_details[name]", card.holder_name.as_ref())
}

/// A Stripe Customer for the customer a mandate is kept for.
pub(super) fn customer_form(customer: Option<&CustomerRef>) -> Form {
    Form::new()
        .with_some("email", customer.and_then(|c| c.email.as_ref()))
        .with_some(
            "metadata[obol_customer_id]",
            customer.map(|c| &c.id).filter(|id| !id.is_empty()),
        )
}

/// A mandate's token: the Stripe Customer and the PaymentMethod kept for it.
pub(super) fn mandate_token(customer_id: &str, payment_method_id: &str) -> String {
    format!("{customer_id}/{payment_method_id}")
}

/// The Customer and PaymentMethod ids of a mandate's token.
pub(super) fn parse_mandate_token(token: &str) -> Result<(&str, &str), ConnectorError> {
    token
        .split_once('/')
        .filter(|(customer, method)| {
            customer.starts_with("cus_")
                && method.starts_with("pm_")
                && is_id(customer)
                && is_id(method)
        })
        .ok_or_else(|| ConnectorError::Invalid("the mandate is not a Stripe mandate".into()))
}

/// Whether `id` has the shape of a Stripe id (safe in a URL path).
pub(super) fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The mandate a card kept at Stripe makes, as Obol shows it.
pub(super) fn mandate_of_card(token: String, card: &CardDetails) -> StoredMandate {
    StoredMandate {
        token,
        card_brand: card.brand.as_str().to_owned(),
        last4: card.last4.clone(),
        exp_month: i64::from(card.exp_month),
        exp_year: i64::from(card.exp_year),
    }
}

/// The mandate an intent kept, from its customer and expanded payment method.
pub(super) fn mandate_of(
    customer: Option<&Expandable<Identified>>,
    payment_method: Option<&Expandable<PaymentMethod>>,
) -> Option<StoredMandate> {
    let payment_method = payment_method?.object()?;
    let card = payment_method.card.as_ref()?;
    let brand = match card.brand.as_str() {
        brand @ ("visa" | "mastercard" | "amex" | "discover" | "jcb" | "diners" | "unionpay") => {
            brand
        }
        _ => "unknown",
    };
    Some(StoredMandate {
        token: mandate_token(customer?.id(), &payment_method.id),
        card_brand: brand.to_owned(),
        last4: card.last4.clone(),
        exp_month: card.exp_month,
        exp_year: card.exp_year,
    })
}

#[cfg(test)]
mod tests;
