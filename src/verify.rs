//! `loyalty-gateway verify`: the ledger checked against itself. Every member's balance and
//! lifetime points against their history, each history entry's running balance, their FIFO
//! lots against the balance (with expiry on), their reward codes against the code records, and
//! the program's counters against a recount. Points are a liability on the merchant's books:
//! this is the audit that says they add up.
//!
//! Members are read a page at a time in join order, each page in one pipelined round trip, so a
//! program of any size is checked in constant memory.

use std::collections::HashMap;

use serde_json::Value;

use crate::domain::Program;
use crate::store::{ProgramKeys, Store};

/// Members read per round trip.
const PAGE: isize = 500;

/// History entry types that add to lifetime points (a refund takes from them, never below 0).
const LIFETIME_CREDITS: [&str; 5] = ["earn", "welcome", "referral", "birthday", "import"];

/// One thing that does not add up, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// The member's number masked to its country code and last four digits; `None` for the
    /// program's counters.
    pub member: Option<String>,
    pub problem: String,
}

impl std::fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.member {
            Some(member) => write!(f, "{member}: {}", self.problem),
            None => write!(f, "program counters: {}", self.problem),
        }
    }
}

/// What a verification read and found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub members: u64,
    pub entries: u64,
    pub discrepancies: Vec<Discrepancy>,
}

/// `+14155552671` as `+1*****2671`: enough for an operator to find the member, not the number.
pub fn for_operator(phone: &str) -> String {
    let len = phone.len();
    if len <= 6 {
        return "***".into();
    }
    format!(
        "{}{}{}",
        &phone[..2],
        "*".repeat(len - 6),
        &phone[len - 4..]
    )
}

/// The recount of the program's counters, summed over members.
#[derive(Default)]
struct Recount {
    members: HashMap<String, i64>,
    balances: i64,
}

/// Checks every member of `program` and the program's counters.
pub async fn verify(store: &Store, prefix: &str, program: &Program) -> anyhow::Result<Report> {
    let keys = ProgramKeys::new(prefix, &program.id);
    let mut report = Report::default();
    let mut recount = Recount::default();
    let mut start = 0;
    loop {
        let phones: Vec<String> = store
            .command(
                redis::cmd("ZRANGE")
                    .arg(keys.members())
                    .arg(start)
                    .arg(start + PAGE - 1),
            )
            .await?;
        if phones.is_empty() {
            break;
        }
        let mut pipe = redis::pipe();
        for phone in &phones {
            pipe.hgetall(keys.member(phone))
                .lrange(keys.ledger(phone), 0, -1)
                .lrange(keys.lots(phone), 0, -1)
                .smembers(keys.codes(phone));
        }
        type Member = (
            HashMap<String, Vec<u8>>,
            Vec<Vec<u8>>,
            Vec<String>,
            Vec<String>,
        );
        let read: Vec<Member> = store.pipeline(&pipe).await?;
        let mut code_pipe = redis::pipe();
        let mut code_owners = Vec::new();
        for (phone, (member, ledger, lots, codes)) in phones.iter().zip(read) {
            report.members += 1;
            let history = crate::ledger::history::entries(&member, &ledger);
            report.entries += history.len() as u64;
            let mut found = |problem: String| {
                report.discrepancies.push(Discrepancy {
                    member: Some(for_operator(phone)),
                    problem,
                })
            };
            let text = |field: &str| {
                member
                    .get(field)
                    .and_then(|v| String::from_utf8(v.clone()).ok())
            };
            let number = |field: &str| text(field).and_then(|v| v.parse::<i64>().ok());
            let (Some(balance), Some(lifetime)) = (number("balance"), number("lifetime")) else {
                found("in the member list but has no member record".into());
                continue;
            };
            let status = text("status").unwrap_or_default();
            *recount.members.entry(status).or_default() += 1;
            recount.balances += balance;
            // History is newest first: replay it oldest first.
            let mut running = 0i64;
            let mut lifetime_recount = 0i64;
            for entry in history.into_iter().rev() {
                let entry = match entry {
                    Ok(entry) => Value::Object(entry),
                    Err(e) => {
                        found(e.to_string());
                        continue;
                    }
                };
                let points = entry["points"].as_i64().unwrap_or(0);
                let kind = entry["type"].as_str().unwrap_or("");
                running += points;
                if LIFETIME_CREDITS.contains(&kind) {
                    lifetime_recount += points;
                } else if kind == "reverse" {
                    lifetime_recount = (lifetime_recount + points).max(0);
                }
                if entry["balance"].as_i64() != Some(running) {
                    found(format!(
                        "history entry {} ({kind}) says the balance was {}, its history sums to {running}",
                        entry["id"].as_str().unwrap_or("?"),
                        entry["balance"]
                    ));
                }
            }
            if running != balance {
                found(format!(
                    "balance {balance}, but its history sums to {running}"
                ));
            }
            if lifetime_recount != lifetime {
                found(format!(
                    "lifetime points {lifetime}, but its history gives {lifetime_recount}"
                ));
            }
            if program.expiry.is_some() && balance >= 0 {
                let in_lots: i64 = lots
                    .iter()
                    .filter_map(|l| l.rsplit('|').next()?.parse::<i64>().ok())
                    .sum();
                if in_lots > balance {
                    found(format!(
                        "its lots hold {in_lots} points, more than the balance {balance}"
                    ));
                }
            }
            for code in codes {
                code_pipe
                    .cmd("HMGET")
                    .arg(keys.code(&code))
                    .arg("phone")
                    .arg("status");
                code_owners.push((phone.clone(), code));
            }
        }
        if !code_owners.is_empty() {
            let records: Vec<(Option<String>, Option<String>)> = store.pipeline(&code_pipe).await?;
            for ((phone, code), (owner, status)) in code_owners.into_iter().zip(records) {
                let problem = match (owner.as_deref(), status.as_deref()) {
                    (None, _) => Some(format!("unused code {code} has no code record")),
                    (Some(owner), _) if owner != phone => {
                        Some(format!("code {code} belongs to another member"))
                    }
                    (_, Some("unused")) => None,
                    (_, status) => Some(format!(
                        "code {code} is listed as unused but its record says {}",
                        status.unwrap_or("nothing")
                    )),
                };
                if let Some(problem) = problem {
                    report.discrepancies.push(Discrepancy {
                        member: Some(for_operator(&phone)),
                        problem,
                    });
                }
            }
        }
        start += PAGE;
    }
    check_counters(store, &keys, &recount, &mut report).await?;
    Ok(report)
}

