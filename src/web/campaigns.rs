//! The dashboard's campaign pages: the list with each campaign's progress, a draft's form with
//! its live preview (recipients, encoding, segments, cost and sample texts, updated by htmx as
//! the marketer types, or on saving without JavaScript), a test send, sending now or at a time,
//! cancelling and resuming, and a sent campaign's results against its holdout. Everything goes
//! through [`crate::campaigns::Campaigns`], as `/v1/campaigns` does: the pages add no rule.
//!
//! htmx (`web/static/`, pinned) is served from the binary under a name with its content hash, so
//! it can be cached for a year. Every `hx-` attribute sits on the element that makes the request:
//! nothing relies on attribute inheritance, which htmx 4 changed.

use std::sync::LazyLock;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse};
use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::dashboard::{header, same, see_other, unavailable};
use super::session::Session;
use super::strings::{CAMPAIGNS as C, DASHBOARD as T};
use crate::campaigns::{Campaign, CampaignError, Draft, GroupResults, Preview, Segment};
use crate::domain::PhoneNumber;
use crate::routes::AppState;

/// htmx, as vendored.
const HTMX: &[u8] = include_bytes!("../../web/static/htmx.min.js");

/// Where htmx is served: its name carries the first 16 hex digits of its SHA-256, so a new
/// version is a new address and the old one can be cached for good.
pub static HTMX_PATH: LazyLock<String> = LazyLock::new(|| {
    let hash = hex::encode(Sha256::digest(HTMX));
    format!("/dashboard/assets/htmx-{}.min.js", &hash[..16])
});

/// Campaigns shown on the list.
const LISTED: usize = 50;

#[get("/dashboard/assets/{name}")]
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    if format!("/dashboard/assets/{path}") != *HTMX_PATH {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("Not found");
    }
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(HTMX)
}

/// A submitted form's fields in order; a name may repeat (checkboxes).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn text(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The form as the marketer filled it in, to show it again.
#[derive(Debug, Default, Serialize)]
struct FormValues {
    name: String,
    body: String,
    tiers: Vec<String>,
    locations: Vec<String>,
    locales: Vec<String>,
    min_balance: String,
    max_balance: String,
    not_visited_for_days: String,
    min_visits: String,
    holdout_percent: String,
    attribution_days: String,
    send_at_local: String,
}

impl FormValues {
    fn blank() -> Self {
        Self {
            holdout_percent: "0".into(),
            attribution_days: "7".into(),
            ..Self::default()
        }
    }

    fn of_fields(fields: &Fields) -> Self {
        let text = |name| fields.text(name).to_owned();
        Self {
            name: text("name"),
            body: text("body"),
            tiers: fields.all("tiers"),
            locations: fields.all("locations"),
            locales: fields.all("locales"),
            min_balance: text("min_balance"),
            max_balance: text("max_balance"),
            not_visited_for_days: text("not_visited_for_days"),
            min_visits: text("min_visits"),
            holdout_percent: text("holdout_percent"),
            attribution_days: text("attribution_days"),
            send_at_local: text("send_at_local"),
        }
    }

    fn of_campaign(campaign: &Campaign, segment: &Segment) -> Self {
        let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        Self {
            name: campaign.name.clone(),
            body: campaign.body.clone(),
            tiers: segment.tiers.clone().unwrap_or_default(),
            locations: segment.locations.clone().unwrap_or_default(),
            locales: segment.locales.clone().unwrap_or_default(),
            min_balance: number(segment.min_balance),
            max_balance: number(segment.max_balance),
            not_visited_for_days: number(segment.not_visited_for_days.map(i64::from)),
            min_visits: number(segment.min_visits),
            holdout_percent: campaign.holdout_percent.to_string(),
            attribution_days: campaign.attribution_days.to_string(),
            send_at_local: campaign.send_at_local.clone().unwrap_or_default(),
        }
    }

