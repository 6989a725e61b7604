//! Exporting a program's members (CSV) and their history (JSON lines), for the owner's own
//! records or another system. Members are read a page at a time in join order, each page in one
//! pipelined round trip, so a program of any size streams through in constant memory.

use std::collections::HashMap;
use std::io::Write;

use crate::domain::Program;
use crate::store::{ProgramKeys, Store};

/// Members read per round trip.
const PAGE: isize = 500;

/// The member fields written, in order.
const MEMBER_COLUMNS: [&str; 10] = [
    "phone",
    "first_name",
    "status",
    "balance",
    "lifetime_points",
    "tier",
    "visits",
    "locale",
    "joined_at",
    "last_visit_at",
];

/// The member hash fields read for a row: the columns after `phone` as stored (lifetime points
/// are `lifetime`), then the millisecond times members since the compact record keep instead
/// of `joined_at` and `last_visit_at`.
const STORED_FIELDS: [&str; 11] = [
    "first_name",
    "status",
    "balance",
    "lifetime",
    "tier",
    "visits",
    "locale",
    "joined_at",
    "last_visit_at",
    "joined_ms",
    "last_visit_ms",
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
    csv.write_record(MEMBER_COLUMNS)?;
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
                .arg(&STORED_FIELDS[..]);
        }
        let rows: Vec<Vec<Option<String>>> = store.pipeline(&pipe).await?;
        for (phone, mut row) in phones.iter().zip(rows) {
            let last_visit_ms = row.pop().flatten();
            let joined_ms = row.pop().flatten();
            let time = |text: &mut Option<String>, ms: Option<String>| {
                if text.is_none() {
                    *text = ms
                        .and_then(|ms| ms.parse().ok())
                        .map(crate::clock::rfc3339_from_ms);
                }
            };
            time(&mut row[7], joined_ms);
            time(&mut row[8], last_visit_ms);
            let fields = std::iter::once(phone.as_str())
                .chain(row.iter().map(|v| v.as_deref().unwrap_or("")));
            csv.write_record(fields)?;
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
            pipe.hgetall(keys.member(phone))
                .lrange(keys.ledger(phone), 0, -1);
        }
        type Stored = (HashMap<String, Vec<u8>>, Vec<Vec<u8>>);
        let stored: Vec<Stored> = store.pipeline(&pipe).await?;
        for (phone, (member, archive)) in phones.iter().zip(stored) {
            exported.members += 1;
            for entry in crate::ledger::history::entries(&member, &archive)
                .into_iter()
                .rev()
            {
                let mut entry = entry?;
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
