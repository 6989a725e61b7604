//! Exporting a program's members (CSV) and their history (JSON lines), for the owner's own
//! records or another system. Members are read a page at a time in join order, each page in one
//! pipelined round trip, so a program of any size streams through in constant memory.

use std::io::Write;

use crate::domain::Program;
use crate::store::{ProgramKeys, Store};

/// Members read per round trip.
const PAGE: isize = 500;

/// The member fields written, in order, with their stored names.
const MEMBER_COLUMNS: [(&str, &str); 10] = [
    ("phone", "phone"),
    ("first_name", "first_name"),
    ("status", "status"),
    ("balance", "balance"),
    ("lifetime_points", "lifetime"),
    ("tier", "tier"),
    ("visits", "visits"),
    ("locale", "locale"),
    ("joined_at", "joined_at"),
    ("last_visit_at", "last_visit_at"),
];

/// What an export wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub members: u64,
    /// History entries (history exports only).
    pub entries: u64,
}

/// The members at positions `[start, start + PAGE)` of the join order.
async fn page(store: &Store, keys: &ProgramKeys, start: isize) -> anyhow::Result<Vec<String>> {
    Ok(store
        .command(
            redis::cmd("ZRANGE")
                .arg(keys.members())
                .arg(start)
                .arg(start + PAGE - 1),
        )
        .await?)
}

/// Every member as a CSV row, with a header.
pub async fn members(
    store: &Store,
    prefix: &str,
    program: &Program,
    out: impl Write,
) -> anyhow::Result<Exported> {
    let keys = ProgramKeys::new(prefix, &program.id);
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(MEMBER_COLUMNS.map(|(name, _)| name))?;
    let mut exported = Exported::default();
    let mut start = 0;
    loop {
        let phones = page(store, &keys, start).await?;
        if phones.is_empty() {
            break;
        }
        let mut pipe = redis::pipe();
        for phone in &phones {
            pipe.cmd("HMGET")
                .arg(keys.member(phone))
                .arg(&MEMBER_COLUMNS.map(|(_, stored)| stored)[..]);
        }
        let rows: Vec<Vec<Option<String>>> = store.pipeline(&pipe).await?;
        for row in rows {
            csv.write_record(row.iter().map(|v| v.as_deref().unwrap_or("")))?;
            exported.members += 1;
        }
        start += PAGE;
    }
    csv.flush()?;
    Ok(exported)
}

/// Every history entry as one JSON object per line, each member's oldest first, with the
/// member's `phone` added.
pub async fn history(
    store: &Store,
    prefix: &str,
    program: &Program,
    mut out: impl Write,
) -> anyhow::Result<Exported> {
    let keys = ProgramKeys::new(prefix, &program.id);
    let mut exported = Exported::default();
    let mut start = 0;
    loop {
        let phones = page(store, &keys, start).await?;
        if phones.is_empty() {
            break;
        }
        let mut pipe = redis::pipe();
        for phone in &phones {
            pipe.lrange(keys.ledger(phone), 0, -1);
        }
        let ledgers: Vec<Vec<String>> = store.pipeline(&pipe).await?;
        for (phone, entries) in phones.iter().zip(ledgers) {
            exported.members += 1;
            for raw in entries.iter().rev() {
                let mut entry: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(raw)?;
                entry.insert("phone".into(), phone.as_str().into());
                serde_json::to_writer(&mut out, &entry)?;
                out.write_all(b"\n")?;
                exported.entries += 1;
            }
        }
        start += PAGE;
    }
    out.flush()?;
    Ok(exported)
}
