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

script_call!(
    ImportBatch<'_>,
    "import_batch",
    Imported,
    rules,
    "import_batch.lua"
);
