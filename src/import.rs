//! Importing members from a CSV file (`loyalty-gateway import`): a shop moving from another
//! loyalty tool brings its customers, their consent and their balances.
//!
//! Every row is checked here (the number as the API reads it, the name, locale, consent and
//! balance) and rejected with its line number and reason, or sent on in batches to
//! `import_batch.lua`, which creates each member once: a number that is already a member is
//! left as it is, so importing the same file again changes nothing. Several batches are in
//! flight at once, so the file is read while Redis writes. Without a consent value a member is
//! `pending` and gets no text unless `--request-consent` asks for the one "Reply YES" text.

use std::collections::HashMap;
use std::io::Read;

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::clock::Clock;
use crate::domain::{PhoneNumber, Program, Programs};
use crate::store::scripts::members::{ImportBatch, ImportRow, Imported};
use crate::store::{ProgramKeys, Store};
use crate::templates::SHIPPED_LOCALES;

/// Rows per script call.
const BATCH: usize = 1000;
/// Script calls in flight.
const IN_FLIGHT: usize = 4;
/// Largest opening balance.
const MAX_BALANCE: i64 = 100_000_000;
const MAX_FIRST_NAME: usize = 50;

/// Which column holds what (header names, matched without regard to case).
#[derive(Debug, Clone)]
pub struct Columns {
    pub phone: String,
    pub first_name: String,
    pub locale: String,
    pub consent: String,
    pub balance: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            phone: "phone".into(),
            first_name: "first_name".into(),
            locale: "locale".into(),
            consent: "consent".into(),
            balance: "balance".into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Check every row and count what would happen; write nothing.
    pub dry_run: bool,
    /// Text pending members the one "Reply YES" request.
    pub request_consent: bool,
    /// Columns named explicitly must exist; the others are optional.
    pub explicit: Vec<&'static str>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub imported: Imported,
    /// (line, reason), in file order.
    pub rejected: Vec<(u64, String)>,
}

impl Summary {
    pub fn every_row_rejected(&self) -> bool {
        self.rows > 0 && self.rejected.len() as u64 == self.rows
    }
}

/// Column indexes of the header.
struct Layout {
    phone: usize,
    first_name: Option<usize>,
    locale: Option<usize>,
    consent: Option<usize>,
    balance: Option<usize>,
}

impl Layout {
    fn of(
        header: &csv::StringRecord,
        columns: &Columns,
        explicit: &[&str],
    ) -> anyhow::Result<Self> {
        let find = |name: &str| {
            header.iter().position(|h| {
                h.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(name)
            })
        };
        let names: Vec<&str> = header.iter().collect();
        let missing = |flag: &str, name: &str| {
            anyhow::anyhow!(
                "the file has no {name:?} column (its header: {}); {flag} names another",
                names.join(", ")
            )
        };
        let optional = |flag: &'static str, name: &str| -> anyhow::Result<Option<usize>> {
            match find(name) {
                Some(i) => Ok(Some(i)),
                None if explicit.contains(&flag) => Err(missing(flag, name)),
                None => Ok(None),
            }
        };
        Ok(Self {
            phone: find(&columns.phone).ok_or_else(|| missing("--phone-column", &columns.phone))?,
            first_name: optional("--name-column", &columns.first_name)?,
            locale: optional("--locale-column", &columns.locale)?,
            consent: optional("--consent-column", &columns.consent)?,
            balance: optional("--balance-column", &columns.balance)?,
        })
    }
}

/// Values that say "this customer agreed to texts".
fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_lowercase().as_str(),
        "1" | "y"
            | "yes"
            | "true"
            | "x"
            | "opt-in"
            | "opted_in"
            | "opted-in"
            | "consent"
            | "si"
            | "sí"
            | "sim"
    )
}

