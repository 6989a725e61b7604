//! The dashboard, `/dashboard`: sign-in with an API key of scope `marketing` or `admin`
//! ([`super::session`]), and the overview of the program (the KPIs of `GET /v1/stats` for a
//! period and a location, with their series per day as server-rendered SVG charts, each with
//! the same figures as a table). Every form carries a token (CSRF): the session's, or before
//! sign-in a cookie's (double submit).

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::session::{self, Session, SignedIn};
use super::strings::DASHBOARD as T;
use crate::domain::LocationId;
use crate::routes::AppState;
use crate::stats::{Day, Window, MAX_DAYS};
use crate::store::StoreError;

#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    key: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Debug, Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

#[derive(Debug, Deserialize)]
pub struct Requeue {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

#[derive(Debug, Deserialize)]
pub struct MemberSearch {
    phone: Option<String>,
    /// Set after an erasure.
    erased: Option<String>,
}

/// What the member's page reports after an admin's action.
#[derive(Debug, Default, Deserialize)]
pub struct MemberNotice {
    done: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    csrf: String,
    /// Makes a resubmitted form (a reload, a double click) count once.
    #[serde(default)]
    form_id: String,
    #[serde(default)]
    points: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    from: Option<String>,
    to: Option<String>,
    location: Option<String>,
}

pub(super) fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub(super) fn see_other(to: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, to.to_owned()));
    response
}

pub(super) fn unavailable(e: &StoreError) -> HttpResponse {
    tracing::warn!(error = %crate::telemetry::Chain(e), "dashboard: Redis");
    unavailable_page()
}

/// The sign-in form, saying that the service is unavailable.
pub(super) fn unavailable_page() -> HttpResponse {
    sign_in_page(
        StatusCode::SERVICE_UNAVAILABLE,
        Some(T.error_unavailable),
        None,
    )
}

/// The sign-in form, with a fresh double-submit token (and its cookie) unless `token` is given.
fn sign_in_page(status: StatusCode, error: Option<&str>, token: Option<String>) -> HttpResponse {
    let token = token.unwrap_or_else(session::random_token);
    let mut response = HttpResponse::build(status);
    response.cookie(
        actix_web::cookie::Cookie::build(session::SIGN_IN_COOKIE, token.clone())
            .path("/dashboard")
            .http_only(true)
            .same_site(actix_web::cookie::SameSite::Strict)
            .finish(),
    );
    super::page(
        response,
        "sign_in.html",
        minijinja::context! { t => &T, error => error, csrf => token },
    )
}

#[get("/dashboard/sign-in")]
pub async fn sign_in_form(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    match session::current(&state, &request).await {
        Ok(Some(_)) => see_other("/dashboard").finish(),
        Ok(None) => sign_in_page(StatusCode::OK, None, None),
        Err(e) => unavailable(&e),
    }
}

#[post("/dashboard/sign-in")]
pub async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<SignIn>,
) -> HttpResponse {
    let expected = request
        .cookie(session::SIGN_IN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !same(&form.csrf, &expected) {
        return sign_in_page(StatusCode::FORBIDDEN, Some(T.error_form), None);
    }
    let address =
        super::client_address(&request, state.settings.server.client_ip_header.as_deref());
    match session::throttled(&state, &address, false).await {
        Ok(true) => {
            return sign_in_page(StatusCode::TOO_MANY_REQUESTS, Some(T.error_throttled), None)
        }
        Ok(false) => {}
        Err(e) => return unavailable(&e),
    }
    let who = if form.user.trim().is_empty() {
        crate::auth::find_key(&state.settings.api_keys, form.key.trim())
            .filter(|k| session::may_sign_in(k))
            .cloned()
            .map(SignedIn::Key)
    } else {
        password_user(&state, form.user.trim(), &form.password).await
    };
    let Some(who) = who else {
        tracing::info!(client = %address, "dashboard: a sign-in failed");
        return match session::throttled(&state, &address, true).await {
            Ok(_) => sign_in_page(StatusCode::UNAUTHORIZED, Some(T.error_key), None),
            Err(e) => unavailable(&e),
        };
    };
    match session::start(&state, &who).await {
        Ok(cookie) => {
            tracing::info!(program = %who.program(), by = %who.actor(), "dashboard: signed in");
            see_other("/dashboard")
                .cookie(cookie)
                .cookie(session::removal(
                    &state,
                    session::SIGN_IN_COOKIE,
                    "/dashboard",
                ))
                .finish()
        }
        Err(e) => unavailable(&e),
    }
}

/// Made once, so that a name nobody has costs a sign-in as much time as a wrong password.
static UNKNOWN_USER_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::auth::hash_password(&session::random_token()).unwrap_or_default()
});

