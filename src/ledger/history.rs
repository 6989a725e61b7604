//! A member's history as the scripts store it (lib.lua's `Compact` says why): the newest
//! entries are fields of the member hash named by their number, each a MessagePack array
//! `[type, at_ms, points, balance, tag, value, ...]`; older entries are in the `ledger` list,
//! the same array with the number in front, or JSON when written before that format (or too
//! long to pack). This is the one Rust reader of all three; the history endpoint, `verify` and
//! the export go through it.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// lib.lua's `Compact.KINDS`: an entry's type stored as its position here (from 1).
const KINDS: [&str; 11] = [
    "earn",
    "reverse",
    "redeem",
    "void",
    "reward_issued",
    "welcome",
    "adjust",
    "import",
    "referral",
    "birthday",
    "expire",
];

/// lib.lua's `Compact.HISTORY_TAGS`: an optional field stored as its position here (from 1).
const TAGS: [&str; 12] = [
    "amount",
    "location",
    "receipt",
    "tender",
    "reward",
    "code",
    "reason",
    "bonus_multiplier",
    "by",
    "refund_id",
    "message_id",
    "lot",
];

#[derive(Debug, thiserror::Error)]
#[error("history entry {which} cannot be read: {problem}")]
pub struct UnreadableEntry {
    /// The entry's id, or where it is when it has none.
    pub which: String,
    pub problem: String,
}

/// Whether a member hash field is a history entry (its name is the entry's number).
pub fn is_entry_field(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// Every entry of a member, newest first, as JSON objects with the names the API uses: from
/// the member hash (`HGETALL`) and the `ledger` list (`LRANGE`, newest first; a prefix of it
/// is enough for the newest entries).
pub fn entries(
    member: &HashMap<String, Vec<u8>>,
    archive: &[Vec<u8>],
) -> Vec<Result<Map<String, Value>, UnreadableEntry>> {
    let mut inline: Vec<(u64, &[u8])> = member
        .iter()
        .filter(|(name, _)| is_entry_field(name))
        .filter_map(|(name, value)| Some((name.parse().ok()?, value.as_slice())))
        .collect();
    inline.sort_by_key(|e| std::cmp::Reverse(e.0));
    let inline = inline
        .into_iter()
        .map(|(number, packed)| unpack(packed, Some(number)));
    let archived = archive.iter().enumerate().map(|(i, raw)| {
        if raw.first() == Some(&b'{') {
            serde_json::from_slice(raw).map_err(|e| UnreadableEntry {
                which: format!("at {i} of the list"),
                problem: e.to_string(),
            })
        } else {
            unpack(raw, None)
        }
    });
    inline.chain(archived).collect()
}

/// One packed entry; `number` is its field name, or `None` when it is the array's first element.
fn unpack(mut packed: &[u8], number: Option<u64>) -> Result<Map<String, Value>, UnreadableEntry> {
    let which = number.map_or_else(|| "in the list".to_owned(), |n| format!("e{n}"));
    let bad = |problem: String| UnreadableEntry {
        which: which.clone(),
        problem,
    };
    let value = rmpv::decode::read_value(&mut packed).map_err(|e| bad(e.to_string()))?;
    let rmpv::Value::Array(items) = value else {
        return Err(bad("not an array".into()));
    };
    let mut items = items.into_iter();
    let mut next = |what: &str| {
        items
            .next()
            .ok_or_else(|| bad(format!("it ends before its {what}")))
    };
    let number = match number {
        Some(n) => n,
        None => next("number")?
            .as_u64()
            .ok_or_else(|| bad("its number is not a number".into()))?,
    };
    let kind = match next("type")? {
        rmpv::Value::String(s) => s.into_str().unwrap_or_default(),
        other => other
            .as_u64()
            .and_then(|i| KINDS.get((i as usize).checked_sub(1)?))
            .map(|k| (*k).to_owned())
            .ok_or_else(|| bad(format!("unknown type {other}")))?,
    };
    let at = next("time")?
        .as_i64()
        .ok_or_else(|| bad("its time is not a number".into()))?;
    let points = json(next("points")?);
    let balance = json(next("balance")?);
    let mut entry = Map::new();
    entry.insert("id".into(), format!("e{number}").into());
    entry.insert("type".into(), kind.into());
    entry.insert("at".into(), crate::clock::rfc3339_from_ms(at).into());
    entry.insert("points".into(), points);
    entry.insert("balance".into(), balance);
    let rest: Vec<rmpv::Value> = items.collect();
    for pair in rest.chunks(2) {
        let [tag, value] = pair else {
            return Err(bad("a tag without a value".into()));
        };
        let name = tag
            .as_u64()
            .and_then(|i| TAGS.get((i as usize).checked_sub(1)?))
            .ok_or_else(|| bad(format!("unknown tag {tag}")))?;
        entry.insert((*name).into(), json(value.clone()));
    }
    Ok(entry)
}

fn json(value: rmpv::Value) -> Value {
    match value {
        rmpv::Value::Integer(i) => i
            .as_i64()
            .map(Value::from)
            .or_else(|| i.as_u64().map(Value::from))
            .unwrap_or(Value::Null),
        rmpv::Value::F32(f) => Value::from(f64::from(f)),
        rmpv::Value::F64(f) => Value::from(f),
        rmpv::Value::String(s) => s.into_str().map_or(Value::Null, Value::from),
        rmpv::Value::Boolean(b) => Value::from(b),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(items: Vec<rmpv::Value>) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &rmpv::Value::Array(items)).unwrap();
        out
    }

    #[test]
    fn entries_come_newest_first_from_the_hash_then_the_list() {
        let member: HashMap<String, Vec<u8>> = [
            ("balance".to_owned(), b"24".to_vec()),
            (
                "9".to_owned(),
                packed(vec![1.into(), 0.into(), 12.into(), 24.into()]),
            ),
            (
                "10".to_owned(),
                packed(vec![
                    3.into(),
                    0.into(),
                    (-5).into(),
                    19.into(),
                    5.into(),
                    "r25".into(),
                ]),
            ),
        ]
        .into();
        let archive = vec![
            packed(vec![
                7.into(),
                "gift".into(),
                86_400_001.into(),
                12.into(),
                12.into(),
            ]),
            br#"{"id":"e2","type":"welcome","points":0,"balance":0,"at":"x"}"#.to_vec(),
        ];
        let read: Vec<Map<String, Value>> = entries(&member, &archive)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let ids: Vec<&str> = read.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["e10", "e9", "e7", "e2"]);
        assert_eq!(read[0]["type"], "redeem");
        assert_eq!(read[0]["reward"], "r25");
        assert_eq!(read[0]["points"], -5);
        assert_eq!(
            read[2]["type"], "gift",
            "an unknown type is kept as its name"
        );
        assert_eq!(read[2]["at"], "1970-01-02T00:00:00.001Z");
    }

    #[test]
    fn a_damaged_entry_is_reported_not_skipped() {
        let member: HashMap<String, Vec<u8>> =
            [("3".to_owned(), packed(vec![1.into(), 0.into()]))].into();
        let read = entries(&member, &[]);
        let problem = read[0].as_ref().unwrap_err();
        assert_eq!(problem.which, "e3");
        assert!(problem.problem.contains("points"), "{problem}");
    }
}
