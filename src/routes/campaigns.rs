//! The marketer's API (scope `marketing`): campaigns, their preview, test send, send,
//! schedule and cancel.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Scope;
use crate::campaigns::{Campaign, CampaignError, Draft, Preview, Results, Segment};
use crate::error::{ApiError, ErrorKind};
use crate::routes::extract::{ApiKey, ValidJson};
use crate::routes::pos::phone_of;
use crate::routes::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(update)
        .service(preview)
        .service(test_send)
        .service(send)
        .service(cancel)
        .service(resume)
        .service(results)
        .service(automations)
        .service(follow_link);
}

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::NotFound => ApiError::new(ErrorKind::CampaignNotFound, e.to_string()),
            CampaignError::NotPaused { .. } => {
                ApiError::new(ErrorKind::CampaignNotPaused, e.to_string())
            }
            CampaignError::NotEditable { .. } => {
                ApiError::new(ErrorKind::CampaignNotEditable, e.to_string())
            }
            CampaignError::Invalid { field, message } => ApiError::invalid(field, message),
            CampaignError::Store(e) => e.into(),
            CampaignError::Render(e) => ApiError::unexpected(e),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    #[schema(min_length = 1, max_length = 100, example = "Double points weekend")]
    name: String,
    /// A template: `{{ first_name }}`, `{{ balance }}`, `{{ program }}`,
    /// `{{ points_to_next_reward }}`. "Reply STOP to opt out" is appended when it says nothing
    /// of opting out (in the segment's language when the segment has one locale).
    #[schema(
        min_length = 1,
        max_length = 1600,
        example = "Hi {{ first_name }}, double points this weekend!"
    )]
    body: String,
    #[serde(default, deserialize_with = "crate::campaigns::segment::object_only")]
    segment: Option<Segment>,
    /// RFC 3339, in the future: schedule the send.
    send_at: Option<DateTime<Utc>>,
    /// `"HH:MM"`: send at this wall-clock time in each recipient's own time zone (the next
    /// such time after the send starts, so a zone already past it gets it the next day).
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "10:00")]
    send_at_local: Option<String>,
    /// A random control group that gets nothing, 0-50 % of the segment.
    #[schema(minimum = 0, maximum = 50)]
    holdout_percent: Option<f64>,
    /// How long after the text a visit counts for the campaign (default 7).
    #[schema(minimum = 1, maximum = 90)]
    attribution_days: Option<u32>,
}

impl CampaignRequest {
    fn draft(self) -> Draft {
        Draft {
            name: self.name,
            body: self.body,
            segment: self.segment.unwrap_or_default(),
            send_at: self.send_at,
            send_at_local: self.send_at_local,
            holdout_percent: self.holdout_percent.unwrap_or(0.0),
            attribution_days: self.attribution_days.unwrap_or(7),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSendRequest {
    #[schema(example = "(415) 555-2671", min_length = 1, max_length = 64)]
    phone: String,
}

fn campaign_id(raw: &str) -> Result<&str, ApiError> {
    campaign_id_in(raw, "id")
}

/// A campaign id given in `field`.
fn campaign_id_in<'a>(raw: &'a str, field: &str) -> Result<&'a str, ApiError> {
    let valid = raw.len() <= 24
        && raw.starts_with('c')
        && raw.len() > 1
        && raw[1..].chars().all(|c| c.is_ascii_digit());
    if valid {
        Ok(raw)
    } else {
        Err(ApiError::invalid(field, "is not a campaign id (c1, c2...)"))
    }
}

/// Create a campaign (a draft, or scheduled with `send_at`).
#[utoipa::path(
    request_body = CampaignRequest,
    responses((status = 201, body = Campaign)),
    security(("api_key" = [])), tag = "marketing"
)]
#[post("/v1/campaigns")]
pub async fn create(
    key: ApiKey,
    state: web::Data<AppState>,
    body: ValidJson<CampaignRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let campaign = state
        .campaigns
        .create(&key.program, &body.0.draft())
        .await?;
    Ok(HttpResponse::Created().json(campaign))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Most campaigns to return (1-200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// Only campaigns created before this one: the last id of the previous page (the `Link`
    /// header's `next` carries it).
    #[param(pattern = "^c[0-9]{1,23}$")]
    before: Option<String>,
}

/// Each configured automation with what it sent and what that earned at the till, against its
/// holdout (as a campaign's results).
#[utoipa::path(
    responses((status = 200, body = Vec<crate::campaigns::Automation>)),
    security(("api_key" = [])), tag = "marketing"
)]
#[get("/v1/automations")]
pub async fn automations(
    key: ApiKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    Ok(HttpResponse::Ok().json(state.campaigns.automations(&key.program).await?))
}

/// The program's campaigns, newest first, a page at a time. When older campaigns remain, the
/// `Link` header (RFC 8288) has the next page's URL with `rel="next"`.
#[utoipa::path(
    params(ListQuery),
    responses(
        (status = 200, body = Vec<Campaign>,
            headers(("Link" = String, description = "`<...>; rel=\"next\"` when more remain"))),
        (status = 422, description = "validation-error: a bad limit, or a `before` that names no campaign"),
    ),
    security(("api_key" = [])), tag = "marketing"
)]
#[get("/v1/campaigns")]
pub async fn list(
    key: ApiKey,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let limit = query.limit.unwrap_or(50);
    let before = query
        .before
        .as_deref()
        .map(|b| campaign_id_in(b, "before"))
        .transpose()?;
    let page = state.campaigns.list(&key.program, limit, before).await?;
    let mut response = HttpResponse::Ok();
    if let (true, Some(last)) = (page.more, page.campaigns.last()) {
        response.insert_header((
            "Link",
            format!(
                "</v1/campaigns?limit={limit}&before={}>; rel=\"next\"",
                last.id
            ),
        ));
    }
    Ok(response.json(page.campaigns))
}