/// The configured dashboard user `name`, if `password` is theirs. Argon2 takes tens of
/// milliseconds of CPU on purpose, so it runs on a blocking thread.
async fn password_user(state: &AppState, name: &str, password: &str) -> Option<SignedIn> {
    let user = state
        .settings
        .dashboard_users
        .iter()
        .find(|u| u.name == name)
        .cloned();
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| UNKNOWN_USER_HASH.clone());
    let password = password.to_owned();
    let matches =
        tokio::task::spawn_blocking(move || crate::auth::verify_password(&hash, &password))
            .await
            .unwrap_or(false);
    user.filter(|_| matches).map(SignedIn::User)
}

#[post("/dashboard/sign-out")]
pub async fn sign_out(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<SignOut>,
) -> HttpResponse {
    match session::current(&state, &request).await {
        Ok(Some(current)) if !same(&form.csrf, &current.csrf) => HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body(T.error_form),
        Ok(_) => match session::end(&state, &request).await {
            Ok(()) => see_other("/dashboard/sign-in")
                .cookie(session::removal(&state, session::COOKIE, "/dashboard"))
                .finish(),
            Err(e) => unavailable(&e),
        },
        Err(e) => unavailable(&e),
    }
}

/// What every signed-in page shows in its header.
pub(super) fn header(current: &Session, page: &str) -> minijinja::Value {
    minijinja::context! {
        t => &T,
        program => current.program.name.clone(),
        key => current.name().to_owned(),
        csrf => current.csrf.clone(),
        admin => current.is_admin(),
        page => page,
    }
}

#[get("/dashboard")]
pub async fn overview(
    state: web::Data<AppState>,
    current: Session,
    filters: web::Query<Filters>,
) -> HttpResponse {
    let today = state.clock.now().date_naive();
    let (window, location, error) = filters_or_default(&current, &filters, today);
    let program = &current.program;
    let prefix = &state.settings.redis.key_prefix;
    let figures = async {
        let stats = crate::stats::stats(
            &state.store,
            prefix,
            program,
            Some(window),
            location.as_ref(),
        )
        .await?;
        let days =
            crate::stats::daily(&state.store, prefix, program, window, location.as_ref()).await?;
        Ok::<_, StoreError>((stats, days))
    };
    let (stats, days) = match figures.await {
        Ok(figures) => figures,
        Err(e) => return unavailable(&e),
    };
    // Points held at each day's end: today's total, less what each later day added. Held points
    // are the program's, so the chart is shown without a location filter only.
    let held = match location {
        Some(_) => None,
        None => {
            let through_today = Window {
                from: window.from,
                to: today.max(window.to),
            };
            let later = if through_today.to == window.to {
                Ok(days.clone())
            } else if (through_today.to - through_today.from).num_days() < MAX_DAYS {
                crate::stats::daily(&state.store, prefix, program, through_today, None).await
            } else {
                Ok(Vec::new())
            };
            match later {
                Ok(later) if !later.is_empty() => {
                    Some(held_at_day_end(stats.points.outstanding, &later, window))
                }
                Ok(_) => None,
                Err(e) => return unavailable(&e),
            }
        }
    };
    let charts = [
        (
            T.new_members,
            series(&days, |d| d.new_members),
            Shown::PerDay,
        ),
        (T.visits, series(&days, |d| d.visits), Shown::PerDay),
        (
            T.points_issued,
            series(&days, |d| d.points_issued),
            Shown::PerDay,
        ),
        (
            T.points_redeemed,
            series(&days, |d| d.points_redeemed),
            Shown::PerDay,
        ),
        (
            T.points_expired,
            series(&days, |d| d.points_expired),
            Shown::PerDay,
        ),
    ]
    .into_iter()
    .chain(held.map(|held| (T.points_held, held, Shown::AtDayEnd)))
    .map(|(title, values, shown)| {
        minijinja::context! {
            title => title,
            per_day => matches!(shown, Shown::PerDay),
            svg => minijinja::Value::from_safe_string(bar_chart(title, &values, shown)),
            rows => values.iter().map(|(d, v)| (d.to_string(), *v)).collect::<Vec<_>>(),
        }
    })
    .collect::<Vec<_>>();
    let locations: Vec<(String, String)> = program
        .locations
        .iter()
        .map(|l| (l.id.as_str().to_owned(), l.name.clone()))
        .collect();
    let percent = |x: f64| format!("{:.1} %", x * 100.0);
    super::page(
        HttpResponse::Ok(),
        "overview.html",
        minijinja::context! {
            from => window.from.to_string(),
            to => window.to.to_string(),
            location => location.as_ref().map(|l| l.as_str().to_owned()),
            locations => locations,
            error => error,
            stats => minijinja::Value::from_serialize(&stats),
            repeat_rate => percent(stats.repeat_visit_rate),
            redemption_rate => percent(stats.redemption_rate),
            breakage_rate => percent(stats.breakage_rate),
            charts => charts,
            ..header(&current, "overview"),
        },
    )
}

