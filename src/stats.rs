//! The owner's numbers: members, visits, points and what they are worth, from the counters the
//! ledger scripts keep exact as they change it (`stat()` in lib.lua): all time, per day (UTC)
//! and per location. A report reads counters, never the members, so it costs the same for a
//! program of ten members or a million. `loyalty-gateway verify` recounts them.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::{LocationId, Program};
use crate::store::{ProgramKeys, Store, StoreError};

/// The longest window a report sums, in days.
pub const MAX_DAYS: i64 = 366;

/// Days from `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Window {
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> {
        let to = self.to;
        self.from.iter_days().take_while(move |d| *d <= to)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Members {
    /// Members now (erased ones no longer count).
    pub total: i64,
    pub active: i64,
    pub pending: i64,
    pub opted_out: i64,
    /// Members who joined in the window (all time without one).
    pub new: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Points {
    /// Credited: purchases (less refunds), bonuses, imports and net adjustments.
    pub issued: i64,
    pub redeemed: i64,
    pub expired: i64,
    /// Held by members now: the program's liability in points (all time, whatever the window).
    pub outstanding: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Liability {
    /// `outstanding × value_per_point`, a decimal string; absent without `value_per_point`.
    pub amount: Option<String>,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rewards {
    pub issued: i64,
    pub redeemed: i64,
    /// Codes whose time ran out unused.
    pub expired: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationStats {
    pub visits: i64,
    pub points_issued: i64,
    pub points_redeemed: i64,
    pub rewards_redeemed: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub members: Members,
    pub visits: i64,
    /// Members whose first visit was in the window.
    pub visitors: i64,
    /// Members with two visits or more / members with one or more.
    pub repeat_visit_rate: f64,
    pub points: Points,
    pub liability: Liability,
    /// Points redeemed / points issued.
    pub redemption_rate: f64,
    /// Points expired / points issued.
    pub breakage_rate: f64,
    pub rewards: Rewards,
    pub by_location: BTreeMap<String, LocationStats>,
}

/// One day of the series.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Day {
    pub date: NaiveDate,
    pub new_members: i64,
    pub visits: i64,
    pub points_issued: i64,
    pub points_redeemed: i64,
    pub points_expired: i64,
    /// Taken with erased members' balances.
    pub points_forfeited: i64,
}

impl Day {
    /// What the day added to the points members hold (less what it took away).
    pub fn net_points(&self) -> i64 {
        self.points_issued - self.points_redeemed - self.points_expired - self.points_forfeited
    }
}

type Counters = HashMap<String, i64>;

/// The counters of a stored hash (`stats`, `stats:day:<date>`; lib.lua's `stat()` writes them)
/// for the program (`location` None) or for one location, added to `sum`. What happened at a
/// location is stored under `<name>@<location>`, the rest under `<name>`: the program's figure
/// is the sum of every field of a name, a location's its own field.
fn add_counters(sum: &mut Counters, stored: &Counters, location: Option<&str>) {
    for (field, value) in stored {
        let name = match (field.split_once('@'), location) {
            (None, None) => field.as_str(),
            (Some((name, _)), None) => name,
            (Some((name, at)), Some(l)) if at == l => name,
            _ => continue,
        };
        match sum.get_mut(name) {
            Some(total) => *total += value,
            None => {
                sum.insert(name.to_owned(), *value);
            }
        }
    }
}

/// The program's counters of a stored hash (see [`add_counters`]).
pub fn program_counters(stored: &Counters) -> Counters {
    let mut sum = Counters::new();
    add_counters(&mut sum, stored, None);
    sum
}

fn get(c: &Counters, name: &str) -> i64 {
    c.get(name).copied().unwrap_or(0)
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Points credited, as the identity with the balances counts them.
fn issued(c: &Counters) -> i64 {
    get(c, "points:issued") + get(c, "points:imported") + get(c, "points:adjusted")
}

/// The counters of `window` (summed over its days) or of all time: the program's, and each of
/// `locations`'. A location's counters written before they were fields of the program's
/// hashes are in hashes of their own (`stats:loc:<location>`, `...:day:<date>`), which are
/// read and added; their share of the program's figures was counted in its plain fields then.
async fn counters(
    store: &Store,
    keys: &ProgramKeys,
    window: Option<Window>,
    locations: &[&str],
) -> Result<(Counters, Vec<Counters>), StoreError> {
    let days: Vec<Option<String>> = match window {
        Some(window) => window.days().map(|d| Some(d.to_string())).collect(),
        None => vec![None],
    };
    let mut pipe = redis::pipe();
    for day in &days {
        pipe.hgetall(match day {
            Some(day) => keys.daily_stats(day),
            None => keys.stats(),
        });
        for l in locations {
            pipe.hgetall(match day {
                Some(day) => keys.legacy_location_daily_stats(l, day),
                None => keys.legacy_location_stats(l),
            });
        }
    }
    let read: Vec<Counters> = if days.is_empty() {
        Vec::new()
    } else {
        store.pipeline(&pipe).await?
    };
    let mut program = Counters::new();
    let mut per_location = vec![Counters::new(); locations.len()];
    for day in read.chunks(1 + locations.len()) {
        add_counters(&mut program, &day[0], None);
        for ((l, sum), legacy) in locations.iter().zip(&mut per_location).zip(&day[1..]) {
            add_counters(sum, &day[0], Some(l));
            add_counters(sum, legacy, None);
        }
    }
    Ok((program, per_location))
}

pub async fn stats(
    store: &Store,
    prefix: &str,
    program: &Program,
    window: Option<Window>,
    location: Option<&LocationId>,
) -> Result<Stats, StoreError> {
    let keys = ProgramKeys::new(prefix, &program.id);
    let shown: Vec<&str> = program
        .locations
        .iter()
        .map(|l| l.id.as_str())
        .filter(|l| location.is_none_or(|only| only.as_str() == *l))
        .collect();
    let (program_flow, per_location) = counters(store, &keys, window, &shown).await?;
    // Members and outstanding points are always now: all time's counters, which the flow is
    // when there is no window.
    let read_now;
    let now = match window {
        None => &program_flow,
        Some(_) => {
            read_now = program_counters(
                &store
                    .command(redis::cmd("HGETALL").arg(keys.stats()))
                    .await?,
            );
            &read_now
        }
    };
    let nothing = Counters::new();
    let flow = match location {
        // The callers take only a configured location; any other counts nothing.
        Some(_) => per_location.first().unwrap_or(&nothing),
        None => &program_flow,
    };
    let outstanding = issued(now)
        - get(now, "points:redeemed")
        - get(now, "points:expired")
        - get(now, "points:forfeited");
    let by_location = shown
        .iter()
        .zip(&per_location)
        .map(|(l, c)| {
            (
                (*l).to_owned(),
                LocationStats {
                    visits: get(c, "visits"),
                    points_issued: get(c, "points:issued"),
                    points_redeemed: get(c, "points:redeemed"),
                    rewards_redeemed: get(c, "rewards:redeemed"),
                },
            )
        })
        .collect();
    let issued_points = issued(flow);
    Ok(Stats {
        from: window.map(|w| w.from),
        to: window.map(|w| w.to),
        location: location.map(|l| l.as_str().to_owned()),
        members: Members {
            total: get(now, "members:total"),
            active: get(now, "members:active"),
            pending: get(now, "members:pending"),
            opted_out: get(now, "members:opted_out"),
            new: get(&program_flow, "members:joined"),
        },
        visits: get(flow, "visits"),
        visitors: get(flow, "visitors"),
        repeat_visit_rate: ratio(get(flow, "repeat_visitors"), get(flow, "visitors")),
        points: Points {
            issued: issued_points,
            redeemed: get(flow, "points:redeemed"),
            expired: get(flow, "points:expired"),
            outstanding,
        },
        liability: Liability {
            amount: program
                .value_per_point
                .map(|v| (Decimal::from(outstanding) * v).normalize().to_string()),
            currency: program.currency.clone(),
        },
        redemption_rate: ratio(get(flow, "points:redeemed"), issued_points),
        breakage_rate: ratio(get(flow, "points:expired"), issued_points),
        rewards: Rewards {
            issued: get(flow, "rewards:issued"),
            redeemed: get(flow, "rewards:redeemed"),
            expired: get(flow, "rewards:expired"),
        },
        by_location,
    })
}

/// The per-day series of `window`.
pub async fn daily(
    store: &Store,
    prefix: &str,
    program: &Program,
    window: Window,
    location: Option<&LocationId>,
) -> Result<Vec<Day>, StoreError> {
    let keys = ProgramKeys::new(prefix, &program.id);
    let mut pipe = redis::pipe();
    let days: Vec<NaiveDate> = window.days().collect();
    for day in &days {
        let day = day.to_string();
        pipe.hgetall(keys.daily_stats(&day));
        if let Some(l) = location {
            pipe.hgetall(keys.legacy_location_daily_stats(l.as_str(), &day));
        }
    }
    let read: Vec<Counters> = if days.is_empty() {
        Vec::new()
    } else {
        store.pipeline(&pipe).await?
    };
    let per_day = if location.is_some() { 2 } else { 1 };
    Ok(days
        .into_iter()
        .zip(read.chunks(per_day))
        .map(|(date, stored)| {
            let program = program_counters(&stored[0]);
            // New members are the program's; the rest are the location's when one is asked.
            let at_location = location.map(|l| {
                let mut sum = Counters::new();
                add_counters(&mut sum, &stored[0], Some(l.as_str()));
                add_counters(&mut sum, &stored[1], None);
                sum
            });
            let flow = at_location.as_ref().unwrap_or(&program);
            Day {
                date,
                new_members: get(&program, "members:joined"),
                visits: get(flow, "visits"),
                points_issued: issued(flow),
                points_redeemed: get(flow, "points:redeemed"),
                points_expired: get(flow, "points:expired"),
                points_forfeited: get(flow, "points:forfeited"),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(fields: &[(&str, i64)]) -> Counters {
        fields.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn the_program_counts_every_field_of_a_name_and_a_location_only_its_own() {
        let day = stored(&[
            ("points:issued", 5),
            ("points:issued@store-1", 10),
            ("points:issued@store-12", 100),
            ("visits@store-12", 2),
            ("members:joined", 1),
        ]);
        let program = program_counters(&day);
        assert_eq!(program.get("points:issued"), Some(&115));
        assert_eq!(program.get("visits"), Some(&2));
        assert_eq!(program.get("members:joined"), Some(&1));
        let mut store_1 = Counters::new();
        add_counters(&mut store_1, &day, Some("store-1"));
        assert_eq!(store_1, stored(&[("points:issued", 10)]));
        add_counters(&mut store_1, &day, Some("store-1"));
        assert_eq!(
            store_1,
            stored(&[("points:issued", 20)]),
            "added, not replaced"
        );
    }
}