/// One row checked, or why not.
fn check_row(
    program: &Program,
    programs: &Programs,
    layout: &Layout,
    record: &csv::StringRecord,
    line: u64,
) -> Result<ImportRow, String> {
    let field = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim).unwrap_or("");
    let raw_phone = field(Some(layout.phone));
    if raw_phone.is_empty() {
        return Err("phone: empty".into());
    }
    let phone = PhoneNumber::parse(raw_phone, program.region)
        .map_err(|e| format!("phone: {raw_phone:?}: {e}"))?;
    if programs.is_own_number(&phone) {
        return Err("phone: one of this gateway's own numbers".into());
    }
    let first_name = field(layout.first_name);
    if first_name.chars().count() > MAX_FIRST_NAME || first_name.chars().any(char::is_control) {
        return Err(format!(
            "first_name: at most {MAX_FIRST_NAME} characters, no control characters"
        ));
    }
    let locale = match field(layout.locale) {
        "" => program.locale.clone(),
        raw => {
            let primary = raw
                .split(['-', '_'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if !SHIPPED_LOCALES.contains(&primary.as_str()) {
                return Err(format!(
                    "locale: {raw:?} is not one of {}",
                    SHIPPED_LOCALES.join(", ")
                ));
            }
            primary
        }
    };
    let balance = match field(layout.balance) {
        "" => 0,
        raw => raw
            .parse::<i64>()
            .ok()
            .filter(|b| (0..=MAX_BALANCE).contains(b))
            .ok_or_else(|| {
                format!("balance: {raw:?} is not a whole number of points from 0 to {MAX_BALANCE}")
            })?,
    };
    Ok(ImportRow {
        phone: phone.as_str().to_owned(),
        first_name: (!first_name.is_empty()).then(|| first_name.to_owned()),
        locale,
        consent: truthy(field(layout.consent)),
        balance,
        line,
    })
}

/// Imports `reader`'s rows into `program`. `progress` is told the bytes read so far.
#[allow(clippy::too_many_arguments)]
pub async fn import(
    store: &Store,
    prefix: &str,
    clock: &Clock,
    program: &Program,
    programs: &Programs,
    reader: impl Read,
    file: &str,
    columns: &Columns,
    options: &Options,
    message_ttl_secs: u64,
    progress: impl Fn(u64),
) -> anyhow::Result<Summary> {
    let keys = ProgramKeys::new(prefix, &program.id);
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let layout = Layout::of(csv.headers()?, columns, &options.explicit)?;
    let mut summary = Summary::default();
    // The first line of each number, so a repeat is reported against it.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut batch: Vec<ImportRow> = Vec::with_capacity(BATCH);
    let mut in_flight = FuturesUnordered::new();
    let send = |rows: Vec<ImportRow>| {
        let keys = keys.clone();
        async move {
            if options.dry_run {
                return would_import(store, &keys, &rows).await;
            }
            let call = ImportBatch {
                rules: program.rules_json(),
                rows: &rows,
                file,
                request_consent: options.request_consent,
                message_ttl_secs,
            };
            Ok(store.call(&keys, clock.now(), &call).await?)
        }
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                summary.rows += 1;
                summary
                    .rejected
                    .push((line, format!("not readable as CSV: {e}")));
                continue;
            }
        }
        summary.rows += 1;
        match check_row(program, programs, &layout, &record, line) {
            Ok(row) => match seen.get(&row.phone) {
                Some(first) => summary
                    .rejected
                    .push((line, format!("phone: the same number as line {first}"))),
                None => {
                    seen.insert(row.phone.clone(), line);
                    batch.push(row);
                }
            },
            Err(reason) => summary.rejected.push((line, reason)),
        }
        if batch.len() == BATCH {
            if in_flight.len() == IN_FLIGHT {
                add(
                    &mut summary.imported,
                    in_flight.next().await.expect("in flight")?,
                );
            }
            in_flight.push(send(std::mem::replace(
                &mut batch,
                Vec::with_capacity(BATCH),
            )));
            progress(csv.position().byte());
        }
    }
    if !batch.is_empty() {
        in_flight.push(send(batch));
    }
    while let Some(done) = in_flight.next().await {
        add(&mut summary.imported, done?);
    }
    progress(csv.position().byte());
    Ok(summary)
}

fn add(total: &mut Imported, batch: Imported) {
    total.created += batch.created;
    total.existing += batch.existing;
    total.active += batch.active;
    total.pending += batch.pending;
    total.suppressed += batch.suppressed;
}

