//! The POS API: what a till calls. Scope `pos`; keys limited to locations act only there.
//!
//! Handlers turn the wire body into domain values (422 naming the field on failure), check the
//! key's location, and make exactly one ledger call. Nothing is written before every field is
//! valid, so a bad request changes nothing and creates no member.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Scope;
use crate::clock::rfc3339_from_ms;
use crate::domain::Program;
use crate::domain::{Amount, LocationId, PhoneNumber, Receipt, RefundId, RewardCode, RewardId};
use crate::error::{ApiError, FieldContext};
use crate::ledger::{
    EarnCommand, IssuedCode, LedgerEntry, MemberStatus, RedeemCommand, RedeemWhat, Refund, Written,
};
use crate::routes::extract::ApiKey;
use crate::routes::extract::ValidJson;
use crate::routes::in_span;
use crate::routes::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(earn)
        .service(redeem)
        .service(reverse)
        .service(void_redemption)
        .service(member)
        .service(history);
}

/// Header set on a response that repeats the first response to the same receipt.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

const MAX_FIRST_NAME: usize = 50;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnRequest {
    /// Any common format; national numbers use the program's country.
    #[schema(example = "(415) 555-2671", min_length = 1, max_length = 64)]
    phone: String,
    /// Minor units: 1250 is 12.50.
    #[schema(example = 1250, minimum = 1, maximum = 10_000_000)]
    amount: i64,
    /// A location of the program.
    #[schema(example = "store-12", pattern = "^[A-Za-z0-9._-]{1,64}$")]
    location: String,
    /// Idempotency key within (program, location); earn and redeem receipts are separate.
    #[schema(example = "R-1001", pattern = "^[!-~]([ -~]{0,126}[!-~])?$")]
    receipt: String,
    /// A tender the program defines (`store_card`), for its multiplier.
    #[schema(min_length = 1, max_length = 64)]
    tender: Option<String>,
    /// Kept when the member has no name yet; blank counts as none.
    #[schema(max_length = 50, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    first_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IssuedReward {
    /// Display form, `XXXX-XXXX`.
    code: String,
    reward: String,
    description: String,
    expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct EarnResponse {
    phone: String,
    points: i64,
    balance: i64,
    lifetime_points: i64,
    tier: String,
    status: MemberStatus,
    rewards_issued: Vec<IssuedReward>,
    /// Present when a win-back bonus multiplied this purchase's points.
    #[serde(skip_serializing_if = "Option::is_none")]
    bonus_multiplier: Option<f64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    #[schema(example = "(415) 555-2671", min_length = 1, max_length = 64)]
    phone: String,
    #[schema(example = "store-12", pattern = "^[A-Za-z0-9._-]{1,64}$")]
    location: String,
    /// Idempotency key within (program, location); earn and redeem receipts are separate.
    #[schema(example = "T-2001", pattern = "^[!-~]([ -~]{0,126}[!-~])?$")]
    receipt: String,
    /// Spend points on this reward now (exactly one of `reward` and `code`)...
    #[schema(example = "r5", pattern = "^[A-Za-z0-9._-]{1,64}$")]
    reward: Option<String>,
    /// ...or use a reward code issued earlier (`7KQM-X4TZ`, any case, dash optional).
    #[schema(pattern = "^[ -]*([2-9A-HJKMNP-Za-hjkmnp-z][ -]*){8}$")]
    code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RedeemedReward {
    reward: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    /// Points spent by this redemption (0 for a code: its points were spent when issued).
    points: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RedeemResponse {
    phone: String,
    balance: i64,
    lifetime_points: i64,
    tier: String,
    status: MemberStatus,
    redeemed: RedeemedReward,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseRequest {
    #[schema(example = "store-12", pattern = "^[A-Za-z0-9._-]{1,64}$")]
    location: String,
    /// The earn receipt to refund.
    #[schema(example = "R-1001", pattern = "^[!-~]([ -~]{0,126}[!-~])?$")]
    receipt: String,
    /// A partial refund, in minor units: takes back the proportional points. Without it, the
    /// rest of the receipt is refunded.
    #[schema(minimum = 1, maximum = 10_000_000)]
    amount: Option<i64>,
    /// Names one refund of the receipt (required with `amount`): a replay of the same
    /// `refund_id` changes nothing.
    #[schema(example = "RF-1", pattern = "^[!-~]([ -~]{0,126}[!-~])?$")]
    refund_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    #[schema(example = "store-12", pattern = "^[A-Za-z0-9._-]{1,64}$")]
    location: String,
    /// The receipt of the redemption to undo.
    #[schema(example = "T-2001", pattern = "^[!-~]([ -~]{0,126}[!-~])?$")]
    receipt: String,
}

#[derive(Serialize, ToSchema)]
pub struct VoidResponse {
    phone: String,
    location: String,
    receipt: String,
    balance: i64,
    lifetime_points: i64,
    tier: String,
    status: MemberStatus,
    /// What the redemption had done, now undone: its points are back, or its code is usable.
    voided: RedeemedReward,
}

#[derive(Serialize, ToSchema)]
pub struct ReverseResponse {
    phone: String,
    location: String,
    receipt: String,
    /// Points taken back by this refund (negative).
    points: i64,
    /// This refund, in minor units.
    amount: i64,
    /// Refunded on this receipt so far, in minor units.
    refunded: i64,
    /// Still refundable, in minor units.
    remaining: i64,
    /// The refund's id (`rest` for a refund of everything left without one).
    refund_id: String,
    balance: i64,
    lifetime_points: i64,
    tier: String,
    status: MemberStatus,
}

#[derive(Serialize, ToSchema)]
pub struct MemberResponse {
    phone: String,
    first_name: Option<String>,
    status: MemberStatus,
    balance: i64,
    lifetime_points: i64,
    tier: String,
    visits: i64,
    joined_at: String,
    last_visit_at: Option<String>,
    /// Unused, unexpired reward codes.
    rewards: Vec<IssuedReward>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Most entries to return (1-500, default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

fn location_of(key: &ApiKey, raw: &str) -> Result<LocationId, ApiError> {
    let location = LocationId::parse(raw).field("location")?;
    if key.program.location(&location).is_none() {
        return Err(ApiError::invalid(
            "location",
            format!("{raw:?} is not a location of this program"),
        ));
    }
    key.require_location(&location)?;
    Ok(location)
}

/// A `phone` field or path segment, in any common format, with the program's country.
pub(crate) fn phone_of(program: &Program, raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, program.region).field("phone")
}

fn first_name_of(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.chars().count() > MAX_FIRST_NAME {
        return Err(ApiError::invalid(
            "first_name",
            format!("must be at most {MAX_FIRST_NAME} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "first_name",
            "must not contain control characters",
        ));
    }
    let name = raw.trim();
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

fn issued_reward(program: &Program, code: &IssuedCode) -> IssuedReward {
    IssuedReward {
        code: RewardCode::display(&code.code),
        reward: code.reward.clone(),
        description: program.reward_description(&code.reward),
        expires_at: rfc3339_from_ms(code.expires_ms),
    }
}

pub(crate) fn respond<T: Serialize, U>(written: &Written<U>, body: T) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if written.is_replay() {
        response.insert_header((REPLAYED_HEADER, "true"));
    }
    response.json(body)
}

/// Credit a purchase.
#[utoipa::path(
    request_body = EarnRequest,
    responses(
        (status = 200, body = EarnResponse, description = "Credited, or the first response to this receipt again", headers(("Idempotent-Replayed" = String, description = "true when this repeats the first response to the same request; nothing was written again"))),
        (status = 409, description = "receipt-conflict: the receipt was used with a different body"),
    ),
    security(("api_key" = [])), tag = "pos"
)]
#[post("/v1/earn")]
pub async fn earn(
    key: ApiKey,
    state: web::Data<AppState>,
    body: ValidJson<EarnRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Pos)?;
    let req = body.0;
    let program = &key.program;
    let location = location_of(&key, &req.location)?;
    let phone = phone_of(program, &req.phone)?;
    if state.programs.is_own_number(&phone) {
        // A member with our own number would text itself: every reply a loop.
        return Err(ApiError::invalid(
            "phone",
            "is one of this gateway's own numbers, not a customer's",
        ));
    }
    let amount = Amount::parse(req.amount).field("amount")?;
    let receipt = Receipt::parse(&req.receipt).field("receipt")?;
    let tender = match req.tender.as_deref() {
        Some(t) if program.tenders.contains_key(t) => Some(t.to_owned()),
        Some(t) => {
            return Err(ApiError::invalid(
                "tender",
                format!("{t:?} is not a tender of this program"),
            ))
        }
        None => None,
    };
    let first_name = first_name_of(req.first_name.as_deref())?;
    // Made with its fields rather than recorded into: each `record` serialises the span's
    // fields again.
    let span = tracing::info_span!("earn", program = program.id.as_str(), location = location.as_str(),
        phone = %phone.masked());
    let cmd = EarnCommand {
        phone,
        amount,
        location,
        receipt,
        tender,
        first_name,
    };
    let written = in_span(&span, state.ledger.earn(program, &cmd)).await?;
    tracing::info!(parent: &span, points = written.get().points,
        replay = written.is_replay(), "earn");
    let result = written.get();
    state.metrics.earn(written.is_replay());
    let body = EarnResponse {
        phone: result.member.phone.clone(),
        points: result.points,
        balance: result.member.balance,
        lifetime_points: result.member.lifetime_points,
        tier: result.member.tier.clone(),
        status: result.member.status,
        rewards_issued: result
            .rewards_issued
            .iter()
            .map(|c| issued_reward(program, c))
            .collect(),
        bonus_multiplier: result.bonus_multiplier,
    };
    Ok(respond(&written, body))
}

/// Redeem a reward (spending points) or a reward code.
#[utoipa::path(
    request_body = RedeemRequest,
    responses(
        (status = 200, body = RedeemResponse, description = "Redeemed, or the first response to this receipt again", headers(("Idempotent-Replayed" = String, description = "true when this repeats the first response to the same request; nothing was written again"))),
        (status = 404, description = "member-not-found, code-not-found"),
        (status = 409, description = "insufficient-points, code-already-used, code-expired, code-belongs-to-another-member, receipt-conflict"),
    ),
    security(("api_key" = [])), tag = "pos"
)]
#[post("/v1/redeem")]
pub async fn redeem(
    key: ApiKey,
    state: web::Data<AppState>,
    body: ValidJson<RedeemRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Pos)?;
    let req = body.0;
    let program = &key.program;
    let location = location_of(&key, &req.location)?;
    let phone = phone_of(program, &req.phone)?;
    let receipt = Receipt::parse(&req.receipt).field("receipt")?;
    let what = match (req.reward.as_deref(), req.code.as_deref()) {
        (Some(reward), None) => {
            let id = RewardId::parse(reward).field("reward")?;
            if program.reward(&id).is_none() {
                return Err(ApiError::invalid(
                    "reward",
                    format!("{reward:?} is not a reward of this program"),
                ));
            }
            RedeemWhat::Reward(id)
        }
        (None, Some(code)) => RedeemWhat::Code(RewardCode::parse(code).field("code")?),
        _ => {
            return Err(ApiError::invalid(
                "reward",
                "give exactly one of reward or code",
            ))
        }
    };
    let span = tracing::info_span!("redeem", program = program.id.as_str(), location = location.as_str(),
        phone = %phone.masked());
    let cmd = RedeemCommand {
        phone,
        location,
        receipt,
        what,
    };
    let written = in_span(&span, state.ledger.redeem(program, &cmd)).await?;
    let redeemed = &written.get().redeemed;
    tracing::info!(parent: &span, reward = %redeemed.reward, points = redeemed.points,
        replay = written.is_replay(), "redeem");
    let result = written.get();
    if !written.is_replay() {
        state.metrics.redemption();
    }
    let body = RedeemResponse {
        phone: result.member.phone.clone(),
        balance: result.member.balance,
        lifetime_points: result.member.lifetime_points,
        tier: result.member.tier.clone(),
        status: result.member.status,
        redeemed: RedeemedReward {
            reward: result.redeemed.reward.clone(),
            description: program.reward_description(&result.redeemed.reward),
            code: result.redeemed.code.as_deref().map(RewardCode::display),
            points: result.redeemed.points,
        },
    };
    Ok(respond(&written, body))
}