    /// The draft these values make, with the segment's date conditions (set through the API;
    /// the form does not show them as fields) taken from `kept`.
    fn draft(&self, kept: &Segment) -> Result<Draft, CampaignError> {
        fn number<T: std::str::FromStr>(
            field: &'static str,
            text: &str,
        ) -> Result<Option<T>, CampaignError> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse().map(Some).map_err(|_| CampaignError::Invalid {
                field,
                message: format!("{text:?} is not a whole number"),
            })
        }
        let list = |values: &Vec<String>| (!values.is_empty()).then(|| values.clone());
        let holdout_percent = match self.holdout_percent.trim() {
            "" => 0.0,
            text => text.parse().map_err(|_| CampaignError::Invalid {
                field: "holdout_percent",
                message: format!("{text:?} is not a number"),
            })?,
        };
        let segment = Segment {
            tiers: list(&self.tiers),
            locations: list(&self.locations),
            locales: list(&self.locales),
            min_balance: number("segment.min_balance", &self.min_balance)?,
            max_balance: number("segment.max_balance", &self.max_balance)?,
            not_visited_for_days: number(
                "segment.not_visited_for_days",
                &self.not_visited_for_days,
            )?,
            min_visits: number("segment.min_visits", &self.min_visits)?,
            visited_after: kept.visited_after.clone(),
            visited_before: kept.visited_before.clone(),
            joined_after: kept.joined_after.clone(),
            joined_before: kept.joined_before.clone(),
        };
        let send_at_local = self.send_at_local.trim();
        Ok(Draft {
            name: self.name.clone(),
            body: self.body.clone(),
            segment,
            send_at: None,
            send_at_local: (!send_at_local.is_empty()).then(|| send_at_local.to_owned()),
            holdout_percent,
            attribution_days: number("attribution_days", &self.attribution_days)?.unwrap_or(7),
        })
    }
}

/// The segment conditions of a stored campaign.
fn segment_of(campaign: &Campaign) -> Segment {
    serde_json::from_value(campaign.segment.clone()).unwrap_or_default()
}

/// The date conditions of a segment, which the form keeps without showing them as fields.
fn kept_conditions(segment: &Segment) -> Vec<(&'static str, String)> {
    [
        ("visited_after", &segment.visited_after),
        ("visited_before", &segment.visited_before),
        ("joined_after", &segment.joined_after),
        ("joined_before", &segment.joined_before),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
    .collect()
}

/// A valid campaign id (`c1`, `c2`...), or none.
fn campaign_id(raw: &str) -> Option<&str> {
    let digits = raw.strip_prefix('c')?;
    (!digits.is_empty() && digits.len() < 24 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(raw)
}

/// The page's answer to a form whose token does not match the session's.
fn expired_form() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/plain; charset=utf-8")
        .body(T.error_form)
}

fn not_found(current: &Session) -> HttpResponse {
    super::page(
        HttpResponse::NotFound(),
        "campaign_missing.html",
        minijinja::context! { c => &C, ..header(current, "campaigns") },
    )
}

/// What the campaign pages' templates all get: the header's values, the words, and htmx.
fn context(current: &Session, values: minijinja::Value) -> minijinja::Value {
    minijinja::value::merge_maps([
        minijinja::context! {
            c => &C,
            htmx => minijinja::Value::from_safe_string(HTMX_PATH.clone()),
        },
        values,
        header(current, "campaigns"),
    ])
}

/// The form's fields, when the form's token is the session's.
fn signed_form(current: &Session, body: &[u8]) -> Option<Fields> {
    let fields = Fields::parse(body);
    same(fields.text("csrf"), &current.csrf).then_some(fields)
}

/// A campaign operation that failed for want of Redis (or of a rendering thread), as the page
/// shows it.
fn failed(e: &CampaignError) -> HttpResponse {
    match e {
        CampaignError::Store(e) => unavailable(e),
        other => {
            tracing::error!(error = %other, "dashboard: campaign");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body(T.error_unavailable)
        }
    }
}

#[get("/dashboard/campaigns")]
pub async fn list_page(state: web::Data<AppState>, current: Session) -> HttpResponse {
    let page = match state.campaigns.list(&current.program, LISTED, None).await {
        Ok(page) => page,
        Err(e) => return failed(&e),
    };
    let live = page
        .campaigns
        .iter()
        .any(|c| matches!(c.status.as_str(), "sending" | "scheduled"));
    let rows: Vec<_> = page
        .campaigns
        .iter()
        .map(|c| minijinja::context! { campaign => c, done => done_count(c), total => c.recipients.max(1) })
        .collect();
    super::page(
        HttpResponse::Ok(),
        "campaigns.html",
        context(&current, minijinja::context! { rows => rows, live => live }),
    )
}

/// Texts of the campaign that reached an end: sent, failed, not sent, or over the cap.
fn done_count(campaign: &Campaign) -> i64 {
    campaign.sent + campaign.failed + campaign.suppressed + campaign.capped
}

/// The programs' choices a segment is made of.
fn choices(current: &Session) -> minijinja::Value {
    let program = &current.program;
    minijinja::context! {
        all_tiers => program.tiers.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
        all_locations => program.locations.iter()
            .map(|l| (l.id.as_str().to_owned(), l.name.clone())).collect::<Vec<_>>(),
        all_locales => crate::templates::SHIPPED_LOCALES,
    }
}

/// The form of a new campaign (`id` none) or of a draft, with its preview or what is wrong
/// with it, and what the last action came to.
struct FormPage<'a> {
    id: Option<&'a str>,
    values: &'a FormValues,
    kept: &'a Segment,
    preview: Result<Option<Preview>, String>,
    notice: Option<&'static str>,
    problem: Option<String>,
}

