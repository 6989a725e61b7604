//! The store layer: the key layout has one definition in Rust (`store::keys`) and one in Lua
//! (`K` in lib.lua); they must build the same keys, or a script would write where Rust never
//! reads.

use loyalty_gateway::domain::ProgramId;
use loyalty_gateway::embedded::RedisServer;
use loyalty_gateway::store::scripts::ledger::receipt_hash;
use loyalty_gateway::store::scripts::{script_source, Library};
use loyalty_gateway::store::ProgramKeys;

use crate::helpers::*;

#[tokio::test]
async fn lua_and_rust_build_every_key_of_the_layout_alike() {
    let keys = ProgramKeys::new("lg", &ProgramId::parse("bloom").unwrap());
    let (phone, location, receipt, code, id) =
        ("+14155552671", "store-12", "R 1/2", "7KQMX4TZ", "m42");
    let rust = vec![
        keys.member(phone),
        keys.ledger(phone),
        keys.codes(phone),
        keys.locations(phone),
        keys.consent(phone),
        keys.messages(phone),
        keys.replies(phone, 493_123),
        keys.inbound_rate(phone),
        keys.members(),
        keys.earn_receipt(location, receipt),
        keys.receipt_index(),
        keys.receipt_bucket(17),
        keys.join_rate("ip:127.0.0.1"),
        keys.session("ab12"),
        keys.sign_in_rate("127.0.0.1"),
        keys.redeem_receipt(location, receipt),
        keys.code(code),
        keys.outbox(),
        keys.delayed(),
        keys.dead(),
        keys.message(id),
        keys.final_messages("m4217").unwrap(),
        keys.sid("SM1"),
        keys.inbound("SM2"),
        keys.rate(phone),
        keys.seq(),
        keys.stats(),
        keys.daily_stats("2026-12-03"),
        keys.marketing(phone),
        keys.lots(phone),
        keys.campaigns(),
        keys.active_campaigns(),
        keys.scheduled_campaigns(),
        keys.campaign("c7"),
        keys.audience("c7"),
        keys.recipients("c7"),
        keys.held("c7"),
        keys.clickers("c7"),
        keys.link("AbC12xyZ"),
        keys.adjust_receipt("k-1"),
        keys.suppressed(),
        keys.erased_consent("x0f"),
        keys.referral("ANA7"),
        keys.auto_due(),
        keys.hooks(),
        keys.hook_queue("crm"),
        keys.hook_delayed("crm"),
        keys.hook_dead("crm"),
    ];
    let lua = "return { K.member(A.phone), K.ledger(A.phone), K.codes(A.phone), \
         K.locations(A.phone), K.consent(A.phone), K.messages(A.phone), \
         K.replies(A.phone, 493123), K.inbound_rate(A.phone), K.members(), K.earn_receipt(A.location, A.receipt), \
         K.receipt_index(), K.receipt_bucket(17), K.join_rate('ip:127.0.0.1'), K.session('ab12'), \
         K.sign_in_rate('127.0.0.1'), \
         K.redeem_receipt(A.location, A.receipt), K.code(A.code), K.outbox(), K.delayed(), \
         K.dead(), K.message(A.id), K.final_messages('m4217'), K.sid('SM1'), K.inbound('SM2'), K.rate(A.phone), K.seq(), \
         K.stats(), K.daily_stats('2026-12-03'), K.marketing(A.phone), K.lots(A.phone), K.campaigns(), \
         K.active_campaigns(), K.scheduled_campaigns(), K.campaign('c7'), K.audience('c7'), K.recipients('c7'), \
         K.held('c7'), \
         K.clickers('c7'), K.link('AbC12xyZ'), K.adjust_receipt('k-1'), K.suppressed(), \
         K.erased_consent('x0f'), K.referral('ANA7'), K.auto_due(), K.hooks(), K.hook_queue('crm'), K.hook_delayed('crm'), \
         K.hook_dead('crm') }";
    let args = serde_json::json!({
        "phone": phone, "location": location, "receipt": receipt, "code": code, "id": id
    });
    let from_lua: Vec<String> = run_lua_as(&keys, lua, args, 0, None).await;
    assert_eq!(from_lua, rust);
    let table = include_str!("../../src/store/keys.rs")
        .lines()
        .filter(|l| l.starts_with("//! | `"))
        .count();
    // Keys the scripts no longer write, which Rust still reads.
    let legacy = [
        keys.legacy_location_stats(location),
        keys.legacy_location_daily_stats(location, "2026-12-03"),
    ];
    assert_eq!(
        rust.len() + legacy.len(),
        table,
        "every row of the layout table"
    );
}

