//! Rendering emails: one minijinja environment for the built-in templates
//! and brands' own, with strict undefined (a misspelt name is an error, not
//! an empty string), auto-escape in HTML, a fuel limit so that no template
//! runs away, and a `money` filter that writes amounts in the currency's
//! format. A template is checked at save time against sample contexts, so
//! an email made later renders.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use obol_core::{Currency, format_amount};

/// Instructions one template may run: far above any email's needs.
const FUEL: u64 = 200_000;
/// Most characters of one template part.
pub const TEMPLATE_MAX_CHARS: usize = 64 * 1024;

/// The three parts of an email template, or of an email rendered from one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Which part did not render, and why.
#[derive(Debug, Clone)]
pub struct RenderError {
    /// `subject`, `text` or `html`.
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} does not render: {}", self.field, self.message)
    }
}

/// `{{ amount | money(currency) }}`: `€89.25`, `¥500`, `KWD 1.000`.
fn money(amount_minor: i64, currency: &str) -> Result<String, minijinja::Error> {
    let currency = Currency::parse(currency).ok_or_else(|| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("money: unknown currency {currency:?}"),
        )
    })?;
    Ok(format_amount(amount_minor, currency))
}

fn environment<'source>() -> Environment<'source> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    // Block tags take their own line and its newline: text emails read as
    // they are written.
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .expect("the default delimiters with whitespace options are a valid syntax");
    env.set_syntax(syntax);
    env.add_filter("money", money);
    env
}

/// Renders `template` against `context` (the names the email offers). The
/// HTML part is auto-escaped; the subject is one line.
pub fn render(template: &Parts, context: &serde_json::Value) -> Result<Parts, RenderError> {
    let env = environment();
    let context = Value::from(Serde(context));
    let part = |field: &'static str, name: &'static str, source: &str| {
        let failed = |error: minijinja::Error| RenderError {
            field,
            message: error.to_string(),
        };
        let template = env.template_from_named_str(name, source).map_err(failed)?;
        template.render(&context).map_err(failed)
    };
    let subject = part("subject", "subject.txt", &template.subject)?;
    Ok(Parts {
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: part("text", "body.txt", &template.text)?,
        html: part("html", "body.html", &template.html)?,
    })
}

/// Checks that `template` renders against every one of `samples` (an email
/// with each optional field set, and one with none): the error names the
/// first part that does not.
pub fn check(template: &Parts, samples: &[serde_json::Value]) -> Result<(), RenderError> {
    for (field, source) in [
        ("subject", &template.subject),
        ("text", &template.text),
        ("html", &template.html),
    ] {
        if source.chars().count() > TEMPLATE_MAX_CHARS {
            return Err(RenderError {
                field,
                message: format!("longer than {TEMPLATE_MAX_CHARS} characters"),
            });
        }
    }
    for sample in samples {
        let rendered = render(template, sample)?;
        if rendered.subject.is_empty() {
            return Err(RenderError {
                field: "subject",
                message: "renders empty".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(subject: &str, text: &str, html: &str) -> Parts {
        Parts {
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }

    #[test]
    fn money_escaping_and_strictness() {
        let context = json!({"amount": 8925, "currency": "EUR", "name": "<b>Ann</b>"});
        let rendered = render(
            &parts(
                "Paid\n {{ amount | money(currency) }}",
                "{{ name }} paid {{ 1000 | money('KWD') }}",
                "<p>{{ name }} {{ 500 | money('JPY') }}</p>",
            ),
            &context,
        )
        .expect("renders");
        assert_eq!(rendered.subject, "Paid €89.25");
        assert_eq!(rendered.text, "<b>Ann</b> paid KWD 1.000");
        assert_eq!(rendered.html, "<p>&lt;b&gt;Ann&lt;&#x2f;b&gt; ¥500</p>");

        let misspelt = render(&parts("x", "{{ amuont }}", "y"), &context).unwrap_err();
        assert_eq!(misspelt.field, "text");
        let broken = render(&parts("x", "y", "{{ unclosed"), &context).unwrap_err();
        assert_eq!(broken.field, "html");
        let unknown = render(&parts("{{ 1 | money('XXX') }}", "", ""), &context).unwrap_err();
        assert!(unknown.message.contains("unknown currency"), "{unknown}");
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let endless =
            "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}";
        let error = render(&parts("x", endless, ""), &json!({})).unwrap_err();
        assert_eq!(error.field, "text");
        assert!(error.message.contains("fuel"), "{error}");
    }
}