impl FormPage<'_> {
    fn render(self, status: StatusCode, current: &Session) -> HttpResponse {
        let (preview, preview_error) = match self.preview {
            Ok(preview) => (preview, None),
            Err(e) => (None, Some(e)),
        };
        super::page(
            HttpResponse::build(status),
            "campaign_form.html",
            context(
                current,
                minijinja::context! {
                    id => self.id,
                    form => self.values,
                    kept => kept_conditions(self.kept),
                    preview => preview,
                    preview_error => preview_error,
                    notice => self.notice,
                    problem => self.problem,
                    ..choices(current)
                },
            ),
        )
    }
}

#[get("/dashboard/campaigns/new")]
pub async fn new_form(current: Session) -> HttpResponse {
    FormPage {
        id: None,
        values: &FormValues::blank(),
        kept: &Segment::default(),
        preview: Ok(None),
        notice: None,
        problem: None,
    }
    .render(StatusCode::OK, &current)
}

#[post("/dashboard/campaigns")]
pub async fn create(
    state: web::Data<AppState>,
    current: Session,
    body: web::Bytes,
) -> HttpResponse {
    let Some(fields) = signed_form(&current, &body) else {
        return expired_form();
    };
    let values = FormValues::of_fields(&fields);
    let kept = Segment::default();
    let created = match values.draft(&kept) {
        Ok(draft) => state.campaigns.create(&current.program, &draft).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(campaign) => {
            tracing::info!(program = %current.program.id, by = %current.actor(), campaign = %campaign.id, "dashboard: campaign created");
            see_other(&format!(
                "/dashboard/campaigns/{}?done=created",
                campaign.id
            ))
            .finish()
        }
        Err(e @ CampaignError::Invalid { .. }) => FormPage {
            id: None,
            values: &values,
            kept: &kept,
            preview: Ok(None),
            notice: None,
            problem: Some(e.to_string()),
        }
        .render(StatusCode::UNPROCESSABLE_ENTITY, &current),
        Err(e) => failed(&e),
    }
}

/// The live preview: the form as it stands, not saved, answered as the preview panel alone.
#[post("/dashboard/campaigns/preview")]
pub async fn preview_panel(
    state: web::Data<AppState>,
    current: Session,
    body: web::Bytes,
) -> HttpResponse {
    let Some(fields) = signed_form(&current, &body) else {
        return expired_form();
    };
    let kept = match campaign_id(fields.text("id")) {
        Some(id) => match state.campaigns.get(&current.program, id).await {
            Ok(campaign) => campaign.as_ref().map(segment_of).unwrap_or_default(),
            Err(e) => return unavailable(&e),
        },
        None => Segment::default(),
    };
    let values = FormValues::of_fields(&fields);
    let previewed = match values.draft(&kept) {
        Ok(draft) => {
            state
                .campaigns
                .preview_draft(&current.program, &draft)
                .await
        }
        Err(e) => Err(e),
    };
    let (preview, preview_error) = match previewed {
        Ok(preview) => (Some(preview), None),
        Err(e @ CampaignError::Invalid { .. }) => (None, Some(e.to_string())),
        Err(e) => return failed(&e),
    };
    super::page(
        HttpResponse::Ok(),
        "_preview.html",
        minijinja::context! { c => &C, preview => preview, preview_error => preview_error },
    )
}

/// What a `done=` or `error=` in the address says.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "created" => C.done_created,
        "saved" => C.done_saved,
        "test" => C.done_test,
        "sent" => C.done_sent,
        "scheduled" => C.done_scheduled,
        "cancelled" => C.done_cancelled,
        "resumed" => C.done_resumed,
        _ => return None,
    })
}

