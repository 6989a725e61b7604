//! Dashboard sessions, kept in Redis so that every `serve` process knows them: signing in with
//! an API key of scope `marketing` or `admin`, or as a configured dashboard user with their
//! password (Argon2), makes one, and its cookie names it.
//!
//! The cookie is `<program>.<id>`, 256 random bits, HttpOnly, SameSite=Strict, on
//! `/dashboard` only, and Secure when `server.public_url` is https. Redis holds
//! `session:<SHA-256 of the id>` (a copy of Redis does not hold usable cookies): who signed in
//! (`key:<name>` or `user:<name>`), the form token of the session (CSRF) and when it was last
//! used. A session unused for [`IDLE_TIMEOUT`] (on the app's clock) is over; a key or user taken
//! out of the configuration ends its sessions at their next request.
//!
//! Failed sign-ins are limited per client address, for every process (lib.lua's `within_rate`).

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::auth::{ApiKeyEntry, DashboardUser, Scope};
use crate::domain::{Program, ProgramId};
use crate::routes::AppState;
use crate::store::{ProgramKeys, StoreError};

pub const COOKIE: &str = "lg_session";
/// The sign-in form's double-submit cookie (there is no session yet to hold its token).
pub const SIGN_IN_COOKIE: &str = "lg_signin";
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Failed sign-ins per client address in [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A signed-in dashboard user.
#[derive(Debug, Clone)]
pub struct Session {
    pub program: Arc<Program>,
    /// Who signed in: an API key or a dashboard user.
    pub who: SignedIn,
    /// The token every form of the session carries.
    pub csrf: String,
}

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub enum SignedIn {
    Key(Arc<ApiKeyEntry>),
    User(Arc<DashboardUser>),
}

impl SignedIn {
    /// As the session's record in Redis names it.
    fn stored(&self) -> String {
        match self {
            Self::Key(key) => format!("key:{}", key.name),
            Self::User(user) => format!("user:{}", user.name),
        }
    }

    /// As logs and the ledger's audit trail name it: a key's name, or `user:<name>`.
    pub fn actor(&self) -> String {
        match self {
            Self::Key(key) => key.name.clone(),
            Self::User(user) => format!("user:{}", user.name),
        }
    }

    pub fn program(&self) -> &ProgramId {
        match self {
            Self::Key(key) => &key.program,
            Self::User(user) => &user.program,
        }
    }

    /// The configured key or user a stored name stands for, if it is still configured and may
    /// still sign in.
    fn find(state: &AppState, program: &ProgramId, stored: &str) -> Option<Self> {
        let settings = &state.settings;
        match stored.split_once(':') {
            Some(("user", name)) => settings
                .dashboard_users
                .iter()
                .find(|u| u.name == name && &u.program == program)
                .cloned()
                .map(Self::User),
            Some(("key", name)) => settings
                .api_keys
                .iter()
                .find(|k| k.name == name && &k.program == program && may_sign_in(k))
                .cloned()
                .map(Self::Key),
            _ => None,
        }
    }
}

impl Session {
    pub fn is_admin(&self) -> bool {
        match &self.who {
            SignedIn::Key(key) => key.scopes.contains(&Scope::Admin),
            SignedIn::User(user) => user.scope == Scope::Admin,
        }
    }

    /// The name the header shows.
    pub fn name(&self) -> &str {
        match &self.who {
            SignedIn::Key(key) => &key.name,
            SignedIn::User(user) => &user.name,
        }
    }

    /// Who did it, as logs and the ledger's audit trail record it: a key's name, or
    /// `user:<name>`.
    pub fn actor(&self) -> String {
        self.who.actor()
    }
}

/// Why a dashboard page has no session to serve: nobody is signed in (or the session is over),
/// or Redis could not say.
#[derive(Debug, thiserror::Error)]
pub enum NotSignedIn {
    #[error("not signed in")]
    SignIn,
    #[error("the session store is unavailable")]
    Unavailable,
}

impl actix_web::ResponseError for NotSignedIn {
    fn error_response(&self) -> actix_web::HttpResponse {
        match self {
            Self::SignIn => actix_web::HttpResponse::SeeOther()
                .insert_header((actix_web::http::header::LOCATION, "/dashboard/sign-in"))
                .finish(),
            Self::Unavailable => super::dashboard::unavailable_page(),
        }
    }
}

/// A dashboard handler that takes a [`Session`] runs only for a signed-in request; any other
/// is sent to the sign-in form (or told that Redis is unavailable).
impl actix_web::FromRequest for Session {
    type Error = NotSignedIn;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let Some(state) = request.app_data::<actix_web::web::Data<AppState>>() else {
                return Err(NotSignedIn::Unavailable);
            };
            match current(state, &request).await {
                Ok(Some(session)) => Ok(session),
                Ok(None) => Err(NotSignedIn::SignIn),
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::Chain(&e), "dashboard: Redis");
                    Err(NotSignedIn::Unavailable)
                }
            }
        })
    }
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn keys(state: &AppState, program: &ProgramId) -> ProgramKeys {
    ProgramKeys::new(&state.settings.redis.key_prefix, program)
}

