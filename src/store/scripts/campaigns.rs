//! The campaigns' scripts: saving a campaign, previewing its segment a page at a time, starting
//! and cancelling it, and the steps that fix its audience and queue its texts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::script_call;

/// A segment as the scripts read it: dates as Unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptSegment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locales: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_balance: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_balance: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visited_after_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visited_before_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined_after_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined_before_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_visited_for_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_visits: Option<i64>,
}

/// segment_page.lua: the members of one page of the member list that are in a segment.
#[derive(Serialize)]
pub struct SegmentPage<'a> {
    pub segment: &'a ScriptSegment,
    pub start: usize,
    pub count: usize,
}

/// What a campaign's text is rendered from for one member.
#[derive(Debug, Clone, Deserialize)]
pub struct SegmentMember {
    pub phone: String,
    #[serde(default)]
    pub first_name: Option<String>,
    pub balance: i64,
    #[serde(default)]
    pub locale: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SegmentPageReply {
    Page {
        #[serde(deserialize_with = "super::lua_list")]
        members: Vec<SegmentMember>,
        /// Where the next page starts; absent after the last.
        #[serde(default)]
        next: Option<usize>,
    },
}

script_call!(SegmentPage<'_>, "segment_page", SegmentPageReply);

/// campaign_save.lua: a new campaign (no `id`), or a draft's new fields.
#[derive(Serialize)]
pub struct SaveCampaign<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// For a new campaign: the seed its holdout is drawn from.
    pub seed: &'a str,
    /// Fields to set, as stored.
    pub fields: &'a HashMap<&'static str, String>,
    /// Fields to remove.
    pub cleared: &'a [&'static str],
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SaveCampaignReply {
    Saved { id: String },
    NotFound,
    NotEditable { current: String },
}

script_call!(SaveCampaign<'_>, "campaign_save", SaveCampaignReply);

/// campaign_start.lua: send now, or schedule for `schedule_at_ms`.
#[derive(Serialize)]
pub struct StartCampaign<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_at_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StartCampaignReply {
    Started,
    Scheduled,
    /// Not a draft (or scheduled) any more: nothing changed.
    Unchanged {
        current: String,
    },
    NotFound,
}

script_call!(StartCampaign<'_>, "campaign_start", StartCampaignReply);

/// campaign_cancel.lua.
#[derive(Serialize)]
pub struct CancelCampaign<'a> {
    pub id: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CancelCampaignReply {
    Cancelled,
    Unchanged { current: String },
    NotFound,
}

script_call!(CancelCampaign<'_>, "campaign_cancel", CancelCampaignReply);

/// campaign_resume.lua.
#[derive(Serialize)]
pub struct ResumeCampaign<'a> {
    pub id: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ResumeCampaignReply {
    Resumed { released: u64 },
    NotPaused { current: String },
    NotFound,
}

script_call!(ResumeCampaign<'_>, "campaign_resume", ResumeCampaignReply);

/// click.lua: a click on the tracked link `token`.
#[derive(Serialize)]
pub struct Click<'a> {
    pub token: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ClickReply {
    Found { url: String },
    NotFound,
}

script_call!(Click<'_>, "click", ClickReply);

/// campaign_step.lua: one page of the audience, or one batch of texts.
#[derive(Serialize)]
pub struct CampaignStep<'a> {
    pub id: &'a str,
    pub count: usize,
    pub holdout_percent: f64,
    pub cap_max: u32,
    pub cap_window_ms: u64,
    pub message_ttl_secs: u64,
    /// `{links.base_url}` when links are tracked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_base: Option<&'a str>,
    pub link_ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CampaignStepReply {
    /// More to do.
    Progress,
    /// Every text of the campaign is queued.
    Done,
    /// Not sending (cancelled, paused, done).
    Idle,
}

script_call!(CampaignStep<'_>, "campaign_step", CampaignStepReply);

/// campaign_get.lua: one campaign (`id`), or `limit` campaigns, newest first, older than
/// `before` when given.
#[derive(Serialize)]
pub struct GetCampaigns<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    pub limit: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GetCampaignsReply {
    Found {
        #[serde(deserialize_with = "super::lua_list")]
        campaigns: Vec<HashMap<String, String>>,
        /// Older campaigns remain after this page.
        #[serde(default)]
        more: bool,
    },
    /// `before` names no campaign of the program.
    UnknownCursor,
}

script_call!(GetCampaigns<'_>, "campaign_get", GetCampaignsReply);

/// campaign_due.lua: start the scheduled campaigns whose time has come.
#[derive(Serialize)]
pub struct DueCampaigns {}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DueCampaignsReply {
    Checked {
        #[serde(deserialize_with = "super::lua_list")]
        started: Vec<String>,
    },
}

script_call!(DueCampaigns, "campaign_due", DueCampaignsReply);

/// auto_run.lua: the automations due now, at most `limit` of them.
#[derive(Serialize)]
pub struct RunAutomations<'a> {
    #[serde(skip)]
    pub rules: &'a str,
    pub limit: usize,
    pub cap_max: u32,
    pub cap_window_ms: u64,
    pub message_ttl_secs: u64,
    /// The automations' own bodies (`welcome_series:<n>` for the welcome steps); an automation
    /// without one uses its shipped template.
    pub bodies: std::collections::BTreeMap<String, &'a str>,
    /// For an automation's first run: the seed of its holdout draws (random).
    pub seed: String,
    pub attribution_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunAutomationsReply {
    Ran { count: usize },
}

script_call!(RunAutomations<'_>, "auto_run", RunAutomationsReply, rules);
