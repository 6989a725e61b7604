//! Configuration validation: each mistake is reported with the key and value at fault.

use loyalty_gateway::configuration::{load_from_str, parse_str};

use crate::helpers::config_toml;

fn base() -> String {
    config_toml("redis://127.0.0.1:6379/0", "p", "http://127.0.0.1:9")
}

fn error_of(toml: &str) -> String {
    format!("{:#}", parse_str(toml).expect_err("should be invalid"))
}

#[test]
fn the_test_and_shipped_configurations_are_valid() {
    parse_str(&base()).unwrap();
    parse_str(include_str!("../../config/default.toml")).unwrap();
    parse_str(include_str!("../../config/production.toml")).unwrap_or_else(|e| {
        // The example ships without a token on purpose; everything else must be valid.
        assert!(format!("{e:#}").contains("sms.twilio.auth_token"), "{e:#}");
        parse_str(
            &include_str!("../../config/production.toml")
                .replace("auth_token = \"\"", "auth_token = \"x\""),
        )
        .unwrap()
    });
}

#[test]
fn the_production_example_ships_no_api_key_that_would_be_accepted() {
    let example = include_str!("../../config/production.toml")
        .replace("auth_token = \"\"", "auth_token = \"x\"");
    assert!(parse_str(&example).unwrap().api_keys.is_empty());
}

#[test]
fn sending_numbers_of_any_country_are_accepted() {
    let toml = base().replace("\"+15005550007\"", "\"+5511987650001\"");
    let settings = parse_str(&toml).unwrap();
    assert_eq!(settings.programs[1].numbers[0].as_str(), "+5511987650001");
}

#[test]
fn cluster_mode_is_configured_by_nodes_and_refuses_an_embedded_redis() {
    let env = vec![(
        "LOYALTY__REDIS__CLUSTER_NODES".to_owned(),
        "redis://10.0.0.1:7000,redis://10.0.0.2:7000".to_owned(),
    )];
    let settings = load_from_str(&base(), "test", env)
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(settings.redis.cluster_nodes.len(), 2);
    assert!(settings.redis.is_cluster());
    let embedded = base().replace(
        "[redis]\n",
        "[redis]\nembedded = true\ncluster_nodes = [\"redis://10.0.0.1:7000\"]\n",
    );
    let message = error_of(&embedded);
    assert!(
        message.contains("redis.embedded: must be false when redis.cluster_nodes is set"),
        "{message}"
    );
    let not_a_url = base().replace(
        "[redis]\n",
        "[redis]\ncluster_nodes = [\"10.0.0.1:7000\"]\n",
    );
    assert!(error_of(&not_a_url).contains("redis.cluster_nodes[0]"));
}

#[test]
fn campaign_settings_take_durations_and_decimals_as_written() {
    let toml = base().replace(
        "[sms]\n",
        "[campaigns]\nmax_per_member = 2\ncap_window = \"7d\"\n\n[sms]\nprice_per_segment = \"0.0079\"\n",
    );
    let settings = parse_str(&toml).unwrap();
    assert_eq!(
        settings.campaigns.cap_window.duration().as_secs(),
        7 * 86_400
    );
    assert_eq!(settings.sms.price_per_segment.to_string(), "0.0079");
    let defaults = parse_str(&base()).unwrap();
    assert_eq!(defaults.campaigns.max_per_member, 1);
    assert_eq!(defaults.campaigns.cap_window.duration().as_secs(), 86_400);
    assert_eq!(defaults.sms.price_per_segment.to_string(), "0.0083");
    let bad = base().replace("[sms]\n", "[campaigns]\ncap_window = \"soon\"\n\n[sms]\n");
    assert!(
        error_of(&bad).contains("campaigns.cap_window"),
        "{}",
        error_of(&bad)
    );
}

