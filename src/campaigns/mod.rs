//! Campaigns: a marketer's text to a segment of the program's members, previewed with its cost
//! before it is sent, sent once per member whatever happens, and measured against a holdout.
//!
//! A campaign lives in Redis (`campaign:<id>`, see `store::keys`). Sending is a series of
//! steps, each one script (`campaign_step.lua`): first the audience is fixed (the segment's
//! members, read a page at a time by join order, into a list), then texts are queued from it in
//! batches through the outbox (kind `marketing`, so opt-outs and quiet hours apply when each is
//! sent). The cursors live in the campaign, so any `serve` process may take the next step, a
//! crash loses nothing, and the recipients hash makes each member's outcome (a text, `holdout`,
//! `capped`, `suppressed`) happen once. The model is zero2prod's newsletter delivery:
//! idempotent fan-out through a queue, never inside the request.

pub mod links;
pub mod segment;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use crate::clock::{rfc3339_from_ms, Clock};
use crate::domain::keyword::{self, Words};
use crate::domain::{PhoneNumber, Program};
use crate::outbound::quiet_hours::LocalTime;
use crate::outbound::Outbox;
use crate::segments::{self, Encoding};
use crate::store::scripts::campaigns::{
    CampaignStep, CampaignStepReply, CancelCampaign, CancelCampaignReply, Click, ClickReply,
    DueCampaigns, DueCampaignsReply, GetCampaigns, GetCampaignsReply, ResumeCampaign,
    ResumeCampaignReply, RunAutomations, RunAutomationsReply, SaveCampaign, SaveCampaignReply,
    SegmentMember, SegmentPage, SegmentPageReply, StartCampaign, StartCampaignReply,
};
use crate::store::scripts::outbox::MessageKind;
use crate::store::scripts::ScriptCall;
use crate::store::{ProgramKeys, Store, StoreError};
use crate::templates::{CampaignBody, CampaignContext, Templates};
pub use segment::Segment;

/// The longest campaign body a marketer may write, in characters (the API document's
/// `maxLength`, `routes::campaigns::CampaignRequest`). The opt-out notice is added after the
/// check.
pub const MAX_BODY_CHARS: usize = 1600;

/// Members read per page of a segment, and texts queued per step.
const BATCH: usize = 500;
/// Campaigns listed at most in one page.
pub const LIST_LIMIT: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("no campaign with this id")]
    NotFound,
    #[error("the campaign is {status}; only a draft can be changed")]
    NotEditable { status: String },
    #[error("the campaign is {status}; only a paused campaign can be resumed")]
    NotPaused { status: String },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The thread rendering a preview's texts panicked or was cancelled.
    #[error("rendering the preview stopped")]
    Render(#[from] tokio::task::JoinError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> CampaignError {
    CampaignError::Invalid {
        field,
        message: message.into(),
    }
}

/// What a marketer writes.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub name: String,
    pub body: String,
    pub segment: Segment,
    pub send_at: Option<DateTime<Utc>>,
    /// `"HH:MM"` in each recipient's zone.
    pub send_at_local: Option<String>,
    pub holdout_percent: f64,
    pub attribution_days: u32,
}

/// A campaign as stored, with its counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    /// The body as sent (the opt-out notice appended when it had none).
    pub body: String,
    #[schema(value_type = Object)]
    pub segment: serde_json::Value,
    /// draft, scheduled, sending, paused, sent, cancelled
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    /// `"HH:MM"`: each recipient gets the text at this time in their own zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at_local: Option<String>,
    pub holdout_percent: f64,
    pub attribution_days: u32,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Members of the segment that get the text (the audience less the holdout).
    pub recipients: i64,
    pub holdout: i64,
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub deferred: i64,
    pub capped: i64,
    pub suppressed: i64,
    pub clicks: i64,
    pub unique_clicks: i64,
    /// Texts carriers filtered as spam (Twilio 30007, Telnyx 40002/40003).
    pub filtered: i64,
    /// Why the campaign paused itself, while it is paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
}