#[get("/dashboard/locations")]
pub async fn locations_page(
    state: web::Data<AppState>,
    current: Session,
    filters: web::Query<Filters>,
) -> HttpResponse {
    let today = state.clock.now().date_naive();
    let (window, _, error) = filters_or_default(&current, &filters, today);
    let program = &current.program;
    let stats = match crate::stats::stats(
        &state.store,
        &state.settings.redis.key_prefix,
        program,
        Some(window),
        None,
    )
    .await
    {
        Ok(stats) => stats,
        Err(e) => return unavailable(&e),
    };
    let rows: Vec<minijinja::Value> = program
        .locations
        .iter()
        .map(|l| {
            let figures = stats.by_location.get(l.id.as_str());
            minijinja::context! {
                id => l.id.as_str(),
                name => l.name.clone(),
                visits => figures.map_or(0, |f| f.visits),
                points_issued => figures.map_or(0, |f| f.points_issued),
                points_redeemed => figures.map_or(0, |f| f.points_redeemed),
                rewards_redeemed => figures.map_or(0, |f| f.rewards_redeemed),
            }
        })
        .collect();
    super::page(
        HttpResponse::Ok(),
        "locations.html",
        minijinja::context! {
            program_id => program.id.as_str(),
            from => window.from.to_string(),
            to => window.to.to_string(),
            error => error,
            rows => rows,
            ..header(&current, "locations"),
        },
    )
}

#[get("/dashboard/operations")]
pub async fn operations_page(state: web::Data<AppState>, current: Session) -> HttpResponse {
    let program = &current.program;
    let keys = state.outbox.keys(program);
    let mut pipe = redis::pipe();
    pipe.xlen(keys.outbox())
        .zcard(keys.delayed())
        .xlen(keys.dead());
    let figures = async {
        let depths: (u64, u64, u64) = state.store.pipeline(&pipe).await?;
        let dead = state.outbox.dead_letters(program, 100).await?;
        let retrying = state.outbox.retrying(program, 20).await?;
        let hooks = state.events.states(program).await?;
        Ok::<_, StoreError>((depths, dead, retrying, hooks))
    };
    let ((outbox, delayed, dead_count), dead, retrying, hooks) = match figures.await {
        Ok(figures) => figures,
        Err(e) => return unavailable(&e),
    };
    let hooks: Vec<minijinja::Value> = hooks.iter().map(minijinja::Value::from_serialize).collect();
    super::page(
        HttpResponse::Ok(),
        "operations.html",
        minijinja::context! {
            outbox => outbox,
            delayed => delayed,
            dead_count => dead_count,
            dead => dead,
            retrying => retrying,
            hooks => hooks,
            ..header(&current, "operations"),
        },
    )
}

/// Members: a search by number, in any format the program's country writes it.
#[get("/dashboard/members")]
pub async fn members_page(
    state: web::Data<AppState>,
    current: Session,
    query: web::Query<MemberSearch>,
) -> HttpResponse {
    let program = &current.program;
    let typed = query
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let mut error = None;
    if let Some(typed) = typed {
        match crate::domain::PhoneNumber::parse(typed, program.region) {
            Err(_) => error = Some(T.error_phone),
            Ok(phone) => match state.ledger.member(program, &phone).await {
                Ok(Some(_)) => {
                    let path: String =
                        url::form_urlencoded::byte_serialize(phone.as_str().as_bytes()).collect();
                    return see_other(&format!("/dashboard/members/{path}")).finish();
                }
                Ok(None) => error = Some(T.no_member),
                Err(e) => return unavailable_ledger(&e),
            },
        }
    }
    let status = if error.is_some() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    super::page(
        HttpResponse::build(status),
        "members.html",
        minijinja::context! {
            phone => typed.unwrap_or(""),
            error => error,
            erased => query.erased.is_some(),
            ..header(&current, "members"),
        },
    )
}