fn problem(error: Option<&str>) -> Option<String> {
    Some(
        match error? {
            "phone" => C.error_phone,
            "schedule" => C.error_schedule,
            "not_editable" => C.error_not_editable,
            "not_paused" => C.error_not_paused,
            _ => return None,
        }
        .to_owned(),
    )
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Notice {
    done: Option<String>,
    error: Option<String>,
}

#[get("/dashboard/campaigns/{id}")]
pub async fn campaign_page(
    state: web::Data<AppState>,
    current: Session,
    path: web::Path<String>,
    query: web::Query<Notice>,
) -> HttpResponse {
    let Some(id) = campaign_id(&path) else {
        return not_found(&current);
    };
    let program = &current.program;
    let campaign = match state.campaigns.get(program, id).await {
        Ok(Some(campaign)) => campaign,
        Ok(None) => return not_found(&current),
        Err(e) => return unavailable(&e),
    };
    let notice = notice(query.done.as_deref());
    let problem = problem(query.error.as_deref());
    if campaign.status == "draft" {
        let preview = match state.campaigns.preview_campaign(program, &campaign).await {
            Ok(preview) => Ok(Some(preview)),
            Err(e @ CampaignError::Invalid { .. }) => Err(e.to_string()),
            Err(e) => return failed(&e),
        };
        let segment = segment_of(&campaign);
        return FormPage {
            id: Some(id),
            values: &FormValues::of_campaign(&campaign, &segment),
            kept: &segment,
            preview,
            notice,
            problem,
        }
        .render(StatusCode::OK, &current);
    }
    let results = match state.campaigns.results(program, id).await {
        Ok(results) => results,
        Err(e) => return failed(&e),
    };
    let money = |minor: f64| format!("{:.2} {}", minor / 100.0, program.currency);
    let percent = |rate: f64| format!("{:.1} %", rate * 100.0);
    let sides = [
        (C.texted, &results.recipients),
        (C.held_out, &results.holdout),
    ];
    // One bar per side, labelled as the table shows the figure.
    let chart = |title: &str, value: fn(&GroupResults) -> f64, shown: &dyn Fn(f64) -> String| {
        let bars = sides.map(|(name, group)| (name, value(group), shown(value(group))));
        minijinja::Value::from_safe_string(comparison_chart(title, &bars))
    };
    let charts = if results.holdout.members > 0 {
        vec![
            chart(C.visit_rate, |g| g.visit_rate, &percent),
            chart(C.spend_per_member, |g| g.spend_per_member, &money),
        ]
    } else {
        Vec::new()
    };
    let groups = sides.map(|(name, group)| {
        minijinja::context! {
            name => name,
            group => group,
            visit_rate => percent(group.visit_rate),
            spend => money(group.spend as f64),
            spend_per_member => money(group.spend_per_member),
        }
    });
    let live = matches!(campaign.status.as_str(), "sending" | "scheduled");
    super::page(
        HttpResponse::Ok(),
        "campaign.html",
        context(
            &current,
            minijinja::context! {
                campaign => &campaign,
                done => done_count(&campaign),
                total => campaign.recipients.max(1),
                live => live,
                notice => notice,
                problem => problem,
                charts => charts,
                groups => groups,
                has_holdout => results.holdout.members > 0,
                incremental_visits => format!("{:.1}", results.incremental.visits),
                incremental_spend => money(results.incremental.spend),
                attribution_days => results.attribution_days,
            },
        ),
    )
}

/// Saves a draft's form.
#[post("/dashboard/campaigns/{id}")]
pub async fn save(
    state: web::Data<AppState>,
    current: Session,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(fields) = signed_form(&current, &body) else {
        return expired_form();
    };
    let Some(id) = campaign_id(&path) else {
        return not_found(&current);
    };
    let program = &current.program;
    let kept = match state.campaigns.get(program, id).await {
        Ok(Some(campaign)) => segment_of(&campaign),
        Ok(None) => return not_found(&current),
        Err(e) => return unavailable(&e),
    };
    let values = FormValues::of_fields(&fields);
    let saved = match values.draft(&kept) {
        Ok(draft) => state.campaigns.update(program, id, &draft).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => see_other(&format!("/dashboard/campaigns/{id}?done=saved")).finish(),
        Err(e @ CampaignError::Invalid { .. }) => FormPage {
            id: Some(id),
            values: &values,
            kept: &kept,
            preview: Ok(None),
            notice: None,
            problem: Some(e.to_string()),
        }
        .render(StatusCode::UNPROCESSABLE_ENTITY, &current),
        Err(CampaignError::NotEditable { .. }) => {
            see_other(&format!("/dashboard/campaigns/{id}?error=not_editable")).finish()
        }
        Err(CampaignError::NotFound) => not_found(&current),
        Err(e) => failed(&e),
    }
}

/// What a campaign's action buttons ask for, by the last part of the form's address.
enum Action {
    Test,
    Send,
    Schedule,
    Cancel,
    Resume,
}

impl Action {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "test" => Self::Test,
            "send" => Self::Send,
            "schedule" => Self::Schedule,
            "cancel" => Self::Cancel,
            "resume" => Self::Resume,
            _ => return None,
        })
    }
}

