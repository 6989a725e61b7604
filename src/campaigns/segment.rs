//! Who a campaign is for: every field optional, all must hold, only active members ever.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{invalid, CampaignError};
use crate::domain::{LocationId, Program};
use crate::store::scripts::campaigns::ScriptSegment;
use crate::templates::SHIPPED_LOCALES;

/// Reads a segment from a JSON object only (serde would also read one from an array).
pub fn object_only<'de, D>(deserializer: D) -> Result<Option<Segment>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)?;
    value
        .map(|map| serde_json::from_value(serde_json::Value::Object(map)))
        .transpose()
        .map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Members in one of these tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<String>>,
    /// Members who visited one of these locations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
    /// Members whose language is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locales: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_balance: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_balance: Option<i64>,
    /// RFC 3339: last visit at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visited_after: Option<String>,
    /// RFC 3339: last visit before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visited_before: Option<String>,
    /// RFC 3339: joined at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_after: Option<String>,
    /// RFC 3339: joined before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_before: Option<String>,
    /// No visit for at least this many days (members who never visited count too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3650)]
    pub not_visited_for_days: Option<u32>,
    /// At least this many visits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub min_visits: Option<i64>,
}

fn time(field: &'static str, value: &Option<String>) -> Result<Option<i64>, CampaignError> {
    value
        .as_deref()
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc).timestamp_millis())
                .map_err(|_| invalid(field, format!("{text:?} is not an RFC 3339 time")))
        })
        .transpose()
}

fn non_empty<T>(field: &'static str, list: &Option<Vec<T>>) -> Result<(), CampaignError> {
    match list {
        Some(list) if list.is_empty() => Err(invalid(field, "must not be an empty list")),
        _ => Ok(()),
    }
}

impl Segment {
    /// The segment as the scripts read it, checked against the program: tiers, locations and
    /// locales must exist, ranges must make sense.
    pub fn to_script(&self, program: &Program) -> Result<ScriptSegment, CampaignError> {
        non_empty("segment.tiers", &self.tiers)?;
        non_empty("segment.locations", &self.locations)?;
        non_empty("segment.locales", &self.locales)?;
        for tier in self.tiers.iter().flatten() {
            if !program.tiers.iter().any(|t| &t.name == tier) {
                return Err(invalid(
                    "segment.tiers",
                    format!("{tier:?} is not a tier of this program"),
                ));
            }
        }
        for location in self.locations.iter().flatten() {
            let known = LocationId::parse(location)
                .ok()
                .is_some_and(|l| program.location(&l).is_some());
            if !known {
                return Err(invalid(
                    "segment.locations",
                    format!("{location:?} is not a location of this program"),
                ));
            }
        }
        for locale in self.locales.iter().flatten() {
            if !SHIPPED_LOCALES.contains(&locale.as_str()) {
                return Err(invalid(
                    "segment.locales",
                    format!("{locale:?} is not one of {SHIPPED_LOCALES:?}"),
                ));
            }
        }
        if let (Some(min), Some(max)) = (self.min_balance, self.max_balance) {
            if min > max {
                return Err(invalid("segment.min_balance", "is above max_balance"));
            }
        }
        if self.not_visited_for_days == Some(0) {
            return Err(invalid(
                "segment.not_visited_for_days",
                "must be at least 1",
            ));
        }
        if self.min_visits.is_some_and(|v| v < 0) {
            return Err(invalid("segment.min_visits", "must not be negative"));
        }
        Ok(ScriptSegment {
            tiers: self.tiers.clone(),
            locations: self.locations.clone(),
            locales: self.locales.clone(),
            min_balance: self.min_balance,
            max_balance: self.max_balance,
            visited_after_ms: time("segment.visited_after", &self.visited_after)?,
            visited_before_ms: time("segment.visited_before", &self.visited_before)?,
            joined_after_ms: time("segment.joined_after", &self.joined_after)?,
            joined_before_ms: time("segment.joined_before", &self.joined_before)?,
            not_visited_for_days: self.not_visited_for_days,
            min_visits: self.min_visits,
        })
    }
}
