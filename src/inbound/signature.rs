//! Webhook signatures: the only authentication a provider's webhook has.
//!
//! **Twilio** (`X-Twilio-Signature`): HMAC-SHA1, keyed with the auth token, over the full URL
//! followed by every POST parameter name and value, names in code-point order and each name's
//! distinct values in order; base64. Twilio's own helper libraries disagree on URL details, so
//! a signature is accepted when it matches any form they accept: the URL as given, with its port
//! removed, with the default port added, each both as written and as a WHATWG URL serialiser
//! writes it (twilio-node escapes `'` in the query). Comparisons are constant-time.
//!
//! **Telnyx** (`telnyx-signature-ed25519`, `telnyx-timestamp`): Ed25519 over
//! `"{timestamp}|{raw body}"` with the portal's public key; timestamps more than five minutes
//! from now, in either direction, are refused (replays).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// How far a Telnyx timestamp may be from now.
pub const TELNYX_TOLERANCE_SECS: i64 = 300;

/// The signature Twilio sends for `url` and `params`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut data = url.to_owned();
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort_unstable();
        values.dedup();
        for value in values {
            data.push_str(name);
            data.push_str(value);
        }
    }
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts any key length");
    mac.update(data.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The URL forms the helper libraries accept for a request to `url`.
fn url_candidates(url: &str) -> Vec<String> {
    let mut candidates = vec![url.to_owned()];
    if let Some((without, with_default)) = port_variants(url) {
        candidates.push(without);
        candidates.push(with_default);
    }
    if let Ok(parsed) = reqwest::Url::parse(url) {
        let normalised = parsed.to_string();
        if let Some((without, with_default)) = port_variants(&normalised) {
            candidates.push(without);
            candidates.push(with_default);
        }
        candidates.push(normalised);
    }
    candidates.sort();
    candidates.dedup();
    candidates
}

/// `url` without its port, and with the scheme's default port, by editing the authority only.
fn port_variants(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    // An IPv6 literal keeps its colons inside the brackets.
    let host = match hostport.rfind(':') {
        Some(i) if !hostport[i..].contains(']') => &hostport[..i],
        _ => hostport,
    };
    Some((
        format!("{scheme}://{userinfo}{host}{tail}"),
        format!("{scheme}://{userinfo}{host}:{default_port}{tail}"),
    ))
}

/// True when `signature` is Twilio's for this request, under any accepted URL form.
pub fn verify_twilio(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let presented = signature.trim().as_bytes();
    let mut valid = false;
    for candidate in url_candidates(url) {
        let expected = twilio_signature(auth_token, &candidate, params);
        // Evaluate every candidate: no early exit that could time the match.
        valid |= bool::from(expected.as_bytes().ct_eq(presented));
    }
    valid
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TelnyxSignatureError {
    #[error("the telnyx-signature-ed25519 or telnyx-timestamp header is missing")]
    Missing,
    #[error("the signature is not valid")]
    Invalid,
    #[error("the timestamp is more than {TELNYX_TOLERANCE_SECS} s from now")]
    Stale,
}

/// The portal's base64 public key, parsed once at start-up.
pub fn telnyx_public_key(base64_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = BASE64.decode(base64_key.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

pub fn verify_telnyx(
    key: &VerifyingKey,
    signature_b64: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), TelnyxSignatureError> {
    let (Some(signature_b64), Some(timestamp)) = (signature_b64, timestamp) else {
        return Err(TelnyxSignatureError::Missing);
    };
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| TelnyxSignatureError::Invalid)?;
    let bytes: [u8; 64] = BASE64
        .decode(signature_b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(TelnyxSignatureError::Invalid)?;
    let signature = Signature::from_bytes(&bytes);
    let mut signed = Vec::with_capacity(timestamp.len() + 1 + body.len());
    signed.extend_from_slice(timestamp.trim().as_bytes());
    signed.push(b'|');
    signed.extend_from_slice(body);
    key.verify(&signed, &signature)
        .map_err(|_| TelnyxSignatureError::Invalid)?;
    if (now_unix - ts).abs() > TELNYX_TOLERANCE_SECS {
        return Err(TelnyxSignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The published test vectors of Twilio's helper libraries (twilio-python
    //! `tests/unit/test_request_validator.py`, twilio-node `spec/unit/webhooks`).
    use super::*;

    const TOKEN: &str = "12345";
    const URI: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn form() -> impl Strategy<Value = Vec<(String, String)>> {
            prop::collection::vec(("[A-Za-z]{1,12}", "\\PC{0,40}"), 0..12)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1_000))]

            /// The signature of a form checks out whatever its order, and no longer does once
            /// a value, the URL or the token changes.
            #[test]
            fn a_signature_holds_for_its_form_only(
                token in "[a-f0-9]{32}",
                path in "[a-z/]{0,20}",
                mut params in form(),
                extra in "\\PC{1,20}",
            ) {
                let url = format!("https://gateway.example/{path}");
                let signature = twilio_signature(&token, &url, &params);
                prop_assert!(verify_twilio(&token, &url, &params, &signature));
                params.reverse();
                prop_assert!(verify_twilio(&token, &url, &params, &signature));
                let other_url = format!("{url}x");
                let other_token = format!("{token}0");
                prop_assert!(!verify_twilio(&token, &other_url, &params, &signature));
                prop_assert!(!verify_twilio(&other_token, &url, &params, &signature));
                let mut changed = params.clone();
                // A name the generated form cannot hold (no underscore there).
                changed.push(("Extra_1".into(), extra));
                prop_assert!(!verify_twilio(&token, &url, &changed, &signature));
            }

            /// A port the URL names or leaves out (Twilio signs either) is accepted both ways.
            #[test]
            fn the_default_port_may_be_named_or_not(params in form()) {
                let signature = twilio_signature("t", "https://gw.example:443/webhooks/twilio", &params);
                prop_assert!(verify_twilio("t", "https://gw.example/webhooks/twilio", &params, &signature));
            }
        }
    }

    #[test]
    fn computes_the_published_signature() {
        assert_eq!(
            twilio_signature(TOKEN, URI, &params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(verify_twilio(
            TOKEN,
            URI,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn repeated_keys_append_each_value_in_sorted_order() {
        let params = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            twilio_signature(TOKEN, URI, &params),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn a_port_on_https_is_removed() {
        let uri = URI.replace(".com", ".com:1234");
        assert!(verify_twilio(
            TOKEN,
            &uri,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn a_port_on_http_is_kept_when_signed_with_it() {
        let uri = URI.replace(".com", ".com:1234").replace("https", "http");
        assert!(verify_twilio(
            TOKEN,
            &uri,
            &params(),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        ));
    }

    #[test]
    fn the_default_port_is_added_on_https_and_http() {
        assert!(verify_twilio(
            TOKEN,
            URI,
            &params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        let http = URI.replace("https", "http");
        assert!(verify_twilio(
            TOKEN,
            &http,
            &params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
    }

    #[test]
    fn a_different_query_string_does_not_validate() {
        let token = "s3cr3t";
        let signature = twilio_signature(token, "https://example.com/path?test=param", &[]);
        assert!(!verify_twilio(
            token,
            "https://example.com/path?test=param2",
            &[],
            &signature
        ));
    }

    #[test]
    fn with_or_without_the_default_port_either_way() {
        let token = "s3cr3t";
        for (server, target) in [
            (
                "https://example.com:443/path?test=param",
                "https://example.com:443/path?test=param",
            ),
            (
                "https://example.com:443/path?test=param",
                "https://example.com/path?test=param",
            ),
            (
                "https://example.com/path?test=param",
                "https://example.com/path?test=param",
            ),
            (
                "https://example.com/path?test=param",
                "https://example.com:443/path?test=param",
            ),
        ] {
            let signature = twilio_signature(token, server, &[]);
            assert!(
                verify_twilio(token, target, &[], &signature),
                "{server} -> {target}"
            );
        }
    }

    #[test]
    fn single_quotes_in_the_query_match_escaped_or_not() {
        let token = "s3cr3t";
        let quote = "https://example.com/path?test=param'WithQuote";
        let escaped = "https://example.com/path?test=param%27WithQuote";
        // twilio-node normalises the signing URL too, so its signatures are over the escaped form.
        let node_signature = twilio_signature(token, escaped, &[]);
        for target in [quote, escaped] {
            assert!(
                verify_twilio(token, target, &[], &node_signature),
                "{target}"
            );
        }
        let raw_signature = twilio_signature(token, quote, &[]);
        assert!(verify_twilio(token, quote, &[], &raw_signature));
    }

    #[test]
    fn names_sort_by_code_point_and_empty_values_still_count() {
        let a = twilio_signature(
            TOKEN,
            URI,
            &pairs(&[("ReasonConferenceEnded", "x"), ("Reason", "y")]),
        );
        let b = twilio_signature(
            TOKEN,
            URI,
            &pairs(&[("Reason", "y"), ("ReasonConferenceEnded", "x")]),
        );
        assert_eq!(a, b);
        let with_empty = twilio_signature(TOKEN, URI, &pairs(&[("Body", "")]));
        assert_ne!(with_empty, twilio_signature(TOKEN, URI, &[]));
    }

    #[test]
    fn a_wrong_token_or_tampered_parameter_fails() {
        let signature = twilio_signature(TOKEN, URI, &params());
        assert!(!verify_twilio("54321", URI, &params(), &signature));
        let mut tampered = params();
        tampered[1].1 = "9999".into();
        assert!(!verify_twilio(TOKEN, URI, &tampered, &signature));
        assert!(!verify_twilio(TOKEN, URI, &params(), ""));
    }

    #[test]
    fn telnyx_signatures_verify_within_the_tolerance_only() {
        use ed25519_dalek::{Signer, SigningKey};
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let public = BASE64.encode(signing.verifying_key().to_bytes());
        let key = telnyx_public_key(&public).unwrap();
        let body = br#"{"data":{"event_type":"message.received"}}"#;
        let ts = 1_700_000_000i64;
        let signed = [ts.to_string().as_bytes(), b"|", body].concat();
        let sig = BASE64.encode(signing.sign(&signed).to_bytes());
        assert_eq!(
            verify_telnyx(&key, Some(&sig), Some(&ts.to_string()), body, ts),
            Ok(())
        );
        assert_eq!(
            verify_telnyx(&key, Some(&sig), Some(&ts.to_string()), body, ts + 299),
            Ok(())
        );
        assert_eq!(
            verify_telnyx(&key, Some(&sig), Some(&ts.to_string()), body, ts + 301),
            Err(TelnyxSignatureError::Stale)
        );
        assert_eq!(
            verify_telnyx(&key, Some(&sig), Some(&ts.to_string()), body, ts - 301),
            Err(TelnyxSignatureError::Stale)
        );
        assert_eq!(
            verify_telnyx(&key, Some(&sig), Some(&(ts + 1).to_string()), body, ts),
            Err(TelnyxSignatureError::Invalid)
        );
        assert_eq!(
            verify_telnyx(&key, Some(&sig), Some(&ts.to_string()), b"{}", ts),
            Err(TelnyxSignatureError::Invalid)
        );
        assert_eq!(
            verify_telnyx(&key, None, Some("1"), body, ts),
            Err(TelnyxSignatureError::Missing)
        );
        assert!(telnyx_public_key("not base64").is_none());
    }
}
