//! The Rust–Lua boundary, typed. One Rust type per script: its fields are the script's named
//! arguments (sent as one JSON object, or a MessagePack map where [`ScriptCall::ENCODING`] says
//! so, read in Lua as `A.<field>`), and its [`ScriptCall::Reply`]
//! is the script's one JSON answer, an enum tagged by `status`. Nothing is read by position, and
//! a reply that does not match its type is an error, never a silent default.
//!
//! The scripts are the functions of one Redis Functions library ([`Library`]): `lua/lib.lua`
//! (the key helpers `K`, and the effects several scripts share: issuing a code, opting out,
//! acknowledging an outbox entry, recording consent, storing a receipt), then each script's
//! files as the body of a function registered under its name. The library is loaded once per
//! Redis, so its ~950 lines of definitions are made once: as EVALSHA scripts, every call ran
//! them from the top first, about 15 µs of Redis's single thread per call before the script's
//! own work.

pub mod campaigns;
pub mod events;
pub mod inbound;
pub mod ledger;
pub mod members;
pub mod outbox;

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The shared part of the library: definitions, and `begin`, which starts every call.
pub const LIBRARY: &str = include_str!("lua/lib.lua");

/// `LIBRARY` as one script (EVAL) that runs `body` with the script's KEYS and ARGV, as a
/// function of the library runs its own: for tests of the library's parts.
pub fn script_source(body: &str) -> String {
    format!("{LIBRARY}\nbegin(KEYS, ARGV)\n{body}")
}

/// Every script: the name of its function and its files, in order, after the library.
macro_rules! functions {
    ($($name:literal: $($file:literal),+;)+) => {
        const FUNCTIONS: &[(&str, &str)] = &[
            $(($name, concat!($(include_str!(concat!("lua/", $file))),+))),+
        ];
    };
}

functions! {
    "adjust": "adjust.lua";
    "auto_run": "auto_run.lua";
    "campaign_cancel": "campaign_cancel.lua";
    "campaign_due": "campaign_due.lua";
    "campaign_get": "campaign_get.lua";
    "campaign_resume": "campaign_resume.lua";
    "campaign_save": "campaign_save.lua";
    "campaign_start": "campaign_start.lua";
    "campaign_step": "segment.lua", "campaign_step.lua";
    "click": "click.lua";
    "consent": "consent.lua";
    "defer": "defer.lua";
    "earn": "earn.lua";
    "enqueue": "enqueue.lua";
    "erase": "erase.lua";
    "finish": "finish.lua";
    "gcra": "gcra.lua";
    "hook_finish": "hook_finish.lua";
    "hook_promote": "hook_promote.lua";
    "hook_requeue": "hook_requeue.lua";
    "hooks_register": "hooks_register.lua";
    "import_batch": "import_batch.lua";
    "inbound_balance": "inbound.lua", "cmd_balance.lua";
    "inbound_birthday": "inbound.lua", "cmd_birthday.lua";
    "inbound_help": "inbound.lua", "cmd_help.lua";
    "inbound_join": "inbound.lua", "cmd_join.lua";
    "inbound_lang": "inbound.lua", "cmd_lang.lua";
    "inbound_name": "inbound.lua", "cmd_name.lua";
    "inbound_redeem": "inbound.lua", "cmd_redeem.lua";
    "inbound_refer": "inbound.lua", "cmd_refer.lua";
    "inbound_rewards": "inbound.lua", "cmd_rewards.lua";
    "inbound_start": "inbound.lua", "cmd_start.lua";
    "inbound_stop": "inbound.lua", "cmd_stop.lua";
    "inbound_unknown": "inbound.lua", "cmd_unknown.lua";
    "member": "member.lua";
    "prepare": "prepare.lua";
    "promote": "promote.lua";
    "receipt_sweep": "receipt_sweep.lua";
    "redeem": "redeem.lua";
    "requeue": "requeue.lua";
    "reverse": "reverse.lua";
    "segment_page": "segment.lua", "segment_page.lua";
    "sign_in_rate": "sign_in_rate.lua";
    "status": "status.lua";
    "void": "void.lua";
    "web_join": "web_join.lua";
}

/// The Redis Functions library of this build: `lg_<version>`, whose functions are
/// `lg_<version>_<script>`. The version is the first 16 hex digits of the SHA-256 of the Lua,
/// so processes of two builds sharing a Redis (a rolling upgrade) each call their own code,
/// and loading the same library twice is harmless.
pub struct Library {
    /// `lg_<version>`.
    pub name: String,
    /// `FUNCTION LOAD`'s argument: the `#!lua name=...` line, the library, the functions.
    pub source: String,
    functions: HashMap<&'static str, String>,
}