fn unavailable_ledger(e: &crate::ledger::LedgerError) -> HttpResponse {
    tracing::warn!(error = %crate::telemetry::Chain(e), "dashboard: the ledger");
    sign_in_page(
        StatusCode::SERVICE_UNAVAILABLE,
        Some(T.error_unavailable),
        None,
    )
}

/// One member: balance, tier, codes, history with the delivery state of its texts, texts, and
/// the consent record.
#[get("/dashboard/members/{phone}")]
pub async fn member_page(
    state: web::Data<AppState>,
    current: Session,
    path: web::Path<String>,
    notice: web::Query<MemberNotice>,
) -> HttpResponse {
    let program = &current.program;
    let Ok(phone) = crate::domain::PhoneNumber::parse(&path, program.region) else {
        return see_other("/dashboard/members").finish();
    };
    let read = async {
        let Some(member) = state.ledger.member(program, &phone).await? else {
            return Ok(None);
        };
        let history = state.ledger.history(program, &phone, 50).await?;
        let consent = state.ledger.consent(program, &phone).await?;
        let messages = state
            .outbox
            .member_messages(program, &phone)
            .await
            .map_err(crate::ledger::LedgerError::from)?;
        Ok::<_, crate::ledger::LedgerError>(Some((member, history, consent, messages)))
    };
    let (member, history, consent, messages) = match read.await {
        Ok(Some(found)) => found,
        Ok(None) => return see_other("/dashboard/members").finish(),
        Err(e) => return unavailable_ledger(&e),
    };
    let records = consent.map(|(_, records)| records).unwrap_or_default();
    super::page(
        HttpResponse::Ok(),
        "member.html",
        minijinja::context! {
            phone => phone.as_str(),
            member => minijinja::Value::from_serialize(serde_json::json!({
                "status": member.status,
                "first_name": member.first_name,
                "balance": member.balance,
                "lifetime": member.lifetime_points,
                "tier": member.tier,
                "visits": member.visits,
                "joined_at": member.joined_at,
                "last_visit_at": member.last_visit_at,
                "rewards": member.rewards,
            })),
            history => minijinja::Value::from_serialize(&history),
            messages => minijinja::Value::from_serialize(&messages),
            consent => minijinja::Value::from_serialize(&records),
            path => url::form_urlencoded::byte_serialize(phone.as_str().as_bytes()).collect::<String>(),
            form_id => session::random_token(),
            done => match notice.done.as_deref() {
                Some("adjusted") => Some(T.adjusted),
                _ => None,
            },
            problem => match notice.error.as_deref() {
                Some("below_zero") => Some(T.error_below_zero),
                Some("invalid") => Some(T.error_adjust),
                Some("confirm") => Some(T.error_confirm),
                _ => None,
            },
            ..header(&current, "members"),
        },
    )
}

/// Automations: what each configured one has sent and what it earned against its holdout
/// (`GET /v1/automations`).
#[get("/dashboard/automations")]
pub async fn automations_page(state: web::Data<AppState>, current: Session) -> HttpResponse {
    let automations = match state.campaigns.automations(&current.program).await {
        Ok(automations) => automations,
        Err(e) => {
            tracing::warn!(error = %crate::telemetry::Chain(&e), "dashboard: automations");
            return sign_in_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(T.error_unavailable),
                None,
            );
        }
    };
    super::page(
        HttpResponse::Ok(),
        "automations.html",
        minijinja::context! {
            automations => minijinja::Value::from_serialize(&automations),
            ..header(&current, "automations"),
        },
    )
}

/// Why an admin's form about a member was refused.
enum Refused {
    /// Not an admin's session, or not its token.
    Forbidden,
    /// The address names no phone number.
    NoPhone,
}

impl Refused {
    fn response(self) -> HttpResponse {
        match self {
            Self::Forbidden => HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body(T.error_form),
            Self::NoPhone => see_other("/dashboard/members").finish(),
        }
    }
}

