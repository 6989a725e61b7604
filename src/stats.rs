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

/// The counters of `window` (summed over its days) or of all time, for the program or a
/// location.
async fn counters(
    store: &Store,
    keys: &ProgramKeys,
    window: Option<Window>,
    location: Option<&str>,
) -> Result<Counters, StoreError> {
    let Some(window) = window else {
        let key = match location {
            Some(l) => keys.location_stats(l),
            None => keys.stats(),
        };
        return store.command(redis::cmd("HGETALL").arg(key)).await;
    };
    let mut pipe = redis::pipe();
    for day in window.days() {
        let day = day.to_string();
        pipe.hgetall(match location {
            Some(l) => keys.location_daily_stats(l, &day),
            None => keys.daily_stats(&day),
        });
    }
    let days: Vec<Counters> = store.pipeline(&pipe).await?;
    let mut sum = Counters::new();
    for day in days {
        for (k, v) in day {
            *sum.entry(k).or_default() += v;
        }
    }
    Ok(sum)
}

pub async fn stats(
    store: &Store,
    prefix: &str,
    program: &Program,
    window: Option<Window>,
    location: Option<&LocationId>,
) -> Result<Stats, StoreError> {
    let keys = ProgramKeys::new(prefix, &program.id);
    let now: Counters = store
        .command(redis::cmd("HGETALL").arg(keys.stats()))
        .await?;
    let flow = counters(store, &keys, window, location.map(LocationId::as_str)).await?;
    let program_flow = match location {
        Some(_) => counters(store, &keys, window, None).await?,
        None => flow.clone(),
    };
    let outstanding = issued(&now)
        - get(&now, "points:redeemed")
        - get(&now, "points:expired")
        - get(&now, "points:forfeited");
    let mut by_location = BTreeMap::new();
    for l in &program.locations {
        if location.is_some_and(|only| only != &l.id) {
            continue;
        }
        let c = counters(store, &keys, window, Some(l.id.as_str())).await?;
        by_location.insert(
            l.id.as_str().to_owned(),
            LocationStats {
                visits: get(&c, "visits"),
                points_issued: get(&c, "points:issued"),
                points_redeemed: get(&c, "points:redeemed"),
                rewards_redeemed: get(&c, "rewards:redeemed"),
            },
        );
    }
    let issued_points = issued(&flow);
    Ok(Stats {
        from: window.map(|w| w.from),
        to: window.map(|w| w.to),
        location: location.map(|l| l.as_str().to_owned()),
        members: Members {
            total: get(&now, "members:total"),
            active: get(&now, "members:active"),
            pending: get(&now, "members:pending"),
            opted_out: get(&now, "members:opted_out"),
            new: get(&program_flow, "members:joined"),
        },
        visits: get(&flow, "visits"),
        visitors: get(&flow, "visitors"),
        repeat_visit_rate: ratio(get(&flow, "repeat_visitors"), get(&flow, "visitors")),
        points: Points {
            issued: issued_points,
            redeemed: get(&flow, "points:redeemed"),
            expired: get(&flow, "points:expired"),
            outstanding,
        },
        liability: Liability {
            amount: program
                .value_per_point
                .map(|v| (Decimal::from(outstanding) * v).normalize().to_string()),
            currency: program.currency.clone(),
        },
        redemption_rate: ratio(get(&flow, "points:redeemed"), issued_points),
        breakage_rate: ratio(get(&flow, "points:expired"), issued_points),
        rewards: Rewards {
            issued: get(&flow, "rewards:issued"),
            redeemed: get(&flow, "rewards:redeemed"),
            expired: get(&flow, "rewards:expired"),
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
            pipe.hgetall(keys.location_daily_stats(l.as_str(), &day));
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
        .map(|(date, c)| {
            // New members are the program's; the rest are the location's when one is asked.
            let flow = c.last().expect("one hash a day");
            Day {
                date,
                new_members: get(&c[0], "members:joined"),
                visits: get(flow, "visits"),
                points_issued: issued(flow),
                points_redeemed: get(flow, "points:redeemed"),
                points_expired: get(flow, "points:expired"),
                points_forfeited: get(flow, "points:forfeited"),
            }
        })
        .collect())
}