impl Campaign {
    fn from_record(record: &HashMap<String, String>) -> Self {
        let text = |name: &str| record.get(name).cloned().unwrap_or_default();
        let number = |name: &str| {
            record
                .get(name)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let time = |name: &str| {
            record
                .get(name)
                .and_then(|v| v.parse::<i64>().ok())
                .map(rfc3339_from_ms)
        };
        Self {
            id: text("id"),
            name: text("name"),
            body: text("body"),
            segment: serde_json::from_str(&text("segment_input")).unwrap_or(json!({})),
            status: text("status"),
            send_at: time("send_at_ms"),
            send_at_local: record.get("send_at_local").cloned(),
            holdout_percent: record
                .get("holdout_percent")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0),
            attribution_days: number("attribution_days") as u32,
            created_at: time("created_ms").unwrap_or_default(),
            started_at: time("started_ms"),
            completed_at: record.get("completed_at").cloned(),
            recipients: number("recipients"),
            holdout: number("holdout"),
            queued: number("queued"),
            sent: number("sent"),
            delivered: number("delivered"),
            failed: number("failed"),
            deferred: number("deferred"),
            capped: number("capped"),
            suppressed: number("suppressed"),
            clicks: number("clicks"),
            unique_clicks: number("unique_clicks"),
            filtered: number("filtered"),
            paused_reason: record.get("paused_reason").cloned(),
        }
    }
}

/// POS activity of one group of a campaign within its attribution window.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct GroupResults {
    /// Members in the group: recipients whose text was sent, or the holdout.
    pub members: i64,
    /// Members who made at least one purchase.
    pub visitors: i64,
    pub visits: i64,
    /// Minor units.
    pub spend: i64,
    pub points: i64,
    pub redemptions: i64,
    /// Opt-outs within 24 h of the text (or of the send, for the holdout).
    pub opt_outs: i64,
    /// visitors / members.
    pub visit_rate: f64,
    /// spend / members, minor units.
    pub spend_per_member: f64,
}

impl GroupResults {
    fn from_record(record: &HashMap<String, String>, group: &str) -> Self {
        let number = |field: &str| {
            record
                .get(&format!("{group}:{field}"))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let members = number("members");
        let per_member = |value: i64| {
            if members == 0 {
                0.0
            } else {
                value as f64 / members as f64
            }
        };
        Self {
            members,
            visitors: number("visitors"),
            visits: number("visits"),
            spend: number("spend"),
            points: number("points"),
            redemptions: number("redemptions"),
            opt_outs: number("opt_outs"),
            visit_rate: per_member(number("visitors")),
            spend_per_member: per_member(number("spend")),
        }
    }
}

/// What the recipients did beyond the holdout, scaled to the recipients' number.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Incremental {
    pub visits: f64,
    /// Minor units.
    pub spend: f64,
}

/// A campaign's results against its holdout, measured at the till.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Results {
    pub attribution_days: u32,
    pub recipients: GroupResults,
    pub holdout: GroupResults,
    /// recipients − holdout × (recipients' members / holdout's members); zero without a
    /// holdout to compare with.
    pub incremental: Incremental,
}

/// How long an automation's text counts for what the member does at the till.
const AUTOMATION_ATTRIBUTION_DAYS: u32 = 7;

/// An automation's counts and results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Automation {
    /// near_reward, reward_expiring, win_back or welcome_series.
    pub automation: &'static str,
    /// Texts addressed (the holdout left out).
    pub recipients: i64,
    pub holdout: i64,
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub deferred: i64,
    pub capped: i64,
    pub suppressed: i64,
    pub results: Results,
}

/// A page of campaigns, newest first.
#[derive(Debug)]
pub struct CampaignPage {
    pub campaigns: Vec<Campaign>,
    /// Older campaigns remain: ask again with `before` = the last one's id.
    pub more: bool,
}

/// What a send will be, before it is made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Members of the segment who get the text (the holdout left out).
    pub recipients: i64,
    pub holdout: i64,
    #[schema(value_type = String, example = "GSM-7")]
    pub encoding: Encoding,
    /// Segments of the longest text (names and balances change the length).
    pub segments: u32,
    /// Segments of every text together.
    pub total_segments: u64,
    /// `total_segments × sms.price_per_segment`, a decimal string.
    pub estimated_cost: String,
    pub currency: String,
    /// How long sending takes at `sms.messages_per_second` (segments per second).
    pub duration_seconds: f64,
    /// Three texts as members will read them.
    pub samples: Vec<String>,
}