/// The member an admin's form is about, when the session is an admin's and the form carries
/// its token.
fn admin_form(
    current: &Session,
    csrf: &str,
    path: &str,
) -> Result<crate::domain::PhoneNumber, Refused> {
    if !same(csrf, &current.csrf) || !current.is_admin() {
        return Err(Refused::Forbidden);
    }
    crate::domain::PhoneNumber::parse(path, current.program.region).map_err(|_| Refused::NoPhone)
}

fn member_url(phone: &crate::domain::PhoneNumber, query: &str) -> String {
    let path: String = url::form_urlencoded::byte_serialize(phone.as_str().as_bytes()).collect();
    format!("/dashboard/members/{path}?{query}")
}

/// An admin adds or takes points, with a reason, as `POST /v1/members/{phone}/adjust` does.
#[post("/dashboard/members/{phone}/adjust")]
pub async fn adjust(
    state: web::Data<AppState>,
    current: Session,
    path: web::Path<String>,
    form: web::Form<AdjustForm>,
) -> HttpResponse {
    let phone = match admin_form(&current, &form.csrf, &path) {
        Ok(phone) => phone,
        Err(refused) => return refused.response(),
    };
    let points = form.points.trim().parse::<i64>().ok().filter(|p| *p != 0);
    let reason = form.reason.trim();
    let (Some(points), false) = (points, reason.is_empty() || reason.chars().count() > 200) else {
        return see_other(&member_url(&phone, "error=invalid")).finish();
    };
    let form_id = format!("dashboard-{}", form.form_id);
    let command = crate::ledger::AdjustCommand {
        phone: &phone,
        points,
        reason,
        by: &current.actor(),
        allow_negative: false,
        idempotency_key: (!form.form_id.is_empty()).then_some(form_id.as_str()),
    };
    match state.ledger.adjust(&current.program, &command).await {
        Ok(_) => see_other(&member_url(&phone, "done=adjusted")).finish(),
        Err(crate::ledger::LedgerError::BelowZero { .. }) => {
            see_other(&member_url(&phone, "error=below_zero")).finish()
        }
        Err(
            crate::ledger::LedgerError::MemberNotFound
            | crate::ledger::LedgerError::ReceiptConflict,
        ) => see_other(&member_url(&phone, "error=invalid")).finish(),
        Err(e) => unavailable_ledger(&e),
    }
}

/// An admin erases a member (`DELETE /v1/members/{phone}`), after ticking the confirmation.
#[post("/dashboard/members/{phone}/erase")]
pub async fn erase(
    state: web::Data<AppState>,
    current: Session,
    path: web::Path<String>,
    form: web::Form<EraseForm>,
) -> HttpResponse {
    let phone = match admin_form(&current, &form.csrf, &path) {
        Ok(phone) => phone,
        Err(refused) => return refused.response(),
    };
    if form.confirm != "yes" {
        return see_other(&member_url(&phone, "error=confirm")).finish();
    }
    match state
        .ledger
        .erase(&current.program, &phone, &current.actor())
        .await
    {
        Ok(()) | Err(crate::ledger::LedgerError::MemberNotFound) => {
            tracing::info!(program = %current.program.id, by = %current.actor(), phone = %phone.masked(), "dashboard: erased");
            see_other("/dashboard/members?erased=1").finish()
        }
        Err(e) => unavailable_ledger(&e),
    }
}

/// An admin sends a dead-lettered text again (`POST /v1/dead-letters/{id}/requeue`'s work).
#[post("/dashboard/operations/requeue")]
pub async fn requeue(
    state: web::Data<AppState>,
    current: Session,
    form: web::Form<Requeue>,
) -> HttpResponse {
    if !same(&form.csrf, &current.csrf) || !current.is_admin() {
        return HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body(T.error_form);
    }
    match state.outbox.requeue(&current.program, &form.id).await {
        Ok(requeued) => {
            tracing::info!(program = %current.program.id, by = %current.actor(), message_id = %form.id, requeued, "dashboard: requeue");
            see_other("/dashboard/operations").finish()
        }
        Err(e) => unavailable(&e),
    }
}

/// The period and location asked for, or, when they do not work, the last 30 days everywhere
/// and what was wrong.
fn filters_or_default(
    current: &Session,
    filters: &Filters,
    today: NaiveDate,
) -> (Window, Option<LocationId>, Option<String>) {
    match read_filters(current, filters, today) {
        Ok((window, location)) => (window, location, None),
        Err(problem) => (
            Window {
                from: today - chrono::Duration::days(29),
                to: today,
            },
            None,
            Some(problem),
        ),
    }
}