/// Refund: take back what a receipt earned, all of what is left or the share of a partial refund.
#[utoipa::path(
    request_body = ReverseRequest,
    responses(
        (status = 200, body = ReverseResponse, description = "Refunded, or this refund's first response again", headers(("Idempotent-Replayed" = String, description = "true when this repeats the first response to the same request; nothing was written again"))),
        (status = 404, description = "receipt-not-found: no earn with this receipt at this location"),
        (status = 409, description = "refund-conflict (refund_id used with another amount), refund-exceeds-receipt, nothing-left-to-refund, partial-refund-unavailable"),
    ),
    security(("api_key" = [])), tag = "pos"
)]
#[post("/v1/reverse")]
pub async fn reverse(
    key: ApiKey,
    state: web::Data<AppState>,
    body: ValidJson<ReverseRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Pos)?;
    let req = body.0;
    let program = &key.program;
    let location = location_of(&key, &req.location)?;
    let receipt = Receipt::parse(&req.receipt).field("receipt")?;
    let refund_id = req
        .refund_id
        .as_deref()
        .map(RefundId::parse)
        .transpose()
        .field("refund_id")?;
    let refund = match (req.amount, refund_id) {
        (None, id) => Refund::Rest { id },
        (Some(amount), Some(id)) => Refund::Partial {
            id,
            amount: Amount::parse(amount).field("amount")?,
        },
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "refund_id",
                "is required with amount: it makes each partial refund happen once",
            ))
        }
    };
    let span = tracing::info_span!(
        "reverse",
        program = program.id.as_str(),
        location = location.as_str()
    );
    let written = in_span(
        &span,
        state.ledger.reverse(program, &location, &receipt, &refund),
    )
    .await?;
    tracing::info!(parent: &span, points = written.get().points,
        replay = written.is_replay(), "reverse");
    let result = written.get();
    if !written.is_replay() {
        state.metrics.reversal();
    }
    let body = ReverseResponse {
        phone: result.member.phone.clone(),
        location: location.to_string(),
        receipt: receipt.as_str().to_owned(),
        points: result.points,
        amount: result.amount,
        refunded: result.refunded,
        remaining: result.remaining,
        refund_id: result.refund_id.clone(),
        balance: result.member.balance,
        lifetime_points: result.member.lifetime_points,
        tier: result.member.tier.clone(),
        status: result.member.status,
    };
    Ok(respond(&written, body))
}