/// The settings campaigns follow.
#[derive(Debug, Clone)]
pub struct CampaignPolicy {
    pub max_per_member: u32,
    pub cap_window_ms: u64,
    pub message_ttl_secs: u64,
    pub price_per_segment: Decimal,
    pub segments_per_second: f64,
    pub smart_encoding: bool,
    /// `links.base_url` (else `server.public_url`) when `campaigns.track_links` is on.
    pub link_base: Option<String>,
}

/// How long a tracked link keeps redirecting.
const LINK_TTL_SECS: u64 = 90 * 86_400;

impl CampaignPolicy {
    pub fn from_settings(settings: &crate::configuration::Settings) -> Self {
        Self {
            max_per_member: settings.campaigns.max_per_member,
            cap_window_ms: settings.campaigns.cap_window.as_millis(),
            message_ttl_secs: settings.ledger.message_retention_days * 86_400,
            price_per_segment: settings.sms.price_per_segment,
            segments_per_second: settings.sms.messages_per_second,
            smart_encoding: settings.sms.smart_encoding,
            link_base: settings.campaigns.track_links.then(|| {
                settings
                    .links
                    .base_url
                    .clone()
                    .unwrap_or_else(|| settings.server.public_url.clone())
                    .trim_end_matches('/')
                    .to_owned()
            }),
        }
    }
}

/// The opt-out notice a marketing text must carry, in its recipients' language. It names
/// STOP in every language: the English keyword works everywhere (CTIA), the local ones vary.
fn optout_notice(locale: &str) -> &'static str {
    match locale {
        "es" => "Responde STOP para no recibir más.",
        "pt" => "Responda STOP para não receber mais.",
        "ar" => "أرسل STOP لإلغاء الاشتراك.",
        _ => "Reply STOP to opt out.",
    }
}

/// Words that tell a reader how to opt out. Narrower than what opts out (`commands::stop`):
/// "cancel" or "end" in a marketing body usually mean something else.
static OPT_OUT_WORDS: Words = Words::new(&["STOP", "ALTO", "SAIR", "توقف"]);

/// `body` with the opt-out notice appended, unless it already tells how to opt out.
pub fn with_optout_notice(body: &str, locale: &str) -> String {
    if OPT_OUT_WORDS.appear_in(&keyword::normalise(body)) {
        body.trim().to_owned()
    } else {
        format!("{} {}", body.trim(), optout_notice(locale))
    }
}

#[derive(Clone)]
pub struct Campaigns {
    store: Store,
    prefix: String,
    clock: Clock,
    templates: Arc<Templates>,
    outbox: Outbox,
    policy: CampaignPolicy,
}

impl Campaigns {
    pub fn new(
        store: Store,
        prefix: &str,
        clock: Clock,
        templates: Arc<Templates>,
        outbox: Outbox,
        policy: CampaignPolicy,
    ) -> Self {
        Self {
            store,
            prefix: prefix.to_owned(),
            clock,
            templates,
            outbox,
            policy,
        }
    }

    /// The same campaigns (and their outbox) on `store`.
    pub fn with_store(&self, store: Store) -> Self {
        Self {
            outbox: self.outbox.with_store(store.clone()),
            store,
            ..self.clone()
        }
    }

    async fn call<S: ScriptCall>(
        &self,
        program: &Program,
        call: &S,
    ) -> Result<S::Reply, StoreError> {
        let keys = ProgramKeys::new(&self.prefix, &program.id);
        self.store.call(&keys, self.clock.now(), call).await
    }