/// Runs `body` after the library, for program `bloom` under the prefix `lg`, with `args` as A,
/// at `now_ms`.
async fn run_lua<T: redis::FromRedisValue>(body: &str, args: serde_json::Value, now_ms: i64) -> T {
    let keys = ProgramKeys::new("lg", &ProgramId::parse("bloom").unwrap());
    run_lua_as(&keys, body, args, now_ms, None).await
}

/// Runs `body` after the library, as a call for `keys`' program, with `args` as A, at `now_ms`,
/// and `rules` as P when given.
async fn run_lua_as<T: redis::FromRedisValue>(
    keys: &ProgramKeys,
    body: &str,
    args: serde_json::Value,
    now_ms: i64,
    rules: Option<&str>,
) -> T {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let script = redis::Script::new(&script_source(body));
    let mut invocation = script.key(keys.base());
    invocation
        .arg(now_ms)
        .arg(loyalty_gateway::clock::rfc3339_from_ms(now_ms))
        .arg(args.to_string());
    if let Some(rules) = rules {
        invocation.arg(rules);
    }
    invocation.invoke_async(&mut conn).await.unwrap()
}

/// The scripts write consent times and member times with `Compact.iso`; chrono, which writes
/// every other time, is the reference. Leap days, year ends and 2,000 spread instants.
#[tokio::test]
async fn lua_writes_millisecond_times_exactly_as_chrono_does() {
    let mut instants: Vec<i64> = vec![
        0,
        951_782_400_000,     // 2000-02-29
        951_868_799_999,     // its last millisecond
        1_709_164_800_000,   // 2024-02-29
        1_735_689_599_999,   // 2024-12-31T23:59:59.999
        4_102_444_800_000,   // 2100-01-01
        253_402_300_799_999, // 9999-12-31T23:59:59.999
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2_000 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        instants.push(((x >> 11) % 4_102_444_800_000) as i64);
    }
    let from_lua: Vec<String> = run_lua(
        "local out = {} for i, ms in ipairs(A.ms) do out[i] = Compact.iso(ms) end return out",
        serde_json::json!({ "ms": instants }),
        0,
    )
    .await;
    let from_chrono: Vec<String> = instants
        .iter()
        .map(|&ms| loyalty_gateway::clock::rfc3339_from_ms(ms))
        .collect();
    assert_eq!(from_lua, from_chrono);
}

/// An earn sends its receipt's bucket hash, worked out in Rust (`receipt_hash`); lib.lua's
/// `Receipts.hash`, which places every receipt and splits the buckets, is the reference.
/// 2,000 generated locations and receipts of printable ASCII, and a few by hand.
#[tokio::test]
async fn the_receipt_hash_an_earn_sends_is_the_one_lua_works_out() {
    const SLUG: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    let mut pairs: Vec<(String, String)> = [("store-12", "R-1001"), ("a", " "), ("x", "\"")]
        .iter()
        .map(|(l, r)| ((*l).to_owned(), (*r).to_owned()))
        .collect();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |n: u64| {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (x >> 33) % n
    };
    for _ in 0..2_000 {
        let location: String = (0..1 + next(64))
            .map(|_| SLUG[next(SLUG.len() as u64) as usize] as char)
            .collect();
        let receipt: String = (0..1 + next(80))
            .map(|_| (b' ' + next(95) as u8) as char)
            .collect();
        pairs.push((location, receipt));
    }
    let fields: Vec<String> = pairs.iter().map(|(l, r)| format!("{l}:{r}")).collect();
    let from_lua: Vec<u32> = run_lua(
        "local out = {} for i, f in ipairs(A.fields) do out[i] = Receipts.hash(f) end return out",
        serde_json::json!({ "fields": fields }),
        0,
    )
    .await;
    let from_rust: Vec<u32> = pairs.iter().map(|(l, r)| receipt_hash(l, r)).collect();
    assert_eq!(from_lua, from_rust);
}

