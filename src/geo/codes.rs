//! Which two-letter codes are real: ISO 3166-1 alpha-2 countries (plus `XK`,
//! Kosovo, which GeoIP databases use) and the seven continent codes GeoIP
//! databases use. A 250-entry table is kept here rather than pulled in as a
//! dependency: it changes about once a decade.

use super::Code;

/// ISO 3166-1 alpha-2 officially assigned codes, and `XK`.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL \
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM \
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC \
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE \
NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD \
SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA \
UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK";

/// Continent codes as GeoIP databases write them.
const CONTINENTS: &str = "AF AN AS EU NA OC SA";

fn listed(list: &str, code: &Code) -> bool {
    list.split(' ').any(|c| c.as_bytes() == code)
}

/// True for an assigned ISO 3166-1 alpha-2 country code (upper case).
pub(crate) fn is_country(code: &Code) -> bool {
    listed(COUNTRIES, code)
}

/// True for one of `AF AN AS EU NA OC SA`.
pub(crate) fn is_continent(code: &Code) -> bool {
    listed(CONTINENTS, code)
}

/// A hint for codes people write that ISO 3166 spells otherwise.
pub(crate) fn country_hint(code: &Code) -> &'static str {
    match code {
        b"UK" => " (the United Kingdom is GB)",
        b"EL" => " (Greece is GR)",
        b"EU" => " (EU is a continent code: use a continent rule)",
        _ => "",
    }
}

/// The accepted continent codes, for error messages.
pub fn continents() -> &'static str {
    CONTINENTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_codes() {
        assert!(is_country(b"GB") && is_country(b"US") && is_country(b"XK"));
        assert!(!is_country(b"UK") && !is_country(b"XX") && !is_country(b"EU"));
        assert_eq!(COUNTRIES.split(' ').count(), 250);
        assert!(is_continent(b"EU") && !is_continent(b"XX"));
    }
}
