//! The store layer: the key layout has one definition in Rust (`store::keys`) and one in Lua
//! (`K` in lib.lua); they must build the same keys, or a script would write where Rust never
//! reads.

use loyalty_gateway::domain::ProgramId;
use loyalty_gateway::store::scripts::LIBRARY;
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
        keys.location_stats(location),
        keys.daily_stats("2026-12-03"),
        keys.location_daily_stats(location, "2026-12-03"),
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
    let lua = format!(
        "{LIBRARY}\nreturn {{ K.member(A.phone), K.ledger(A.phone), K.codes(A.phone), \
         K.locations(A.phone), K.consent(A.phone), K.messages(A.phone), \
         K.replies(A.phone, 493123), K.inbound_rate(A.phone), K.members(), K.earn_receipt(A.location, A.receipt), \
         K.receipt_index(), K.receipt_bucket(17), \
         K.redeem_receipt(A.location, A.receipt), K.code(A.code), K.outbox(), K.delayed(), \
         K.dead(), K.message(A.id), K.final_messages('m4217'), K.sid('SM1'), K.inbound('SM2'), K.rate(A.phone), K.seq(), \
         K.stats(), K.location_stats(A.location), K.daily_stats('2026-12-03'), \
         K.location_daily_stats(A.location, '2026-12-03'), K.marketing(A.phone), K.lots(A.phone), K.campaigns(), \
         K.active_campaigns(), K.scheduled_campaigns(), K.campaign('c7'), K.audience('c7'), K.recipients('c7'), \
         K.held('c7'), \
         K.clickers('c7'), K.link('AbC12xyZ'), K.adjust_receipt('k-1'), K.suppressed(), \
         K.erased_consent('x0f'), K.referral('ANA7'), K.auto_due(), K.hooks(), K.hook_queue('crm'), K.hook_delayed('crm'), \
         K.hook_dead('crm') }}"
    );
    let args = serde_json::json!({
        "phone": phone, "location": location, "receipt": receipt, "code": code, "id": id
    });
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let from_lua: Vec<String> = redis::Script::new(&lua)
        .key(keys.base())
        .arg(0)
        .arg("1970-01-01T00:00:00Z")
        .arg(args.to_string())
        .invoke_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(from_lua, rust);
    let table = include_str!("../../src/store/keys.rs")
        .lines()
        .filter(|l| l.starts_with("//! | `"))
        .count();
    assert_eq!(rust.len(), table, "every row of the layout table");
}