/// A history entry with every field the scripts write, packed by lib.lua and read back by
/// `ledger::history`, inline and archived, as the JSON entry it replaces.
#[tokio::test]
async fn a_packed_history_entry_reads_back_as_the_json_it_replaced() {
    let entry = serde_json::json!({
        "type": "earn", "points": -12, "balance": 1_000_000_007_i64, "amount": 125_000,
        "location": "store-12", "receipt": "R 1/2", "tender": "store_card", "reward": "r25",
        "code": "7KQMX4TZ", "reason": "goodwill", "bonus_multiplier": 1.5, "by": "ops",
        "refund_id": "F1", "message_id": "m42", "lot": "e7"
    });
    let now_ms = 1_796_330_000_243;
    let (inline, archived): (Vec<u8>, Vec<u8>) = run_lua(
        "local packed = Compact.pack(A.entry, Compact.HISTORY) \
         local a = cmsgpack.unpack(packed) table.insert(a, 1, 8001) \
         return { packed, cmsgpack.pack(a) }",
        serde_json::json!({ "entry": entry }),
        now_ms,
    )
    .await;
    let mut expected = entry.as_object().unwrap().clone();
    expected.insert("id".into(), "e8001".into());
    expected.insert(
        "at".into(),
        loyalty_gateway::clock::rfc3339_from_ms(now_ms).into(),
    );
    let member = [("8001".to_owned(), inline)].into();
    let read = loyalty_gateway::ledger::history::entries(&member, &[]);
    assert_eq!(read[0].as_ref().unwrap(), &expected);
    let read = loyalty_gateway::ledger::history::entries(&Default::default(), &[archived]);
    assert_eq!(read[0].as_ref().unwrap(), &expected);
}

/// An earn packs its history entry without the generic packer (`Compact.pack_earn`); the
/// generic one, which every other entry goes through and `ledger::history` reads back, is the
/// reference. Every combination of the optional fields, and figures of every width.
#[tokio::test]
async fn an_earn_packs_its_history_entry_to_the_bytes_the_generic_packer_makes() {
    let mut entries = Vec::new();
    for (i, (points, balance, amount)) in [
        (12_i64, 12_i64, 1250_i64),
        (0, 0, 0),
        (-3, 1_000_000_007, 4_294_967_296),
        (127, 65_536, 9_007_199_254_740_991),
    ]
    .into_iter()
    .enumerate()
    {
        for optional in 0..8 {
            let mut entry = serde_json::json!({ "type": "earn", "points": points,
                "balance": balance, "amount": amount, "location": format!("store-{i}"),
                "receipt": format!("R-{optional}") });
            if optional & 1 != 0 {
                entry["tender"] = "store_card".into();
            }
            if optional & 2 != 0 {
                entry["bonus_multiplier"] = 1.5.into();
            }
            if optional & 4 != 0 {
                entry["message_id"] = format!("m{i}{optional}").into();
            }
            entries.push(entry);
        }
    }
    let packed: Vec<(Vec<u8>, Vec<u8>)> = run_lua(
        "local out = {} for i, e in ipairs(A.entries) do            out[i] = { Compact.pack(e, Compact.HISTORY), Compact.pack_earn(e.points, e.balance,              e.amount, e.location, e.receipt, e.tender, e.bonus_multiplier, e.message_id) }          end return out",
        serde_json::json!({ "entries": entries }),
        1_796_330_000_243,
    )
    .await;
    assert_eq!(packed.len(), 32);
    for ((generic, earn), entry) in packed.iter().zip(&entries) {
        assert_eq!(generic, earn, "{entry}");
    }
}

