//! An invoice's sums: each line's discount and tax, and the totals. Tax is
//! per line on the amount after its discount, rounded half-even; an
//! exclusive rate is added, an inclusive one carved out of the price.

use crate::error::{Error, Result};
use obol_core::billing::discount::{Discount, discount_of};
use obol_core::billing::tax::{exclusive_tax, inclusive_tax};

/// A line before its discount and tax.
#[derive(Debug, Clone)]
pub struct LineDraft {
    pub description: String,
    pub price_id: Option<String>,
    /// The package its price belongs to, which a coupon may be limited to.
    pub package_id: Option<String>,
    pub quantity: i64,
    pub unit_amount: i64,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub proration: bool,
}

/// A coupon's discount and the packages it is limited to (none: every line).
#[derive(Debug, Clone)]
pub struct DiscountRule {
    pub discount: Discount,
    pub applies_to: Option<Vec<String>>,
}

/// The rate applied: hundredths of a percent, and whether prices include it.
#[derive(Debug, Clone, Copy)]
pub struct TaxRule {
    pub rate_bps: u32,
    pub inclusive: bool,
}

/// A line with its amount, discount and tax.
#[derive(Debug, Clone)]
pub struct ComputedLine {
    pub draft: LineDraft,
    pub amount: i64,
    pub discount: i64,
    pub tax: i64,
}

/// Every line and the invoice's sums.
#[derive(Debug, Clone)]
pub struct Computed {
    pub lines: Vec<ComputedLine>,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
}

fn too_large() -> Error {
    Error::invalid("lines", "the invoice's lines add up to too much")
}

/// The sums of `lines` under `discount` and `tax`. An amount off is spent
/// on the lines it applies to in order, never taking one below zero;
/// credit lines (negative) take no discount. The total is never below zero:
/// a credit larger than the charges is the caller's to give back otherwise.
pub fn compute(
    lines: Vec<LineDraft>,
    discount: Option<&DiscountRule>,
    tax: Option<TaxRule>,
) -> Result<Computed> {
    let mut amount_off_left = match discount.map(|rule| rule.discount) {
        Some(Discount::Amount(amount)) => amount,
        _ => 0,
    };
    let mut computed = Vec::with_capacity(lines.len());
    let (mut subtotal, mut discount_sum, mut tax_sum, mut added_tax) = (0i64, 0i64, 0i64, 0i64);
    for draft in lines {
        let amount = draft
            .quantity
            .checked_mul(draft.unit_amount)
            .ok_or_else(too_large)?;
        let applies = discount.is_some_and(|rule| {
            amount > 0
                && rule.applies_to.as_ref().is_none_or(|packages| {
                    draft
                        .package_id
                        .as_ref()
                        .is_some_and(|package| packages.contains(package))
                })
        });
        let line_discount = match discount.map(|rule| rule.discount) {
            Some(Discount::PercentBps(bps)) if applies => {
                discount_of(amount, Discount::PercentBps(bps))
            }
            Some(Discount::Amount(_)) if applies => {
                let taken = discount_of(amount, Discount::Amount(amount_off_left));
                amount_off_left -= taken;
                taken
            }
            _ => 0,
        };
        let net = amount - line_discount;
        let line_tax = match tax {
            None => 0,
            Some(rule) if rule.inclusive => {
                inclusive_tax(net, rule.rate_bps).ok_or_else(too_large)?
            }
            Some(rule) => exclusive_tax(net, rule.rate_bps).ok_or_else(too_large)?,
        };
        subtotal = subtotal.checked_add(amount).ok_or_else(too_large)?;
        discount_sum = discount_sum
            .checked_add(line_discount)
            .ok_or_else(too_large)?;
        tax_sum = tax_sum.checked_add(line_tax).ok_or_else(too_large)?;
        if tax.is_some_and(|rule| !rule.inclusive) {
            added_tax = added_tax.checked_add(line_tax).ok_or_else(too_large)?;
        }
        computed.push(ComputedLine {
            draft,
            amount,
            discount: line_discount,
            tax: line_tax,
        });
    }
    let total = subtotal
        .checked_sub(discount_sum)
        .and_then(|net| net.checked_add(added_tax))
        .ok_or_else(too_large)?;
    Ok(Computed {
        lines: computed,
        subtotal,
        discount: discount_sum,
        tax: tax_sum,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit_amount: i64, quantity: i64) -> LineDraft {
        LineDraft {
            description: "Plan".into(),
            price_id: None,
            package_id: None,
            quantity,
            unit_amount,
            period_start: None,
            period_end: None,
            proration: false,
        }
    }

    #[test]
    fn exclusive_tax_is_added_per_line_and_inclusive_is_carved_out() {
        let exclusive = TaxRule {
            rate_bps: 1900,
            inclusive: false,
        };
        let sums = compute(vec![line(999, 1), line(1001, 1)], None, Some(exclusive)).unwrap();
        // 189.81 → 190 and 190.19 → 190.
        assert_eq!((sums.subtotal, sums.tax, sums.total), (2000, 380, 2380));
        let inclusive = TaxRule {
            rate_bps: 1900,
            inclusive: true,
        };
        let sums = compute(vec![line(1190, 1)], None, Some(inclusive)).unwrap();
        assert_eq!((sums.subtotal, sums.tax, sums.total), (1190, 190, 1190));
    }

    #[test]
    fn discounts_apply_before_tax_and_never_below_zero() {
        let percent = DiscountRule {
            discount: Discount::PercentBps(2000),
            applies_to: None,
        };
        let tax = TaxRule {
            rate_bps: 1900,
            inclusive: false,
        };
        let sums = compute(vec![line(1000, 1)], Some(&percent), Some(tax)).unwrap();
        assert_eq!((sums.discount, sums.tax, sums.total), (200, 152, 952));
        let amount_off = DiscountRule {
            discount: Discount::Amount(1500),
            applies_to: None,
        };
        let sums = compute(vec![line(1000, 1), line(300, 1)], Some(&amount_off), None).unwrap();
        assert_eq!((sums.discount, sums.total), (1300, 0));
    }

    #[test]
    fn a_coupon_limited_to_packages_skips_other_lines() {
        let mut plan = line(1000, 1);
        plan.package_id = Some("pkg_a".into());
        let rule = DiscountRule {
            discount: Discount::PercentBps(5000),
            applies_to: Some(vec!["pkg_a".into()]),
        };
        let sums = compute(vec![plan, line(1000, 1)], Some(&rule), None).unwrap();
        assert_eq!((sums.discount, sums.total), (500, 1500));
    }
}