/// A campaign's action: a test send, send now, schedule, cancel or resume, as the API's
/// routes of the same names do.
#[post("/dashboard/campaigns/{id}/{action}")]
pub async fn act(
    state: web::Data<AppState>,
    current: Session,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(fields) = signed_form(&current, &body) else {
        return expired_form();
    };
    let (id, action) = (&path.0, &path.1);
    let (Some(id), Some(action)) = (campaign_id(id), Action::parse(action)) else {
        return not_found(&current);
    };
    let program = &current.program;
    let campaigns = &state.campaigns;
    let back = |query: &str| see_other(&format!("/dashboard/campaigns/{id}?{query}")).finish();
    let (done, result) = match action {
        Action::Test => {
            let Ok(phone) = PhoneNumber::parse(fields.text("phone"), program.region) else {
                return back("error=phone");
            };
            (
                "test",
                campaigns.test_send(program, id, &phone).await.map(|_| ()),
            )
        }
        Action::Send => ("sent", campaigns.start(program, id, None).await.map(|_| ())),
        Action::Schedule => {
            let at = NaiveDateTime::parse_from_str(fields.text("send_at"), "%Y-%m-%dT%H:%M")
                .ok()
                .and_then(|local| program.timezone.from_local_datetime(&local).earliest())
                .map(|at| at.with_timezone(&Utc))
                .filter(|at| *at > state.clock.now());
            let Some(at) = at else {
                return back("error=schedule");
            };
            (
                "scheduled",
                campaigns.start(program, id, Some(at)).await.map(|_| ()),
            )
        }
        Action::Cancel => ("cancelled", campaigns.cancel(program, id).await.map(|_| ())),
        Action::Resume => ("resumed", campaigns.resume(program, id).await.map(|_| ())),
    };
    match result {
        Ok(()) => {
            tracing::info!(program = %program.id, by = %current.actor(), campaign = id, action = done, "dashboard: campaign");
            back(&format!("done={done}"))
        }
        Err(CampaignError::NotFound) => not_found(&current),
        Err(CampaignError::NotPaused { .. }) => back("error=not_paused"),
        Err(e) => failed(&e),
    }
}

/// Horizontal bars side by side, one per group, each labelled with its value.
fn comparison_chart(title: &str, rows: &[(&str, f64, String)]) -> String {
    use std::fmt::Write;
    const WIDTH: f64 = 600.0;
    const LABEL: f64 = 110.0;
    const ROW: f64 = 34.0;
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let height = ROW * rows.len() as f64 + 8.0;
    let mut svg = format!(
        r##"<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg"><title>{title}</title>"##,
        title = minijinja::HtmlEscape(title),
    );
    for (i, (name, value, shown)) in rows.iter().enumerate() {
        let y = ROW * i as f64 + 4.0;
        let bar = if max > 0.0 {
            (WIDTH - LABEL - 120.0) * value / max
        } else {
            0.0
        };
        let fill = if i == 0 { "#0b57d0" } else { "#5c5c5c" };
        let _ = write!(
            svg,
            r##"<text x="0" y="{ty}" font-size="14" fill="#1a1a1a">{name}</text><rect x="{LABEL}" y="{y}" width="{bar:.1}" height="24" fill="{fill}"/><text x="{tx:.1}" y="{ty}" font-size="14" fill="#1a1a1a">{shown}</text>"##,
            ty = y + 17.0,
            name = minijinja::HtmlEscape(name),
            tx = LABEL + bar + 8.0,
            shown = minijinja::HtmlEscape(shown),
        );
    }
    svg.push_str("</svg>");
    svg
}