#[test]
fn mistakes_name_the_key_and_value() {
    let cases = [
        (
            base().replace("\"+15005550006\"", "\"+1555\""),
            "programs[0].numbers[0]",
        ),
        (
            base().replace("\"+15005550007\"", "\"+15005550006\""),
            "belongs to both",
        ),
        (
            base().replace("id = \"r5\"\npoints = 1000", "id = \"r5\"\npoints = 0"),
            "programs[0].rewards[0].points",
        ),
        (
            base().replace("locations = [\"store-12\"]", "locations = [\"store-99\"]"),
            "api_keys[1].locations",
        ),
        (
            base().replace(
                "timezone = \"America/New_York\"",
                "timezone = \"Mars/Olympus\"",
            ),
            "programs[0].timezone",
        ),
        (
            base().replace("country = \"US\"", "country = \"XX\""),
            "programs[0].country",
        ),
        (
            base().replace("multiplier = 2", "multiplier = 2.125"),
            "programs[0].tenders[0].multiplier",
        ),
        (
            base().replace("program = \"other\"", "program = \"nope\""),
            "api_keys[4].program",
        ),
        (
            base().replace("bind = \"127.0.0.1:0\"", "bind = \"localhost\""),
            "server.bind",
        ),
        (
            base().replace(
                "visibility_timeout_ms = 5000",
                "visibility_timeout_ms = 100",
            ),
            "sms.visibility_timeout_ms",
        ),
        (
            base().replace(
                "[[programs.locations]]\nid = \"store-7\"",
                "[[programs.locations]]\nid = \"store-12\"",
            ),
            "listed twice",
        ),
        (
            base().replace("scopes = [\"marketing\"]", "scopes = [\"everything\"]"),
            "api_keys[2].scopes",
        ),
    ];
    for (toml, expected) in cases {
        let message = error_of(&toml);
        assert!(
            message.contains(expected),
            "expected {expected:?} in: {message}"
        );
    }
}

#[test]
fn an_unknown_key_is_an_error_that_suggests_the_right_one() {
    let cases = [
        (
            base().replace("welcome_points = 50", "welcome_point = 50"),
            "programs[0].welcome_point: unknown key; did you mean programs[0].welcome_points?",
        ),
        (
            base().replace("[redis]", "[redis]\nurll = \"x\""),
            "redis.urll: unknown key; did you mean redis.url?",
        ),
        (
            base().replace("[sms]", "[campaign]\nbatch = 10\n\n[sms]"),
            "campaign: unknown key",
        ),
        (
            base().replace("multiplier = 2\n", "multiplier = 2\nmultipler = 3\n"),
            "programs[0].tenders[0].multipler: unknown key; did you mean programs[0].tenders[0].multiplier?",
        ),
    ];
    for (toml, expected) in cases {
        let message = error_of(&toml);
        assert!(
            message.contains(expected),
            "expected {expected:?} in: {message}"
        );
    }
    let from_env = load_from_str(
        &base(),
        "test",
        vec![("LOYALTY__SMS__BURSTT".to_owned(), "3".to_owned())],
    )
    .unwrap_err()
    .to_string();
    assert!(
        from_env.contains("sms.burstt: unknown key; did you mean sms.burst?")
            && from_env.contains("LOYALTY__SMS__BURSTT"),
        "{from_env}"
    );
}

#[test]
fn every_message_uses_one_path_syntax_and_names_the_variable_that_can_fix_it() {
    let wrong_type = error_of(&base().replace("multiplier = 2\n", "multiplier = \"two\"\n"));
    assert!(
        wrong_type.contains("programs[0].tenders[0].multiplier: string \"two\" is not"),
        "{wrong_type}"
    );
    let missing = error_of(&base().replace("name = \"Bloom Rewards\"\n", ""));
    assert!(missing.contains("programs[0].name: required"), "{missing}");
    let token = error_of(&base().replace(
        &format!("auth_token = \"{}\"", crate::helpers::AUTH_TOKEN),
        "auth_token = \"\"",
    ));
    assert!(
        token.contains("sms.twilio.auth_token: required")
            && token.contains("LOYALTY__SMS__TWILIO__AUTH_TOKEN"),
        "{token}"
    );
    let from_env = load_from_str(
        &base(),
        "test",
        vec![("LOYALTY__SMS__BURST".to_owned(), "lots".to_owned())],
    )
    .unwrap_err()
    .to_string();
    assert!(
        from_env.contains("sms.burst: ") && from_env.contains("comes from LOYALTY__SMS__BURST"),
        "{from_env}"
    );
}

#[test]
fn http_workers_are_as_configured_or_half_the_cores_and_at_least_one() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let unset = parse_str(&base()).unwrap();
    assert_eq!(unset.server.workers, None);
    let automatic = unset.server.http_workers();
    assert!(
        (1..=cores.max(2) / 2).contains(&automatic),
        "{automatic} workers on {cores} cores"
    );

    let three = base().replace("[server]\n", "[server]\nworkers = 3\n");
    assert_eq!(parse_str(&three).unwrap().server.http_workers(), 3);
    let env = vec![("LOYALTY__SERVER__WORKERS".to_owned(), "5".to_owned())];
    let from_env = load_from_str(&base(), "test", env)
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(from_env.server.http_workers(), 5);

    for bad in ["0", "257"] {
        let message =
            error_of(&base().replace("[server]\n", &format!("[server]\nworkers = {bad}\n")));
        assert!(
            message.contains(&format!("server.workers: {bad} is not between 1 and 256")),
            "{message}"
        );
    }
    let message = error_of(&base().replace("[server]\n", "[server]\nworkers = \"two\"\n"));
    assert!(message.contains("server.workers"), "{message}");
}