    /// Checks a draft and turns it into the fields stored.
    fn fields(
        &self,
        program: &Program,
        draft: &Draft,
    ) -> Result<HashMap<&'static str, String>, CampaignError> {
        let name = draft.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1-100 characters"));
        }
        // A campaign to one language's speakers carries the notice in that language.
        let notice_locale = match draft.segment.locales.as_deref() {
            Some([only]) => only.as_str(),
            _ => program.locale.as_str(),
        };
        let body = with_optout_notice(&draft.body, notice_locale);
        if draft.body.trim().is_empty() {
            return Err(invalid("body", "must not be empty"));
        }
        if draft.body.chars().count() > MAX_BODY_CHARS {
            return Err(invalid(
                "body",
                format!("must be at most {MAX_BODY_CHARS} characters"),
            ));
        }
        let compiled = self
            .templates
            .campaign_body(&body)
            .map_err(|e| invalid("body", e))?;
        for context in sample_contexts(program) {
            compiled
                .render(&context)
                .map_err(|e| invalid("body", format!("does not render: {e}")))?;
        }
        let segment = draft.segment.to_script(program)?;
        if !(0.0..=50.0).contains(&draft.holdout_percent) {
            return Err(invalid("holdout_percent", "must be between 0 and 50"));
        }
        if draft.send_at.is_some_and(|at| at <= self.clock.now()) {
            return Err(invalid("send_at", "must be in the future"));
        }
        if let Some(local) = &draft.send_at_local {
            if LocalTime::parse(local).is_none() {
                return Err(invalid(
                    "send_at_local",
                    "must be a time of day, HH:MM (24 h)",
                ));
            }
        }
        if !(1..=90).contains(&draft.attribution_days) {
            return Err(invalid("attribution_days", "must be between 1 and 90"));
        }
        let mut fields = HashMap::new();
        fields.insert("name", name.to_owned());
        fields.insert(
            "links",
            serde_json::to_string(&links::find(&body)).expect("strings serialise"),
        );
        fields.insert("body", body);
        fields.insert(
            "segment",
            serde_json::to_string(&segment).expect("plain data serialises"),
        );
        fields.insert(
            "segment_input",
            serde_json::to_string(&draft.segment).expect("plain data serialises"),
        );
        fields.insert("holdout_percent", draft.holdout_percent.to_string());
        fields.insert("attribution_days", draft.attribution_days.to_string());
        if let Some(at) = draft.send_at {
            fields.insert("send_at_ms", at.timestamp_millis().to_string());
        }
        if let Some(local) = &draft.send_at_local {
            fields.insert("send_at_local", local.clone());
        }
        Ok(fields)
    }

    pub async fn create(
        &self,
        program: &Program,
        draft: &Draft,
    ) -> Result<Campaign, CampaignError> {
        let fields = self.fields(program, draft)?;
        let seed = hex::encode(rand::random::<[u8; 16]>());
        let call = SaveCampaign {
            id: None,
            seed: &seed,
            fields: &fields,
            cleared: &[],
        };
        let id = match self.call(program, &call).await? {
            SaveCampaignReply::Saved { id } => id,
            SaveCampaignReply::NotFound => return Err(CampaignError::NotFound),
            SaveCampaignReply::NotEditable { current } => {
                return Err(CampaignError::NotEditable { status: current })
            }
        };
        if let Some(at) = draft.send_at {
            self.start(program, &id, Some(at)).await?;
        }
        self.get(program, &id).await?.ok_or(CampaignError::NotFound)
    }

    pub async fn update(
        &self,
        program: &Program,
        id: &str,
        draft: &Draft,
    ) -> Result<Campaign, CampaignError> {
        let fields = self.fields(program, draft)?;
        let mut cleared = Vec::new();
        if draft.send_at.is_none() {
            cleared.push("send_at_ms");
        }
        if draft.send_at_local.is_none() {
            cleared.push("send_at_local");
        }
        let call = SaveCampaign {
            id: Some(id),
            seed: "",
            fields: &fields,
            cleared: &cleared,
        };
        match self.call(program, &call).await? {
            SaveCampaignReply::Saved { .. } => {}
            SaveCampaignReply::NotFound => return Err(CampaignError::NotFound),
            SaveCampaignReply::NotEditable { current } => {
                return Err(CampaignError::NotEditable { status: current })
            }
        }
        if let Some(at) = draft.send_at {
            self.start(program, id, Some(at)).await?;
        }
        self.get(program, id).await?.ok_or(CampaignError::NotFound)
    }

    pub async fn get(&self, program: &Program, id: &str) -> Result<Option<Campaign>, StoreError> {
        Ok(self
            .record(program, id)
            .await?
            .as_ref()
            .map(Campaign::from_record))
    }

    /// A campaign's hash as stored.
    async fn record(
        &self,
        program: &Program,
        id: &str,
    ) -> Result<Option<HashMap<String, String>>, StoreError> {
        let call = GetCampaigns {
            id: Some(id),
            limit: 1,
            before: None,
        };
        match self.call(program, &call).await? {
            GetCampaignsReply::Found { campaigns, .. } => Ok(campaigns.into_iter().next()),
            GetCampaignsReply::UnknownCursor => Ok(None),
        }
    }

    /// The POS activity each group of the campaign caused, side by side.
    pub async fn results(&self, program: &Program, id: &str) -> Result<Results, CampaignError> {
        let record = self
            .record(program, id)
            .await?
            .ok_or(CampaignError::NotFound)?;
        Ok(Results::from_record(&record))
    }
}

