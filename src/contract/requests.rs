//! Request bodies of the write endpoints. Every write carries `why` (who
//! changes production says why, and the audit keeps it) and `force`
//! (override the safety rule); `write_body!` adds both, so each body
//! declares only what it asks for.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest accepted `why`, in characters.
pub const MAX_WHY: usize = 1000;

/// Longest accepted expiry: a year. Longer is "forever", which is `null`.
pub const MAX_EXPIRES_SECS: u64 = 366 * 24 * 3600;

/// A string with a character that is not white space, in Unicode's sense
/// (what the server trims, `char::is_whitespace`), spelled out: regex
/// engines disagree on `\s` (U+0085, U+001C...). The `why` schema carries
/// it (a test keeps the attribute and this constant equal).
pub const NOT_ONLY_WHITESPACE: &str =
    r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Declares a write body: its own fields, then `why` and `force`.
/// Unknown fields are refused (a typo must not pass silently as "no
/// expiry").
macro_rules! write_body {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Required, not only white space: why you are making the change (audited).
            #[schema(
                min_length = 1,
                max_length = 1000,
                pattern = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
            )]
            pub why: String,
            /// Apply even if a service would be left with no available region.
            #[serde(default)]
            #[schema(default = false)]
            pub force: bool,
        }
    };
}

write_body! {
    /// `PUT /v1/regions/{region}/weight`: set the region's effective weight.
    WeightRequest {
        /// The weight answers use instead of the configured one (0 drains).
        #[schema(minimum = 0, maximum = 1_000_000)]
        weight: u32,
        /// Seconds until the override lapses by itself (absent or null: never).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1, maximum = 31_622_400)]
        expires_in_secs: Option<u64>,
    }
}

write_body! {
    /// `POST /v1/regions/{region}/drain`: weight 0, health checks keep running.
    DrainRequest {
        /// Seconds until the override lapses by itself (absent or null: never).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1, maximum = 31_622_400)]
        expires_in_secs: Option<u64>,
    }
}

/// What `POST /v1/regions/{region}/force` may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForceTarget {
    /// Healthy with every endpoint answered, whatever the checks say.
    Up,
    /// Never answered, whatever the checks say.
    Down,
    /// Remove the forced state (no expiry of its own).
    Clear,
}

write_body! {
    /// `POST /v1/regions/{region}/force`: force up or down, or clear.
    ForceRequest {
        /// The forced state, or `clear`.
        state: ForceTarget,
        /// Seconds until the override lapses by itself (absent or null:
        /// never); not for `clear`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1, maximum = 31_622_400)]
        expires_in_secs: Option<u64>,
    }
}

write_body! {
    /// `DELETE /v1/overrides/{id}` and `POST /v1/drills/{id}/stop`. A
    /// drill's rollback only removes its own overrides, so the safety rule
    /// cannot refuse it and `force` changes nothing there.
    DeleteRequest {}
}

write_body! {
    /// `POST /v1/drills`: force the regions down for `duration_secs`,
    /// verify answers from every vantage, roll back, keep a report.
    DrillRequest {
        /// Regions to take out.
        #[schema(min_items = 1)]
        regions: Vec<String>,
        /// How long, at most `[drills] max_duration_secs` (default 3600).
        #[schema(minimum = 1)]
        duration_secs: u64,
        /// Services to verify (default: every service using the regions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(min_items = 1)]
        services: Option<Vec<String>>,
    }
}