/// Void a redemption: its points come back, or its code can be used again. Once.
#[utoipa::path(
    request_body = VoidRequest,
    responses(
        (status = 200, body = VoidResponse, description = "Voided, or the first void's result again", headers(("Idempotent-Replayed" = String, description = "true when this repeats the first response to the same request; nothing was written again"))),
        (status = 404, description = "receipt-not-found: no redemption with this receipt at this location"),
    ),
    security(("api_key" = [])), tag = "pos"
)]
#[post("/v1/redeem/void")]
pub async fn void_redemption(
    key: ApiKey,
    state: web::Data<AppState>,
    body: ValidJson<VoidRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Pos)?;
    let req = body.0;
    let program = &key.program;
    let location = location_of(&key, &req.location)?;
    let receipt = Receipt::parse(&req.receipt).field("receipt")?;
    let span = tracing::info_span!(
        "void",
        program = program.id.as_str(),
        location = location.as_str()
    );
    let written = in_span(
        &span,
        state.ledger.void_redemption(program, &location, &receipt),
    )
    .await?;
    let voided = &written.get().voided;
    tracing::info!(parent: &span, reward = %voided.reward, points = voided.points,
        replay = written.is_replay(), "void");
    let result = written.get();
    let body = VoidResponse {
        phone: result.member.phone.clone(),
        location: location.to_string(),
        receipt: receipt.as_str().to_owned(),
        balance: result.member.balance,
        lifetime_points: result.member.lifetime_points,
        tier: result.member.tier.clone(),
        status: result.member.status,
        voided: RedeemedReward {
            reward: result.voided.reward.clone(),
            description: program.reward_description(&result.voided.reward),
            code: result.voided.code.as_deref().map(RewardCode::display),
            points: result.voided.points,
        },
    };
    Ok(respond(&written, body))
}