/// The period and location asked for: by default the last 30 days and every location.
fn read_filters(
    current: &Session,
    filters: &Filters,
    today: NaiveDate,
) -> Result<(Window, Option<LocationId>), String> {
    let date = |raw: &Option<String>| -> Result<Option<NaiveDate>, String> {
        match raw.as_deref().filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| format!("{raw:?} is not a date")),
        }
    };
    let to = date(&filters.to)?.unwrap_or(today);
    let from = date(&filters.from)?.unwrap_or(to - chrono::Duration::days(29));
    if to < from {
        return Err("the period ends before it starts".into());
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(format!("a period is at most {MAX_DAYS} days"));
    }
    let location = match filters.location.as_deref().filter(|l| !l.is_empty()) {
        None => None,
        Some(raw) => Some(
            LocationId::parse(raw)
                .ok()
                .filter(|l| current.program.location(l).is_some())
                .ok_or_else(|| format!("{raw:?} is not a location of this program"))?,
        ),
    };
    Ok((Window { from, to }, location))
}

/// The points members held at the end of each day of `window`, from `now` (held today) and the
/// series `through_today` (from the window's first day to today): a day's end is today's total
/// less what every later day added.
fn held_at_day_end(now: i64, through_today: &[Day], window: Window) -> Vec<(NaiveDate, i64)> {
    let mut held = now;
    let mut ends: Vec<(NaiveDate, i64)> = Vec::with_capacity(through_today.len());
    for day in through_today.iter().rev() {
        ends.push((day.date, held));
        held -= day.net_points();
    }
    ends.reverse();
    ends.retain(|(date, _)| *date >= window.from && *date <= window.to);
    ends
}

fn series(days: &[Day], value: impl Fn(&Day) -> i64) -> Vec<(NaiveDate, i64)> {
    days.iter().map(|d| (d.date, value(d))).collect()
}

/// A bar per day, the largest value labelled, the first and last dates under the axis.
/// What a chart's bars are: each day's own count, or a level at each day's end.
#[derive(Clone, Copy)]
enum Shown {
    PerDay,
    AtDayEnd,
}

fn bar_chart(title: &str, values: &[(NaiveDate, i64)], shown: Shown) -> String {
    const WIDTH: f64 = 600.0;
    const HEIGHT: f64 = 150.0;
    const TOP: f64 = 18.0;
    const AXIS: f64 = 130.0;
    let max = values.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let total: i64 = values.iter().map(|(_, v)| *v).sum();
    let slot = WIDTH / values.len().max(1) as f64;
    let mut bars = String::new();
    for (i, (date, value)) in values.iter().enumerate() {
        let height = (*value.max(&0) as f64 / max as f64) * (AXIS - TOP);
        bars.push_str(&format!(
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#0b57d0"><title>{date}: {value}</title></rect>"##,
            i as f64 * slot + slot * 0.15,
            AXIS - height,
            slot * 0.7,
            height,
        ));
    }
    let first = values
        .first()
        .map(|(d, _)| d.to_string())
        .unwrap_or_default();
    let last = values
        .last()
        .map(|(d, _)| d.to_string())
        .unwrap_or_default();
    let escaped = minijinja::HtmlEscape(title).to_string();
    let label = match shown {
        Shown::PerDay => format!("{escaped}: {total} from {first} to {last}, at most {max} a day"),
        Shown::AtDayEnd => format!(
            "{escaped}, from {first} to {last}: {} at the end, at most {max}",
            values.last().map(|(_, v)| *v).unwrap_or(0)
        ),
    };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"><line x1="0" y1="{AXIS}" x2="{WIDTH}" y2="{AXIS}" stroke="#555"/>{bars}<text x="0" y="12" font-size="11" fill="#333">{max}</text><text x="0" y="146" font-size="11" fill="#333">{first}</text><text x="{WIDTH}" y="146" font-size="11" fill="#333" text-anchor="end">{last}</text></svg>"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_one_bar_a_day_scaled_to_the_largest() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let svg = bar_chart(
            "Visits",
            &[(day(1), 2), (day(2), 4), (day(3), 0)],
            Shown::PerDay,
        );
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains(r#"height="112.0""#),
            "the largest reaches the top: {svg}"
        );
        assert!(svg.contains(r#"height="56.0""#), "half of it, half as high");
        assert!(svg.contains("Visits: 6 from 2026-12-01 to 2026-12-03"));
    }
}
