//! Bulk member scripts: importing a batch of rows.

use serde::{Deserialize, Serialize};

use super::script_call;

/// One checked row of an import file.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRow {
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    pub locale: String,
    /// The file says the customer agreed to texts.
    pub consent: bool,
    /// Opening balance.
    pub balance: i64,
    /// The row's line in the file, for the consent record.
    pub line: u64,
}

/// import_batch.lua: create the members of `rows` that do not exist yet.
#[derive(Serialize)]
pub struct ImportBatch<'a> {
    #[serde(skip)]
    pub rules: &'a str,
    pub rows: &'a [ImportRow],
    /// The file's name, for the consent record.
    pub file: &'a str,
    pub request_consent: bool,
    pub message_ttl_secs: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "status", rename = "imported")]
pub struct Imported {
    pub created: u64,
    /// Already members: left as they were.
    pub existing: u64,
    pub active: u64,
    pub pending: u64,
    /// Erased numbers: created opted out, never texted.
    pub suppressed: u64,
}

script_call!(ImportBatch<'_>, "import_batch", Imported, rules);

/// web_join.lua: the public join form's submission (see the script).
#[derive(Serialize)]
pub struct WebJoin<'a> {
    pub phone: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<&'a str>,
    /// The language of the page, for a member this creates.
    pub locale: &'a str,
    /// The client's address: the per-address limit, and the consent record.
    pub client: &'a str,
    pub limit_count: u32,
    pub limit_window_ms: u64,
    pub message_ttl_secs: u64,
}

/// What a submission did; the page shows the same for every outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebJoinOutcome {
    /// A new pending member, asked to reply YES.
    Asked,
    /// The number was a member already: nothing changed.
    Known,
    /// A new member whose number was erased before: never texted.
    Suppressed,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WebJoinReply {
    Ok { outcome: WebJoinOutcome },
    RateLimited,
}

script_call!(WebJoin<'_>, "web_join", WebJoinReply);

/// sign_in_rate.lua: failed dashboard sign-ins per client address (see the script).
#[derive(Serialize)]
pub struct SignInRate<'a> {
    pub client: &'a str,
    pub failed: bool,
    pub count: u32,
    pub window_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignInRateReply {
    Ok,
    Limited,
}

script_call!(SignInRate<'_>, "sign_in_rate", SignInRateReply);