/// A campaign, its state and its counts.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^c[0-9]{1,23}$")),
    responses((status = 200, body = Campaign), (status = 404, description = "campaign-not-found")),
    security(("api_key" = [])), tag = "marketing"
)]
#[get("/v1/campaigns/{id}")]
pub async fn show(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let campaign = state
        .campaigns
        .get(&key.program, campaign_id(&path)?)
        .await?
        .ok_or(CampaignError::NotFound)?;
    Ok(HttpResponse::Ok().json(campaign))
}

/// Change a draft.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^c[0-9]{1,23}$")),
    request_body = CampaignRequest,
    responses(
        (status = 200, body = Campaign),
        (status = 404, description = "campaign-not-found"),
        (status = 409, description = "campaign-not-editable: it is no longer a draft"),
    ),
    security(("api_key" = [])), tag = "marketing"
)]
#[patch("/v1/campaigns/{id}")]
pub async fn update(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ValidJson<CampaignRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let campaign = state
        .campaigns
        .update(&key.program, campaign_id(&path)?, &body.0.draft())
        .await?;
    Ok(HttpResponse::Ok().json(campaign))
}

/// Who it would reach now, what the longest text is, and what it would cost.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^c[0-9]{1,23}$")),
    responses((status = 200, body = Preview), (status = 404, description = "campaign-not-found")),
    security(("api_key" = [])), tag = "marketing"
)]
#[post("/v1/campaigns/{id}/preview")]
pub async fn preview(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let preview = state
        .campaigns
        .preview(&key.program, campaign_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(preview))
}

/// One rendered copy to one phone (opt-outs and quiet hours apply).
#[utoipa::path(
    params(("id" = String, Path, pattern = "^c[0-9]{1,23}$")),
    request_body = TestSendRequest,
    responses((status = 202, description = "Queued"), (status = 404, description = "campaign-not-found")),
    security(("api_key" = [])), tag = "marketing"
)]
#[post("/v1/campaigns/{id}/test")]
pub async fn test_send(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ValidJson<TestSendRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let phone = phone_of(&key.program, &body.0.phone)?;
    let message = state
        .campaigns
        .test_send(&key.program, campaign_id(&path)?, &phone)
        .await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "message_id": message })))
}

/// Send now (a campaign with `send_at` is sent then by itself). Each member of the segment gets
/// it at most once, whatever happens; a second send changes nothing.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^c[0-9]{1,23}$")),
    responses((status = 202, body = Campaign), (status = 404, description = "campaign-not-found")),
    security(("api_key" = [])), tag = "marketing"
)]
#[post("/v1/campaigns/{id}/send")]
pub async fn send(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let campaign = state
        .campaigns
        .start(&key.program, campaign_id(&path)?, None)
        .await?;
    Ok(HttpResponse::Accepted().json(campaign))
}

/// Stop it: nothing more is queued, and its texts not yet sent are not sent.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^c[0-9]{1,23}$")),
    responses((status = 200, body = Campaign), (status = 404, description = "campaign-not-found")),
    security(("api_key" = [])), tag = "marketing"
)]
#[post("/v1/campaigns/{id}/cancel")]
pub async fn cancel(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let campaign = state
        .campaigns
        .cancel(&key.program, campaign_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(campaign))
}

/// Resume a paused campaign (one that paused itself when carriers filtered too many of its
/// texts, see `paused_reason`): it goes on where it stopped, and the texts it held are sent.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^c[0-9]{1,23}$")),
    responses(
        (status = 200, body = Campaign),
        (status = 404, description = "campaign-not-found"),
        (status = 409, description = "campaign-not-paused"),
    ),
    security(("api_key" = [])), tag = "marketing"
)]
#[post("/v1/campaigns/{id}/resume")]
pub async fn resume(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let campaign = state
        .campaigns
        .resume(&key.program, campaign_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(campaign))
}

/// What the campaign earned at the till, against its holdout.
#[utoipa::path(
    params(("id" = String, Path, pattern = "^c[0-9]{1,23}$")),
    responses((status = 200, body = Results), (status = 404, description = "campaign-not-found")),
    security(("api_key" = [])), tag = "marketing"
)]
#[get("/v1/campaigns/{id}/results")]
pub async fn results(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Marketing)?;
    let results = state
        .campaigns
        .results(&key.program, campaign_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(results))
}

/// A tracked link from a campaign text: a redirect to the campaign's URL, the click counted
/// for the campaign. Every unknown, expired or malformed token gets the same 404, which says
/// nothing more.
#[utoipa::path(
    params(("token" = String, Path, pattern = "^[0-9A-Za-z]{8}$")),
    responses(
        (status = 302, description = "To the original URL (`Location`)",
            headers(("Location" = String, description = "The campaign's URL"))),
        (status = 404, description = "No such link"),
    ),
    tag = "marketing"
)]
#[get("/l/{token}")]
pub async fn follow_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    if crate::campaigns::links::is_token(&token) {
        for program in state.programs.iter() {
            if let Some(url) = state.campaigns.click(program, &token).await? {
                return Ok(HttpResponse::Found()
                    .insert_header((actix_web::http::header::LOCATION, url))
                    .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                    .finish());
            }
        }
    }
    Err(ApiError::not_found("no such link"))
}