/// A spill moves a history entry to the list as the array with its entry number in front,
/// made from the entry's bytes (`Compact.archived`) rather than by unpacking and packing it:
/// cmsgpack's own packing of the longer array is the reference. Arrays on both sides of the
/// one-byte header's limit (15 elements), and entry numbers of every width.
#[tokio::test]
async fn a_spilled_entry_is_the_bytes_cmsgpack_packs_for_the_array_with_its_number_in_front() {
    let numbers: [u64; 9] = [
        1,
        127,
        128,
        65_535,
        65_536,
        4_294_967_295,
        4_294_967_296,
        123_456_789_012,
        9_007_199_254_740_991,
    ];
    let compared: Vec<(usize, u64, Vec<u8>, Vec<u8>)> = run_lua(
        "local out = {} for width = 1, 20 do local a = {} for i = 1, width do            a[i] = (i % 3 == 0) and ('s' .. i) or (i * 977 - 300) end            local packed = cmsgpack.pack(a) for _, n in ipairs(A.numbers) do              local longer = cmsgpack.unpack(packed) table.insert(longer, 1, n)              out[#out + 1] = { width, n, cmsgpack.pack(longer), Compact.archived(n, packed) }            end end return out",
        serde_json::json!({ "numbers": numbers }),
        1_796_330_000_243,
    )
    .await;
    assert_eq!(compared.len(), 20 * numbers.len());
    for (width, n, reference, archived) in &compared {
        assert_eq!(reference, archived, "{width} elements, entry {n}");
    }
}

/// An app on a `redis-server` of its own (in `dir`), for tests that flush the scripts' library
/// or read Redis's command statistics, which other tests' apps would disturb; with a connection
/// to that Redis.
async fn app_on_a_redis_of_its_own(
    dir: &std::path::Path,
) -> (RedisServer, TestApp, redis::aio::MultiplexedConnection) {
    let redis = RedisServer::start(dir, false).unwrap();
    let app = spawn_app_on(&redis.url(), |_| {}).await;
    let conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    (redis, app, conn)
}

/// The scripts are one Redis Functions library, loaded by the first call that finds it
/// missing: a Redis that lost it (restarted without its data, a node new to a cluster) gets it
/// back at the next call, without a restart of the gateway and without an error.
#[tokio::test]
async fn a_redis_without_the_scripts_library_gets_it_back_at_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, app, mut conn) = app_on_a_redis_of_its_own(dir.path()).await;
    let name = &Library::get().name;
    app.earn_ok("+14155552671", 1250, "R-1").await;
    let libraries = |pattern: &str| {
        redis::cmd("FUNCTION")
            .arg("LIST")
            .arg("LIBRARYNAME")
            .arg(pattern)
            .clone()
    };
    let listed: Vec<redis::Value> = libraries(name).query_async(&mut conn).await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the library is loaded under its versioned name"
    );

    let _: () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let listed: Vec<redis::Value> = libraries("lg_").query_async(&mut conn).await.unwrap();
    assert!(listed.is_empty());

    app.earn_ok("+14155552671", 1250, "R-2").await;
    assert_eq!(app.member_json("+14155552671").await["balance"], 24);
    let listed: Vec<redis::Value> = libraries(name).query_async(&mut conn).await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the call that found it missing loaded it again"
    );
}

/// Every call in flight finds the library missing at the same moment; the process loads it
/// once, and the others wait for that load rather than each compiling the library again on
/// Redis's one thread.
#[tokio::test]
async fn calls_that_find_the_library_missing_together_load_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, app, mut conn) = app_on_a_redis_of_its_own(dir.path()).await;
    app.earn_ok("+14155552671", 1250, "R-0").await;
    let _: () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();

    // Straight to the ledger, so that all 32 calls are sent before the first answer is read.
    let program = app.state.programs.iter().next().unwrap().clone();
    let earns = (1..=32).map(|i| {
        let cmd = loyalty_gateway::ledger::EarnCommand {
            phone: loyalty_gateway::domain::PhoneNumber::parse_e164(&format!("+141555527{i:02}"))
                .unwrap(),
            amount: loyalty_gateway::domain::Amount::parse(1250).unwrap(),
            location: loyalty_gateway::domain::LocationId::parse("store-12").unwrap(),
            receipt: loyalty_gateway::domain::Receipt::parse(&format!("R-{i}")).unwrap(),
            tender: None,
            first_name: None,
        };
        let (ledger, program) = (app.state.ledger.clone(), program.clone());
        async move { ledger.earn(&program, &cmd).await }
    });
    for earned in futures_util::future::join_all(earns).await {
        assert!(earned.is_ok(), "{earned:?}");
    }
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let loads = stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_function|load:calls="))
        .and_then(|l| l.split(',').next()?.parse::<u64>().ok());
    assert_eq!(loads, Some(1), "{stats}");
}