impl Results {
    fn from_record(record: &HashMap<String, String>) -> Self {
        let recipients = GroupResults::from_record(record, "r");
        let holdout = GroupResults::from_record(record, "h");
        let scale = if holdout.members == 0 {
            None
        } else {
            Some(recipients.members as f64 / holdout.members as f64)
        };
        let incremental = match scale {
            Some(scale) => Incremental {
                visits: recipients.visits as f64 - holdout.visits as f64 * scale,
                spend: recipients.spend as f64 - holdout.spend as f64 * scale,
            },
            None => Incremental {
                visits: 0.0,
                spend: 0.0,
            },
        };
        Results {
            attribution_days: Campaign::from_record(record).attribution_days,
            recipients,
            holdout,
            incremental,
        }
    }
}

impl Campaigns {
    /// `limit` campaigns (at most [`LIST_LIMIT`]), newest first, created before the campaign
    /// `before` when given.
    pub async fn list(
        &self,
        program: &Program,
        limit: usize,
        before: Option<&str>,
    ) -> Result<CampaignPage, CampaignError> {
        if !(1..=LIST_LIMIT).contains(&limit) {
            return Err(invalid(
                "limit",
                format!("must be between 1 and {LIST_LIMIT}"),
            ));
        }
        let call = GetCampaigns {
            id: None,
            limit,
            before,
        };
        match self.call(program, &call).await? {
            GetCampaignsReply::Found { campaigns, more } => Ok(CampaignPage {
                campaigns: campaigns.iter().map(Campaign::from_record).collect(),
                more,
            }),
            GetCampaignsReply::UnknownCursor => {
                Err(invalid("before", "no campaign with this id in the program"))
            }
        }
    }

