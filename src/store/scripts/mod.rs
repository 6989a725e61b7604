//! The Rust–Lua boundary, typed. One Rust type per script: its fields are the script's named
//! arguments (sent as one JSON object, read in Lua as `A.<field>`), and its [`ScriptCall::Reply`]
//! is the script's one JSON answer, an enum tagged by `status`. Nothing is read by position, and
//! a reply that does not match its type is an error, never a silent default.
//!
//! Every script is `lua/lib.lua` (the key helpers `K`, and the effects several scripts share:
//! issuing a code, opting out, acknowledging an outbox entry, recording consent, storing a
//! receipt) followed by the script's own file.

pub mod campaigns;
pub mod events;
pub mod inbound;
pub mod ledger;
pub mod members;
pub mod outbox;

use redis::Script;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The Lua library every script starts with.
pub const LIBRARY: &str = include_str!("lua/lib.lua");

/// A call of one script: its arguments, as a serialisable value, and the type of its answer.
pub trait ScriptCall: Serialize {
    type Reply: DeserializeOwned;
    /// The script's file name without `.lua`, for errors.
    const NAME: &'static str;
    /// A write the API acknowledges to its client: with `redis.min_replicas_acked`, it is
    /// confirmed by replicas before the answer.
    const ACKNOWLEDGED: bool = false;
    fn script(&self) -> &'static Script;
    /// The program's rules (`P` in Lua), for the scripts that need them.
    fn rules(&self) -> Option<&str> {
        None
    }
}

/// A script made of the library and the given files of `lua/`, loaded once.
macro_rules! script {
    ($($file:literal),+ $(,)?) => {{
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(concat!(
                include_str!("lua/lib.lua"),
                $(include_str!(concat!("lua/", $file))),+
            ))
        });
        &SCRIPT
    }};
}
pub(crate) use script;

/// Declares the `ScriptCall` of a type: its name, its reply, whether it carries the program's
/// rules (its `rules` field), and its script files.
macro_rules! script_call {
    ($call:ty, $name:literal, $reply:ty, acknowledged, $($file:literal),+ $(,)?) => {
        impl $crate::store::scripts::ScriptCall for $call {
            type Reply = $reply;
            const NAME: &'static str = $name;
            const ACKNOWLEDGED: bool = true;
            fn script(&self) -> &'static redis::Script {
                $crate::store::scripts::script!($($file),+)
            }
            fn rules(&self) -> Option<&str> {
                Some(self.rules)
            }
        }
    };
    ($call:ty, $name:literal, $reply:ty, acknowledged_without_rules, $($file:literal),+ $(,)?) => {
        impl $crate::store::scripts::ScriptCall for $call {
            type Reply = $reply;
            const NAME: &'static str = $name;
            const ACKNOWLEDGED: bool = true;
            fn script(&self) -> &'static redis::Script {
                $crate::store::scripts::script!($($file),+)
            }
        }
    };
    ($call:ty, $name:literal, $reply:ty, rules, $($file:literal),+ $(,)?) => {
        impl $crate::store::scripts::ScriptCall for $call {
            type Reply = $reply;
            const NAME: &'static str = $name;
            fn script(&self) -> &'static redis::Script {
                $crate::store::scripts::script!($($file),+)
            }
            fn rules(&self) -> Option<&str> {
                Some(self.rules)
            }
        }
    };
    ($call:ty, $name:literal, $reply:ty, $($file:literal),+ $(,)?) => {
        impl $crate::store::scripts::ScriptCall for $call {
            type Reply = $reply;
            const NAME: &'static str = $name;
            fn script(&self) -> &'static redis::Script {
                $crate::store::scripts::script!($($file),+)
            }
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