impl Library {
    /// This build's library, assembled once.
    pub fn get() -> &'static Library {
        static LIBRARY_OF_THIS_BUILD: LazyLock<Library> = LazyLock::new(Library::assemble);
        &LIBRARY_OF_THIS_BUILD
    }

    fn assemble() -> Library {
        let mut digest = Sha256::new();
        digest.update(LIBRARY);
        for (name, body) in FUNCTIONS {
            digest.update(name);
            digest.update(body);
        }
        let version = &hex::encode(digest.finalize())[..16];
        let name = format!("lg_{version}");
        let mut source = format!("#!lua name={name}\n{LIBRARY}\n");
        let mut functions = HashMap::new();
        for (name, body) in FUNCTIONS {
            let function = format!("lg_{version}_{name}");
            source.push_str(&format!(
                "redis.register_function('{function}', function(keys, args)\nbegin(keys, args)\n{body}\nend)\n"
            ));
            functions.insert(*name, function);
        }
        Library {
            name,
            source,
            functions,
        }
    }

    /// The name under which `script` is registered; `None` for a name `functions!` does
    /// not list (a [`ScriptCall`] naming a function that does not exist).
    pub fn function(&self, script: &str) -> Option<&str> {
        self.functions.get(script).map(String::as_str)
    }
}

/// How a call's arguments (`A` in Lua) travel to its script. lib.lua's `begin` tells them
/// apart by their first byte: `{` opens a JSON object, and never a MessagePack map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgsEncoding {
    Json,
    /// A MessagePack map with the same names: Redis's Lua decodes it (`cmsgpack.unpack`) in
    /// about 70 % of the instructions `cjson.decode` takes, which shows in the hottest call,
    /// the earn. In Lua, a JSON null is `cjson.null` and a MessagePack nil is nil: the calls
    /// sent this way leave absent values out.
    MessagePack,
}

impl ArgsEncoding {
    /// `call` in this encoding.
    pub fn encode<T: Serialize + ?Sized>(self, call: &T) -> Vec<u8> {
        match self {
            Self::Json => serde_json::to_vec(call).expect("script arguments serialise"),
            Self::MessagePack => rmp_serde::to_vec_named(call).expect("script arguments serialise"),
        }
    }
}

/// A call of one script: its arguments, as a serialisable value, and the type of its answer.
pub trait ScriptCall: Serialize {
    type Reply: DeserializeOwned;
    /// The script's name, for errors and metrics; also its function's unless
    /// [`ScriptCall::function`] says otherwise.
    const NAME: &'static str;
    /// A write the API acknowledges to its client: with `redis.min_replicas_acked`, it is
    /// confirmed by replicas before the answer.
    const ACKNOWLEDGED: bool = false;
    /// How the arguments travel.
    const ENCODING: ArgsEncoding = ArgsEncoding::Json;
    /// The library function this call runs (a name of `functions!`).
    fn function(&self) -> &'static str {
        Self::NAME
    }
    /// The program's rules (`P` in Lua), for the scripts that need them.
    fn rules(&self) -> Option<&str> {
        None
    }
}

/// Declares the `ScriptCall` of a type: its name (that of its function), its reply, whether
/// it is acknowledged and whether it carries the program's rules (its `rules` field).
macro_rules! script_call {
    ($call:ty, $name:literal, $reply:ty, acknowledged $(,)?) => {
        impl $crate::store::scripts::ScriptCall for $call {
            type Reply = $reply;
            const NAME: &'static str = $name;
            const ACKNOWLEDGED: bool = true;
            fn rules(&self) -> Option<&str> {
                Some(self.rules)
            }
        }
    };
    ($call:ty, $name:literal, $reply:ty, acknowledged_without_rules $(,)?) => {
        impl $crate::store::scripts::ScriptCall for $call {
            type Reply = $reply;
            const NAME: &'static str = $name;
            const ACKNOWLEDGED: bool = true;
        }
    };
    ($call:ty, $name:literal, $reply:ty, rules $(,)?) => {
        impl $crate::store::scripts::ScriptCall for $call {
            type Reply = $reply;
            const NAME: &'static str = $name;
            fn rules(&self) -> Option<&str> {
                Some(self.rules)
            }
        }
    };
    ($call:ty, $name:literal, $reply:ty $(,)?) => {
        impl $crate::store::scripts::ScriptCall for $call {
            type Reply = $reply;
            const NAME: &'static str = $name;
        }
    };
}
pub(crate) use script_call;

/// Lua's cjson writes an empty table as `{}`; read that as an empty list.
pub(crate) fn lua_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum LuaList<T> {
        List(Vec<T>),
        Empty(serde_json::Map<String, serde_json::Value>),
    }
    match <LuaList<T> as serde::Deserialize>::deserialize(deserializer)? {
        LuaList::List(items) => Ok(items),
        LuaList::Empty(map) if map.is_empty() => Ok(Vec::new()),
        LuaList::Empty(_) => Err(serde::de::Error::custom("expected a list")),
    }
}

#[cfg(test)]
mod tests {
    use super::{Library, FUNCTIONS};

    #[test]
    fn every_script_file_is_the_body_of_a_function_of_the_library() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/scripts/lua");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == "lib.lua" {
                continue;
            }
            let file = std::fs::read_to_string(&path).unwrap();
            assert!(
                FUNCTIONS.iter().any(|(_, body)| body.contains(&file)),
                "{} is in no function",
                path.display()
            );
        }
        let library = Library::get();
        assert!(library
            .source
            .starts_with(&format!("#!lua name={}\n", library.name)));
        assert_eq!(
            library.function("earn"),
            Some(format!("{}_earn", library.name).as_str())
        );
        assert_eq!(library.function("nothing"), None);
    }
}
