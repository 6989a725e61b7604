//! The event queues' scripts: registering endpoints, recording a delivery attempt, promoting
//! due retries and requeueing a dead letter. Events themselves are written by `emit` in the
//! library, inside the scripts whose changes they report.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::script_call;

/// What one endpoint receives, as `emit` reads it from the `hooks` hash.
#[derive(Debug, Serialize)]
pub struct HookSpec<'a> {
    /// A set (`{"points.earned": true}`); absent: every event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<BTreeMap<&'a str, bool>>,
    /// Payloads carry the phone number.
    pub phone: bool,
}

/// hooks_register.lua: the program's endpoints, replacing what was registered.
#[derive(Serialize)]
pub struct RegisterHooks<'a> {
    pub endpoints: BTreeMap<&'a str, HookSpec<'a>>,
    /// The key of members' references in events, if the program has none yet (random).
    pub key_candidate: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RegisterHooksReply {
    Registered,
}

script_call!(RegisterHooks<'_>, "hooks_register", RegisterHooksReply);

/// What became of a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookOutcome {
    Delivered,
    Retry,
    Dead,
}

/// hook_finish.lua: record an attempt on a queue entry.
#[derive(Serialize)]
pub struct FinishHook<'a> {
    pub endpoint: &'a str,
    /// The stream entry.
    pub entry: &'a str,
    /// The event (webhook-id), its body and this attempt's number (from 1).
    pub id: &'a str,
    pub body: &'a str,
    pub attempt: u32,
    pub outcome: HookOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FinishHookReply {
    Recorded,
    /// Another worker had finished it.
    Gone,
}

script_call!(FinishHook<'_>, "hook_finish", FinishHookReply);

/// hook_promote.lua: due retries of these endpoints back into their queues.
#[derive(Serialize)]
pub struct PromoteHooks<'a> {
    pub endpoints: BTreeSet<&'a str>,
    pub limit: usize,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PromoteHooksReply {
    Promoted { count: usize },
}

script_call!(PromoteHooks<'_>, "hook_promote", PromoteHooksReply);

/// hook_requeue.lua: a dead letter back into its endpoint's queue.
#[derive(Serialize)]
pub struct RequeueHook<'a> {
    pub endpoint: &'a str,
    pub id: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RequeueHookReply {
    Requeued,
    NotFound,
}

script_call!(RequeueHook<'_>, "hook_requeue", RequeueHookReply);