/// The program's counters against the recount: members by status, and the points identity
/// (issued + imported + adjusted − redeemed − expired − forfeited = the sum of balances).
async fn check_counters(
    store: &Store,
    keys: &ProgramKeys,
    recount: &Recount,
    report: &mut Report,
) -> anyhow::Result<()> {
    let stored: HashMap<String, i64> = store
        .command(redis::cmd("HGETALL").arg(keys.stats()))
        .await?;
    let stats = crate::stats::program_counters(&stored);
    let stat = |name: &str| stats.get(name).copied().unwrap_or(0);
    let mut found = |problem: String| {
        report.discrepancies.push(Discrepancy {
            member: None,
            problem,
        })
    };
    let total: i64 = recount.members.values().sum();
    if stat("members:total") != total {
        found(format!(
            "members:total is {}, the member list has {total}",
            stat("members:total")
        ));
    }
    for status in ["active", "pending", "opted_out"] {
        let counted = recount.members.get(status).copied().unwrap_or(0);
        if stat(&format!("members:{status}")) != counted {
            found(format!(
                "members:{status} is {}, {counted} members have that status",
                stat(&format!("members:{status}"))
            ));
        }
    }
    let outstanding = stat("points:issued") + stat("points:imported") + stat("points:adjusted")
        - stat("points:redeemed")
        - stat("points:expired")
        - stat("points:forfeited");
    if outstanding != recount.balances {
        found(format!(
            "the counters leave {outstanding} points outstanding, the members' balances sum to {}",
            recount.balances
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::for_operator;

    #[test]
    fn an_operator_sees_the_country_code_and_the_last_four_digits() {
        assert_eq!(for_operator("+14155552671"), "+1******2671");
        assert_eq!(for_operator("+447911123456"), "+4*******3456");
        assert_eq!(for_operator("+123"), "***");
    }
}
