//! The API document is the API: schemathesis (PyPI), with every check it has, against the real
//! binary. It generates requests from `/openapi.json` (valid ones and ones that break the
//! schema) and fails on any response the document does not describe: an undocumented status or
//! content type, a body that breaks its schema, a 5xx, a refused valid request or an accepted
//! invalid one (see `tests/schemathesis.toml`), a missing `Allow` on 405, ignored auth.

use std::process::Command;

use base64::Engine;

use crate::binary::write_config;
use crate::helpers::*;
use crate::shutdown::Serve;

/// Long enough for every phase to reach every operation; short enough for CI.
const MAX_SECONDS: &str = "60";
/// A fixed seed: the same requests on every run, so a red run can be replayed.
const SEED: &str = "20261123";

#[test]
fn schemathesis_finds_no_response_that_the_api_document_does_not_describe() {
    let schemathesis = which("schemathesis").unwrap_or_else(|| {
        panic!(
            "schemathesis is not installed: pip install schemathesis \
             (the API-conformance test runs it against the binary)"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let telnyx_key = base64::engine::general_purpose::STANDARD.encode(
        ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
            .verifying_key()
            .to_bytes(),
    );
    // Both webhooks live, so that their signature checks are what answers.
    let toml = config_toml(&redis_url(), &unique_prefix(), "http://127.0.0.1:1")
        .replace("provider = \"twilio\"", "provider = \"console\"")
        .replace(
            "[sms.twilio]",
            &format!("[sms.telnyx]\npublic_key = \"{telnyx_key}\"\n\n[sms.twilio]"),
        );
    let config = write_config(dir.path(), &toml);
    let serve = Serve::start(&config, dir.path().join("serve.log"));
    let address = serve.address();
    let output = Command::new(schemathesis)
        .arg("--config-file")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/schemathesis.toml"
        ))
        .arg("run")
        .arg(format!("{address}/openapi.json"))
        // One worker: hypothesis parses lambda sources with `ast`, which on CPython 3.11 can
        // fail with "AST constructor recursion depth mismatch" when two threads do it at once.
        .args(["--checks", "all", "--workers", "1", "--no-color"])
        .args(["--max-time", MAX_SECONDS, "--seed", SEED])
        .args(["--generation-database", "none"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {ADMIN_KEY}"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}\n--- gateway log ---\n{}",
        String::from_utf8_lossy(&output.stderr),
        serve.logs()
    );
    assert!(report.contains("Tested: "), "{report}");
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}
