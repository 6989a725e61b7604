//! The owner's numbers (scope `marketing`): `GET /v1/stats` and the per-day series
//! `GET /v1/stats/daily`, optionally for a window of days and one location.

use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Scope;
use crate::domain::{LocationId, Program};
use crate::error::ApiError;
use crate::routes::extract::ApiKey;
use crate::routes::AppState;
use crate::stats::{Day, Stats, Window, MAX_DAYS};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(stats).service(daily);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// First day (UTC), `YYYY-MM-DD`.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    from: Option<String>,
    /// Last day (UTC), included.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    to: Option<String>,
    /// Only this location's activity.
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    location: Option<String>,
}

fn date(field: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, format!("{raw:?} is not a date like 2026-12-03")))
}

impl StatsQuery {
    /// The window asked for: `from`..`to` (either may be left out: 30 days, or up to today),
    /// `default` when neither is given.
    fn window(
        &self,
        today: NaiveDate,
        default: Option<Window>,
    ) -> Result<Option<Window>, ApiError> {
        let from = self.from.as_deref().map(|f| date("from", f)).transpose()?;
        let to = self.to.as_deref().map(|t| date("to", t)).transpose()?;
        let window = match (from, to) {
            (None, None) => return Ok(default),
            (Some(from), None) => Window {
                from,
                to: today.max(from),
            },
            (None, Some(to)) => Window {
                from: to - chrono::Duration::days(29),
                to,
            },
            (Some(from), Some(to)) => Window { from, to },
        };
        if window.to < window.from {
            return Err(ApiError::invalid("to", "must not be before from"));
        }
        if (window.to - window.from).num_days() >= MAX_DAYS {
            return Err(ApiError::invalid(
                "from",
                format!("the window is at most {MAX_DAYS} days"),
            ));
        }
        Ok(Some(window))
    }

    fn location(&self, program: &Program) -> Result<Option<LocationId>, ApiError> {
        let Some(raw) = &self.location else {
            return Ok(None);
        };
        LocationId::parse(raw)
            .ok()
            .filter(|l| program.location(l).is_some())
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(
                    "location",
                    format!("{raw:?} is not a location of this program"),
                )
            })
    }
}

/// Members, visits, points, liability, redemption and breakage: all time, or for the days
/// `from`..`to` (UTC), for the program or one location. Members and outstanding points are
/// always as they are now.
#[utoipa::path(
    params(StatsQuery),
    responses(
        (status = 200, body = Stats),
        (status = 422, description = "validation-error: a bad date, window or location"),
    ),
    security(("api_key" = [])), tag = "marketing"
)]
#[get("/v1/stats")]
pub async fn stats(
    key: ApiKey,
    state: web::Data<AppState>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let today = state.clock.now().date_naive();
    let window = query.window(today, None)?;
    let location = query.location(&key.program)?;
    let stats = crate::stats::stats(
        &state.store,
        &state.settings.redis.key_prefix,
        &key.program,
        window,
        location.as_ref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(stats))
}

/// The per-day series for charts (UTC days; the last 30 days unless `from`/`to` say).
#[utoipa::path(
    params(StatsQuery),
    responses(
        (status = 200, body = Vec<Day>),
        (status = 422, description = "validation-error: a bad date, window or location"),
    ),
    security(("api_key" = [])), tag = "marketing"
)]
#[get("/v1/stats/daily")]
pub async fn daily(
    key: ApiKey,
    state: web::Data<AppState>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let today = state.clock.now().date_naive();
    let last_30 = Window {
        from: today - chrono::Duration::days(29),
        to: today,
    };
    let window = query.window(today, Some(last_30))?.unwrap_or(last_30);
    let location = query.location(&key.program)?;
    let days = crate::stats::daily(
        &state.store,
        &state.settings.redis.key_prefix,
        &key.program,
        window,
        location.as_ref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(days))
}