#[test]
fn environment_variables_override_any_key() {
    let env = vec![
        (
            "LOYALTY__REDIS__URL".to_owned(),
            "redis://10.0.0.5:6379/0".to_owned(),
        ),
        (
            "LOYALTY__SERVER__BIND".to_owned(),
            "0.0.0.0:8080".to_owned(),
        ),
        (
            "LOYALTY__SMS__MESSAGES_PER_SECOND".to_owned(),
            "2.5".to_owned(),
        ),
        (
            "LOYALTY__SMS__TWILIO__AUTH_TOKEN".to_owned(),
            "12345".to_owned(),
        ),
        ("OTHER__SERVER__BIND".to_owned(), "ignored".to_owned()),
    ];
    let settings = load_from_str(&base(), "test", env)
        .unwrap()
        .validate()
        .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(
        settings.redis.url.expose_secret(),
        "redis://10.0.0.5:6379/0"
    );
    assert_eq!(settings.server.bind, "0.0.0.0:8080");
    assert_eq!(settings.sms.messages_per_second, 2.5);
    assert_eq!(settings.sms.twilio.auth_token.expose_secret(), "12345");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let settings = parse_str(&base()).unwrap();
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains(crate::helpers::AUTH_TOKEN),
        "auth token leaked"
    );
    assert!(
        !debug.contains("redis://127.0.0.1:6379"),
        "redis url leaked"
    );
}

/// `[[dashboard_users]]` entries made by argon2-cffi, the binding of Argon2's reference C code
/// (`tests/fixtures/argon2/generate.py`).
fn argon2_vectors() -> Vec<serde_json::Value> {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/argon2/vectors.json")).unwrap();
    vectors["vectors"].as_array().unwrap().clone()
}

fn with_user(scope: &str, hash: &str) -> String {
    format!(
        "{}\n[[dashboard_users]]\nname = \"owner\"\nprogram = \"bloom\"\nscope = \"{scope}\"\npassword_hash = '{hash}'\n",
        base()
    )
}

#[test]
fn dashboard_users_take_argon2_hashes_of_the_reference_implementation_and_refuse_others() {
    for vector in argon2_vectors() {
        let hash = vector["hash"].as_str().unwrap();
        let settings = parse_str(&with_user("marketing", hash)).unwrap();
        let user = &settings.dashboard_users[0];
        assert!(
            loyalty_gateway::auth::verify_password(
                &user.password_hash,
                vector["password"].as_str().unwrap()
            ),
            "{}",
            vector["name"]
        );
        assert!(!loyalty_gateway::auth::verify_password(
            &user.password_hash,
            "wrong"
        ));
    }
    let hash = argon2_vectors()[0]["hash"].as_str().unwrap().to_owned();
    for (toml, expected) in [
        (
            with_user("marketing", "hunter2"),
            "dashboard_users[0].password_hash: is not a PHC string",
        ),
        (
            with_user(
                "marketing",
                "$pbkdf2-sha256$i=600000,l=32$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            ),
            "dashboard_users[0].password_hash: uses pbkdf2-sha256, not Argon2",
        ),
        (
            with_user(
                "marketing",
                "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            ),
            "dashboard_users[0].password_hash: asks for 4194304 KiB of memory per sign-in",
        ),
        (
            with_user("pos", &hash),
            r#"dashboard_users[0].scope: "pos" is not one of marketing, admin"#,
        ),
        (
            format!("{}\nnmae = \"x\"\n", with_user("admin", &hash)),
            "nmae",
        ),
        (
            format!(
                "{}\n[[dashboard_users]]\nname = \"owner\"\nprogram = \"bloom\"\nscope = \"admin\"\npassword_hash = '{hash}'\n",
                with_user("admin", &hash)
            ),
            r#"dashboard_users: the name "owner" is used twice"#,
        ),
    ] {
        let error = error_of(&toml);
        assert!(error.contains(expected), "{error}\nshould say: {expected}");
    }
}

#[test]
fn two_api_keys_with_one_secret_are_refused_by_the_second_ones_name() {
    let base = base();
    let start = base.find("[[api_keys]]\nname = \"pos\"").unwrap();
    let copy = base[start..]
        .split("\n\n")
        .next()
        .unwrap()
        .replace("name = \"pos\"", "name = \"pos-copy\"");
    let error = error_of(&format!("{base}\n{copy}\n"));
    assert!(
        error.contains(r#"api_keys: the key "pos-copy" has the same sha256 as another key"#),
        "{error}"
    );
}