fn stored_name(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// A key may sign in when it has scope `marketing` or `admin`.
pub fn may_sign_in(key: &ApiKeyEntry) -> bool {
    key.scopes.contains(&Scope::Marketing) || key.scopes.contains(&Scope::Admin)
}

/// Starts a session for `who`; the cookie to set.
pub async fn start(state: &AppState, who: &SignedIn) -> Result<Cookie<'static>, StoreError> {
    let id = random_token();
    let now_ms = state.clock.now().timestamp_millis();
    let program = who.program();
    let redis_key = keys(state, program).session(&stored_name(&id));
    let mut pipe = redis::pipe();
    pipe.hset_multiple(
        &redis_key,
        &[
            ("key", who.stored()),
            ("csrf", random_token()),
            ("seen_ms", now_ms.to_string()),
        ],
    )
    .ignore()
    .pexpire(&redis_key, IDLE_TIMEOUT.as_millis() as i64)
    .ignore();
    state.store.pipeline::<()>(&pipe).await?;
    Ok(cookie(
        state,
        COOKIE,
        format!("{}.{id}", program.as_str()),
        "/dashboard",
    ))
}

/// The session `request`'s cookie names, if it is current; using it keeps it alive.
pub async fn current(
    state: &AppState,
    request: &HttpRequest,
) -> Result<Option<Session>, StoreError> {
    let Some(cookie) = request.cookie(COOKIE) else {
        return Ok(None);
    };
    let Some((program, id)) = cookie.value().split_once('.') else {
        return Ok(None);
    };
    let Some(program) = ProgramId::parse(program)
        .ok()
        .and_then(|p| state.program(&p))
    else {
        return Ok(None);
    };
    let redis_key = keys(state, &program.id).session(&stored_name(id));
    let (name, csrf, seen_ms): (Option<String>, Option<String>, Option<i64>) = state
        .store
        .command(
            redis::cmd("HMGET")
                .arg(&redis_key)
                .arg("key")
                .arg("csrf")
                .arg("seen_ms"),
        )
        .await?;
    let (Some(name), Some(csrf), Some(seen_ms)) = (name, csrf, seen_ms) else {
        return Ok(None);
    };
    let now_ms = state.clock.now().timestamp_millis();
    let who = SignedIn::find(state, &program.id, &name);
    let idle = now_ms - seen_ms > IDLE_TIMEOUT.as_millis() as i64;
    let Some(who) = who.filter(|_| !idle) else {
        state
            .store
            .command::<()>(redis::cmd("DEL").arg(&redis_key))
            .await?;
        return Ok(None);
    };
    let mut pipe = redis::pipe();
    pipe.hset(&redis_key, "seen_ms", now_ms)
        .ignore()
        .pexpire(&redis_key, IDLE_TIMEOUT.as_millis() as i64)
        .ignore();
    state.store.pipeline::<()>(&pipe).await?;
    Ok(Some(Session { program, who, csrf }))
}

/// Ends the session `request`'s cookie names, if any.
pub async fn end(state: &AppState, request: &HttpRequest) -> Result<(), StoreError> {
    if let Some((program, id)) = request.cookie(COOKIE).and_then(|c| {
        c.value()
            .split_once('.')
            .map(|(p, i)| (p.to_owned(), i.to_owned()))
    }) {
        if let Some(program) = ProgramId::parse(&program)
            .ok()
            .and_then(|p| state.program(&p))
        {
            let redis_key = keys(state, &program.id).session(&stored_name(&id));
            state
                .store
                .command::<()>(redis::cmd("DEL").arg(redis_key))
                .await?;
        }
    }
    Ok(())
}

/// A cookie of the dashboard's kind: HttpOnly, SameSite=Strict, Secure behind https.
pub fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.server.public_url.starts_with("https://"))
        .finish()
}

/// The same cookie, expired.
pub fn removal(state: &AppState, name: &'static str, path: &'static str) -> Cookie<'static> {
    let mut cookie = cookie(state, name, String::new(), path);
    cookie.make_removal();
    cookie
}

/// Whether the client at `address` has failed to sign in too often lately; with `failed`,
/// counts one more failure first.
pub async fn throttled(state: &AppState, address: &str, failed: bool) -> Result<bool, StoreError> {
    use crate::store::scripts::members::{SignInRate, SignInRateReply};
    let base = ProgramKeys::sign_in(&state.settings.redis.key_prefix);
    let call = SignInRate {
        client: address,
        failed,
        count: MAX_FAILURES,
        window_ms: FAILURE_WINDOW.as_millis() as u64,
    };
    Ok(matches!(
        state.store.call(&base, state.clock.now(), &call).await?,
        SignInRateReply::Limited
    ))
}