    /// Sends now (`at` absent) or schedules. Sending twice is sending once.
    pub async fn start(
        &self,
        program: &Program,
        id: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<Campaign, CampaignError> {
        let call = StartCampaign {
            id,
            schedule_at_ms: at.map(|t| t.timestamp_millis()),
        };
        match self.call(program, &call).await? {
            StartCampaignReply::NotFound => return Err(CampaignError::NotFound),
            StartCampaignReply::Started
            | StartCampaignReply::Scheduled
            | StartCampaignReply::Unchanged { .. } => {}
        }
        self.get(program, id).await?.ok_or(CampaignError::NotFound)
    }

    pub async fn cancel(&self, program: &Program, id: &str) -> Result<Campaign, CampaignError> {
        match self.call(program, &CancelCampaign { id }).await? {
            CancelCampaignReply::NotFound => return Err(CampaignError::NotFound),
            CancelCampaignReply::Cancelled | CancelCampaignReply::Unchanged { .. } => {}
        }
        self.get(program, id).await?.ok_or(CampaignError::NotFound)
    }

    /// Resumes a campaign that paused itself (or was paused): it goes on where it stopped, and
    /// the texts it held are sent.
    pub async fn resume(&self, program: &Program, id: &str) -> Result<Campaign, CampaignError> {
        match self.call(program, &ResumeCampaign { id }).await? {
            ResumeCampaignReply::NotFound => return Err(CampaignError::NotFound),
            ResumeCampaignReply::NotPaused { current } => {
                return Err(CampaignError::NotPaused { status: current })
            }
            ResumeCampaignReply::Resumed { released } => {
                tracing::info!(campaign = id, released, "campaign resumed");
            }
        }
        self.get(program, id).await?.ok_or(CampaignError::NotFound)
    }

    /// A click on tracked link `token`: the URL to redirect to, the click counted.
    pub async fn click(
        &self,
        program: &Program,
        token: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(match self.call(program, &Click { token }).await? {
            ClickReply::Found { url } => Some(url),
            ClickReply::NotFound => None,
        })
    }

    /// One step of a sending campaign (see the module's documentation).
    pub async fn step(
        &self,
        program: &Program,
        campaign: &Campaign,
    ) -> Result<CampaignStepReply, StoreError> {
        let call = CampaignStep {
            id: &campaign.id,
            count: BATCH,
            holdout_percent: campaign.holdout_percent,
            cap_max: self.policy.max_per_member,
            cap_window_ms: self.policy.cap_window_ms,
            message_ttl_secs: self.policy.message_ttl_secs,
            link_base: self.policy.link_base.as_deref(),
            link_ttl_secs: LINK_TTL_SECS,
        };
        self.call(program, &call).await
    }

    /// Starts the scheduled campaigns whose send time has come (once, across processes).
    pub async fn start_due(&self, program: &Program) -> Result<Vec<String>, StoreError> {
        let DueCampaignsReply::Checked { started } = self.call(program, &DueCampaigns {}).await?;
        Ok(started)
    }

    /// Sends what the program's automations have due now (at most `limit` triggers); returns how
    /// many were handled. Any serve may run it: each trigger is taken once.
    pub async fn run_automations(
        &self,
        program: &Program,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let bodies = program
            .automations
            .bodies()
            .into_iter()
            .filter_map(|(name, body)| body.map(|b| (name, b)))
            .collect();
        let call = RunAutomations {
            rules: program.rules_json(),
            limit,
            cap_max: self.policy.max_per_member,
            cap_window_ms: self.policy.cap_window_ms,
            message_ttl_secs: self.policy.message_ttl_secs,
            bodies,
            seed: hex::encode(rand::random::<[u8; 16]>()),
            attribution_days: AUTOMATION_ATTRIBUTION_DAYS,
        };
        let RunAutomationsReply::Ran { count } = self.call(program, &call).await?;
        Ok(count)
    }

    /// Each configured automation of the program: what it sent and what that earned, as a
    /// campaign's counts and results (zeros before it first ran).
    pub async fn automations(&self, program: &Program) -> Result<Vec<Automation>, CampaignError> {
        let mut all = Vec::new();
        for name in program.automations.configured() {
            let record = self
                .record(program, &format!("auto_{name}"))
                .await?
                .unwrap_or_default();
            let counts = Campaign::from_record(&record);
            let results = Results::from_record(&record);
            all.push(Automation {
                automation: name,
                recipients: counts.recipients,
                holdout: counts.holdout,
                queued: counts.queued,
                sent: counts.sent,
                delivered: counts.delivered,
                failed: counts.failed,
                deferred: counts.deferred,
                capped: counts.capped,
                suppressed: counts.suppressed,
                results,
            });
        }
        Ok(all)
    }

    /// Takes the steps of every sending campaign of `program` until each is done or idle (at
    /// most `limit` steps in all). Returns the steps taken.
    pub async fn run_active(&self, program: &Program, limit: usize) -> Result<usize, StoreError> {
        let keys = ProgramKeys::new(&self.prefix, &program.id);
        let active: Vec<String> = self
            .store
            .command(redis::cmd("SMEMBERS").arg(keys.active_campaigns()))
            .await?;
        let mut steps = 0;
        for id in active {
            let Some(campaign) = self.get(program, &id).await? else {
                continue;
            };
            while steps < limit {
                steps += 1;
                if self.step(program, &campaign).await? != CampaignStepReply::Progress {
                    break;
                }
            }
        }
        Ok(steps)
    }

    /// One rendered copy to `phone`, through the outbox as a marketing text (so opt-outs and
    /// quiet hours apply); returns the message id.
    pub async fn test_send(
        &self,
        program: &Program,
        id: &str,
        phone: &PhoneNumber,
    ) -> Result<String, CampaignError> {
        let campaign = self
            .get(program, id)
            .await?
            .ok_or(CampaignError::NotFound)?;
        let vars = json!({ "body": campaign.body, "test_of": campaign.id });
        let ttl = std::time::Duration::from_secs(self.policy.message_ttl_secs);
        Ok(self
            .outbox
            .enqueue(
                program,
                phone,
                MessageKind::Marketing,
                "campaign",
                &vars,
                ttl,
            )
            .await?)
    }

    /// Who the campaign would reach now and what it would cost: the segment read a page at a
    /// time, every recipient's text rendered as it would be sent.
    pub async fn preview(&self, program: &Program, id: &str) -> Result<Preview, CampaignError> {
        let campaign = self
            .get(program, id)
            .await?
            .ok_or(CampaignError::NotFound)?;
        self.preview_campaign(program, &campaign).await
    }

    /// [`Campaigns::preview`] of a campaign already read.
    pub async fn preview_campaign(
        &self,
        program: &Program,
        campaign: &Campaign,
    ) -> Result<Preview, CampaignError> {
        let segment: crate::store::scripts::campaigns::ScriptSegment =
            serde_json::from_value(campaign.segment.clone())
                .ok()
                .map(|s: Segment| s.to_script(program))
                .transpose()?
                .unwrap_or_default();
        self.preview_of(program, &campaign.body, &segment, campaign.holdout_percent)
            .await
    }

    /// The preview of a draft not saved yet (the dashboard's form as the marketer types),
    /// checked as saving it would be.
    pub async fn preview_draft(
        &self,
        program: &Program,
        draft: &Draft,
    ) -> Result<Preview, CampaignError> {
        let fields = self.fields(program, draft)?;
        let segment = draft.segment.to_script(program)?;
        self.preview_of(program, &fields["body"], &segment, draft.holdout_percent)
            .await
    }

    async fn preview_of(
        &self,
        program: &Program,
        body: &str,
        segment: &crate::store::scripts::campaigns::ScriptSegment,
        holdout_percent: f64,
    ) -> Result<Preview, CampaignError> {
        // Tracked links are counted at their shortened length.
        let source = match &self.policy.link_base {
            Some(base) => links::rewrite(body, |_| Some(links::placeholder(base))),
            None => body.to_owned(),
        };
        let body = Arc::new(
            self.templates
                .campaign_body(&source)
                .map_err(|e| invalid("body", e))?,
        );
        // Redis reads page n + 1 while a blocking thread renders page n: the two run on
        // different cores, so the preview takes about the longer of the two, not their sum.
        let program = Arc::new(program.clone());
        let smart_encoding = self.policy.smart_encoding;
        let page = |start| SegmentPage {
            segment,
            start,
            count: BATCH,
        };
        let mut tally = Tally::default();
        let SegmentPageReply::Page {
            mut members,
            mut next,
        } = self.call(&program, &page(0)).await?;
        loop {
            let (body, shared) = (body.clone(), program.clone());
            let render = tokio::task::spawn_blocking(move || {
                tally.add(&body, &shared, &members, smart_encoding)?;
                Ok::<_, CampaignError>(tally)
            });
            let fetch = async {
                match next {
                    Some(at) => self.call(&program, &page(at)).await.map(Some),
                    None => Ok(None),
                }
            };
            let (rendered, fetched) = tokio::join!(render, fetch);
            tally = rendered??;
            match fetched? {
                Some(SegmentPageReply::Page {
                    members: m,
                    next: n,
                }) => (members, next) = (m, n),
                None => break,
            }
        }
        let Tally {
            audience,
            total_segments,
            worst,
            samples,
        } = tally;
        let holdout = (audience as f64 * holdout_percent / 100.0).round() as i64;
        let recipients = audience - holdout;
        // The holdout is drawn at random: its share of the segments, on average.
        let total_segments = if audience == 0 {
            0
        } else {
            (total_segments as f64 * recipients as f64 / audience as f64).ceil() as u64
        };
        let cost = Decimal::from(total_segments) * self.policy.price_per_segment;
        Ok(Preview {
            recipients,
            holdout,
            encoding: worst.0,
            segments: worst.1,
            total_segments,
            estimated_cost: cost.normalize().to_string(),
            currency: program.currency.clone(),
            duration_seconds: total_segments as f64 / self.policy.segments_per_second,
            samples,
        })
    }
}

/// Receipt buckets read per scheduler tick: about 50 receipts each, so a tick holds Redis for
/// well under a millisecond and one process's pass over ten million receipts takes under an
/// hour of quarter-second ticks.
const RECEIPT_BUCKETS_PER_TICK: u32 = 16;

/// The scheduler inside `serve`: every quarter second, starts the scheduled campaigns whose time
/// has come, takes the steps of the sending ones and of the automations due, and a step of the
/// day's pass that forgets old earn receipts. Several processes may run it: every step is one
/// script, so they share the work and nothing happens twice.
pub async fn run_scheduler(
    campaigns: Arc<Campaigns>,
    ledger: crate::ledger::Ledger,
    programs: Arc<crate::domain::Programs>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        for program in programs.iter() {
            let ran = async {
                campaigns.start_due(program).await?;
                campaigns.run_automations(program, 200).await?;
                campaigns.run_active(program, 20).await?;
                ledger
                    .sweep_receipts(program, RECEIPT_BUCKETS_PER_TICK)
                    .await
            };
            if let Err(e) = ran.await {
                tracing::warn!(program = %program.id, error = %crate::telemetry::Chain(&e), "campaign step failed; retrying");
            }
        }
    }
}