/// A dry run's count for one batch: which numbers are members already (read only).
async fn would_import(
    store: &Store,
    keys: &ProgramKeys,
    rows: &[ImportRow],
) -> anyhow::Result<Imported> {
    let mut pipe = redis::pipe();
    for row in rows {
        pipe.exists(keys.member(&row.phone));
    }
    let exists: Vec<bool> = store.pipeline(&pipe).await?;
    let mut counts = Imported::default();
    for (row, exists) in rows.iter().zip(exists) {
        if exists {
            counts.existing += 1;
        } else {
            counts.created += 1;
            if row.consent {
                counts.active += 1;
            } else {
                counts.pending += 1;
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn program() -> (Program, Programs) {
        let settings = crate::configuration::parse_str(
            r#"
[[programs]]
id = "bloom"
name = "Bloom"
numbers = ["+15005550006"]
country = "US"
"#,
        )
        .unwrap();
        let programs = Programs::new(&settings.programs);
        (settings.programs[0].clone(), programs)
    }

    const LAYOUT: Layout = Layout {
        phone: 0,
        first_name: Some(1),
        locale: Some(2),
        consent: Some(3),
        balance: Some(4),
    };

    fn row(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever a row holds, it is accepted or refused with a reason naming its column;
        /// checking never panics.
        #[test]
        fn any_row_is_checked_without_panicking(
            fields in proptest::collection::vec("\\PC{0,40}|[0-9 ()+.-]{0,20}", 0..7),
            line in 1u64..1_000_000,
        ) {
            let (program, programs) = program();
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            match check_row(&program, &programs, &LAYOUT, &row(&fields), line) {
                Ok(checked) => {
                    prop_assert!(checked.phone.starts_with('+'));
                    prop_assert!((0..=MAX_BALANCE).contains(&checked.balance));
                    prop_assert_eq!(checked.line, line);
                }
                Err(reason) => prop_assert!(
                    ["phone:", "first_name:", "locale:", "balance:"]
                        .iter()
                        .any(|column| reason.starts_with(column)),
                    "{}", reason
                ),
            }
        }

        /// A well-formed row comes through as written: the number in E.164 (here written
        /// nationally), the name, the locale's language, consent and balance.
        #[test]
        fn a_well_formed_row_comes_through_as_written(
            exchange in 200u32..999,
            line_number in 0u32..10_000,
            name in "[A-Za-zÀ-ÿ' -]{0,50}",
            locale in prop::sample::select(vec!["en", "es-MX", "pt_BR", "AR", ""]),
            consent in prop::sample::select(vec!["yes", "no", "", "1", "Sí"]),
            balance in 0i64..=MAX_BALANCE,
        ) {
            let (program, programs) = program();
            let national = format!("(415) {exchange}-{line_number:04}");
            let balance_text = balance.to_string();
            let record = row(&[&national, &name, locale, consent, &balance_text]);
            let checked = check_row(&program, &programs, &LAYOUT, &record, 2);
            let expected_phone = PhoneNumber::parse(&national, program.region);
            match expected_phone {
                Err(_) => prop_assert!(checked.unwrap_err().starts_with("phone:")),
                Ok(phone) => {
                    let checked = checked.unwrap();
                    prop_assert_eq!(checked.phone.as_str(), phone.as_str());
                    prop_assert_eq!(checked.first_name.as_deref(), Some(name.trim()).filter(|n| !n.is_empty()));
                    let language = match locale {
                        "" => "en".to_owned(),
                        other => other[..2].to_ascii_lowercase(),
                    };
                    prop_assert_eq!(checked.locale, language);
                    prop_assert_eq!(checked.consent, truthy(consent));
                    prop_assert_eq!(checked.balance, balance);
                }
            }
        }

        /// A balance that is not a whole number of points in range is refused, naming it.
        #[test]
        fn a_balance_out_of_range_is_refused(balance in prop_oneof![
            (MAX_BALANCE + 1..i64::MAX).prop_map(|b| b.to_string()),
            (i64::MIN..0).prop_map(|b| b.to_string()),
            "[0-9]{1,5}\\.[0-9]{1,3}",
            "[a-z]{1,8}",
        ]) {
            let (program, programs) = program();
            let record = row(&["+14155552671", "Ana", "en", "yes", &balance]);
            let reason = check_row(&program, &programs, &LAYOUT, &record, 2).unwrap_err();
            prop_assert!(reason.starts_with("balance:"), "{}", reason);
        }
    }

    #[test]
    fn consent_values_that_mean_yes() {
        for yes in ["yes", "Y", "TRUE", "1", "x", "opt-in", "Sí", "sim"] {
            assert!(truthy(yes), "{yes}");
        }
        for no in ["", "no", "0", "false", "n", "pending", "maybe"] {
            assert!(!truthy(no), "{no}");
        }
    }
}