/// The library's definitions live as long as the library; what a call works out (the receipt
/// table's shape, the webhook endpoints, the erasure key) must not, and the rules decoded once
/// per text are those of the call's own text. Two calls, one for a program that has all three
/// and one for a program that has none, run back to back in one script.
#[tokio::test]
async fn a_call_sees_nothing_the_call_before_it_worked_out() {
    let unique = format!("lg-calls-{}", rand::random::<u32>());
    let id = |name: &str| ProgramId::parse(name).unwrap();
    let (first, second) = (
        ProgramKeys::new(&unique, &id("bloom")),
        ProgramKeys::new(&unique, &id("other")),
    );
    let body = "
      redis.call('HSET', K.receipt_index(), 'level', 3, 'split', 1)
      redis.call('HSET', K.hooks(), 'crm', cjson.encode({ phone = false }))
      redis.call('HSET', K.seq(), 'erasure_key', 'k1')
      local function seen()
        local _, level = Receipts.bucket('store-12:R-1')
        return level .. ' ' .. #endpoints() .. ' ' .. (pseudonym('+14155552671') or 'none')
      end
      local first = seen() .. ' ' .. P.tiers[1].name
      begin({ A.second }, { tostring(NOW_MS), NOW, cjson.encode(A), A.rules })
      return { first, seen() .. ' ' .. P.tiers[1].name, B }";
    let rules = |tier: &str| serde_json::json!({ "tiers": [{ "name": tier, "min": 0 }] });
    let args = serde_json::json!({ "second": second.base(), "rules": rules("silver").to_string() });
    let seen: Vec<String> = run_lua_as(
        &first,
        body,
        args,
        0,
        Some(rules("gold").to_string().as_str()),
    )
    .await;
    let pseudonym = seen[0][4..].trim_end_matches(" gold");
    assert!(
        seen[0].starts_with("3 1 x") && seen[0].ends_with(" gold") && pseudonym.len() == 41,
        "{seen:?}"
    );
    assert_eq!(seen[1..], ["0 0 none silver", second.base()]);
}

/// Each HTTP worker reaches Redis over a connection of its own, made on its thread
/// (`AppState::on_own_connection`): the same Redis, another client, and the same services on it.
#[tokio::test]
async fn a_workers_own_connection_is_another_client_of_the_same_redis() {
    let app = spawn_app().await;
    let shared = &app.state.store;
    let own = app.state.on_own_connection();
    let id = redis::cmd("CLIENT").arg("ID").clone();
    let (shared_id, own_id): (i64, i64) = (
        shared.command(&id).await.unwrap(),
        own.store.command(&id).await.unwrap(),
    );
    assert_ne!(shared_id, own_id);

    let key = format!("{}:own-connection", app.prefix);
    let _: () = shared
        .command(redis::cmd("SET").arg(&key).arg("seen"))
        .await
        .unwrap();
    let read: String = own
        .store
        .command(redis::cmd("GET").arg(&key))
        .await
        .unwrap();
    assert_eq!(read, "seen");
    // The ledger answers on it: an earn over HTTP, read back through the own connection.
    app.earn_ok("+14155552671", 1250, "R-1").await;
    let program = app
        .state
        .program(&ProgramId::parse("bloom").unwrap())
        .unwrap();
    let member = own
        .ledger
        .member(
            &program,
            &loyalty_gateway::domain::PhoneNumber::parse_e164("+14155552671").unwrap(),
        )
        .await
        .unwrap()
        .expect("the member the earn made");
    assert_eq!(member.balance, 12);
}
