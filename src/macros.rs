//! Crate-internal macros.

/// A Redis script made of the shared `ledger/scripts/lib.lua` (key layout, outbox, helpers)
/// followed by the given files (paths relative to `src/`), loaded once.
macro_rules! lua_script {
    ($($file:literal),+ $(,)?) => {
        std::sync::LazyLock::new(|| {
            redis::Script::new(concat!(
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/ledger/scripts/lib.lua")),
                $(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/", $file))),+
            ))
        })
    };
}