/// Contexts a body must render with: the shortest and longest values a member can have.
/// What a preview counts over a segment's members.
#[derive(Default)]
struct Tally {
    audience: i64,
    total_segments: u64,
    /// The longest text: its encoding and segments (UCS-2 counts as longer at equal segments).
    worst: (Encoding, u32),
    samples: Vec<String>,
}

impl Tally {
    fn add(
        &mut self,
        body: &CampaignBody,
        program: &Program,
        members: &[SegmentMember],
        smart_encoding: bool,
    ) -> Result<(), CampaignError> {
        for member in members {
            let text = body
                .render(CampaignContext::new(
                    program,
                    member.first_name.as_deref(),
                    member.balance,
                ))
                .map_err(|e| invalid("body", format!("does not render: {e}")))?;
            let text = if smart_encoding {
                segments::smart_encode(&text)
            } else {
                text
            };
            let count = segments::count(&text);
            self.audience += 1;
            self.total_segments += u64::from(count.segments);
            if (count.segments, count.encoding == Encoding::Ucs2)
                > (self.worst.1, self.worst.0 == Encoding::Ucs2)
            {
                self.worst = (count.encoding, count.segments);
            }
            if self.samples.len() < 3 {
                self.samples.push(text);
            }
        }
        Ok(())
    }
}

fn sample_contexts(program: &Program) -> [CampaignContext<'_>; 3] {
    [
        CampaignContext::new(program, None, 0),
        CampaignContext::new(program, Some("Maximilian"), 9_999_999),
        CampaignContext::new(program, Some("Zoë"), -250),
    ]
}

#[cfg(test)]
mod tests {
    use super::with_optout_notice;

    #[test]
    fn the_optout_notice_is_added_once() {
        assert_eq!(
            with_optout_notice("Double points today!", "en"),
            "Double points today! Reply STOP to opt out."
        );
        assert_eq!(
            with_optout_notice("Double points! Text STOP to end.", "en"),
            "Double points! Text STOP to end."
        );
        assert!(with_optout_notice("¡Puntos dobles!", "es").ends_with("STOP para no recibir más."));
    }
}