/// A member's balance, tier and unused reward codes.
#[utoipa::path(
    params(("phone" = String, Path, max_length = 64, description = "Any common format; national numbers use the program's country")),
    responses(
        (status = 200, body = MemberResponse),
        (status = 404, description = "member-not-found"),
    ),
    security(("api_key" = [])), tag = "pos"
)]
#[get("/v1/members/{phone}")]
pub async fn member(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Pos)?;
    let program = &key.program;
    let phone = phone_of(program, &path)?;
    let record = state.ledger.member(program, &phone).await?.ok_or_else(|| {
        ApiError::new(
            crate::error::ErrorKind::MemberNotFound,
            "no member with this phone number",
        )
    })?;
    let tier = record
        .tier
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| program.tier_for(record.lifetime_points).name.clone());
    Ok(HttpResponse::Ok().json(MemberResponse {
        phone: record.phone.clone(),
        first_name: record.first_name.clone(),
        status: record.status,
        balance: record.balance,
        lifetime_points: record.lifetime_points,
        tier,
        visits: record.visits,
        joined_at: record.joined_at.clone(),
        last_visit_at: record.last_visit_at.clone(),
        rewards: record
            .rewards
            .iter()
            .map(|c| issued_reward(program, c))
            .collect(),
    }))
}

/// A member's ledger entries, newest first.
#[utoipa::path(
    params(("phone" = String, Path, max_length = 64, description = "Any common format; national numbers use the program's country"), HistoryQuery),
    responses(
        (status = 200, body = Vec<LedgerEntry>),
        (status = 404, description = "member-not-found"),
    ),
    security(("api_key" = [])), tag = "pos"
)]
#[get("/v1/members/{phone}/history")]
pub async fn history(
    key: ApiKey,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = key.require(Scope::Pos)?;
    let program = &key.program;
    let phone = phone_of(program, &path)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 500"));
    }
    let mut entries = state.ledger.history(program, &phone, limit).await?;
    for entry in &mut entries {
        if let Some(code) = entry.code.as_mut() {
            *code = RewardCode::display(code);
        }
    }
    if entries.is_empty() && state.ledger.member(program, &phone).await?.is_none() {
        return Err(ApiError::new(
            crate::error::ErrorKind::MemberNotFound,
            "no member with this phone number",
        ));
    }
    Ok(HttpResponse::Ok().json(entries))
}
