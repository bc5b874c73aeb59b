//! The key format: `mt_`, 43 base62 characters of body and a 6-character
//! CRC-32 checksum. Issued keys carry a checksum that holds (checked here
//! with `crc32fast` apart from the service's code); a key of that shape whose
//! checksum does not is refused as `Invalid token.` and counted, wherever a
//! key is taken; keys of the earlier format keep working. The
//! detect-secrets plugin is run against real keys (the guide's checkers, in
//! `tests/api/services/guide_samples.rs`).

use crate::helpers::{
    assert_json, assert_unauthorized, insert_key_row, on_both_backends, stdout_of, Backend, Sent,
    TestApp,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A key for `body` (43 base62 characters) with the checksum the contract
/// describes, computed here without the service's code.
pub fn with_checksum(body: &str) -> String {
    let mut crc = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    format!("mt_{body}{}", String::from_utf8_lossy(&digits))
}

/// `key` with its last checksum character changed: the same shape, a
/// checksum that no longer holds.
pub fn flip_checksum(key: &str) -> String {
    let (kept, last) = key.split_at(key.len() - 1);
    let other = if last == "A" { "B" } else { "A" };
    format!("{kept}{other}")
}

/// Whether `key` has the published shape, `mt_[0-9A-Za-z]{49}`.
fn has_the_published_shape(key: &str) -> bool {
    key.len() == 52 && key.starts_with("mt_") && key[3..].bytes().all(|b| b.is_ascii_alphanumeric())
}

fn checksum_failures(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("multitoken_token_checksum_failures_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no checksum failure count in\n{metrics}"))
}

#[on_both_backends]
async fn issued_keys_have_the_published_shape_and_a_checksum_that_holds(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let mut keys = Vec::new();
    for client in ["web", "ios", "cli"] {
        keys.push(app.login("alice", client).await);
    }
    for key in &keys {
        assert!(has_the_published_shape(key), "{key}");
        assert_eq!(with_checksum(&key[3..46]), *key, "the checksum of {key}");
        assert_eq!(app.whoami_status(key).await, StatusCode::OK);
    }
    assert_ne!(keys[0], keys[1]);
    assert_eq!(checksum_failures(&app.scrape().await), 0);
}

#[on_both_backends]
async fn a_bad_checksum_is_an_invalid_token_everywhere_and_counted(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    app.create_service_user("gateway");
    let gateway = app.login("gateway", "api").await;
    let flipped = flip_checksum(&key);
    assert!(has_the_published_shape(&flipped));
    // The body changed, the checksum kept: refused too.
    let mut body = key[3..46].to_owned().into_bytes();
    body[0] = if body[0] == b'x' { b'y' } else { b'x' };
    let other_body = format!("mt_{}{}", String::from_utf8_lossy(&body), &key[46..]);

    for bad in [&flipped, &other_body] {
        assert_unauthorized(app.whoami(bad).await, "Invalid token.").await;
        assert_unauthorized(app.post_with_token("/logout", bad).await, "Invalid token.").await;
        let verify = app
            .with_token(Method::GET, "/auth/verify", bad)
            .sent()
            .await;
        assert_eq!(verify.status(), StatusCode::UNAUTHORIZED);
        let introspected = app
            .with_token(Method::POST, "/introspect", &gateway)
            .form(&[("token", bad.as_str())])
            .sent()
            .await;
        assert_json(introspected, StatusCode::OK, json!({"active": false})).await;
        // Not a live key: /revoke answers as for any other.
        let revoke = app.post_json("/revoke", json!({ "token": bad })).await;
        assert_json(revoke, StatusCode::OK, json!({})).await;
    }
    assert_eq!(checksum_failures(&app.scrape().await), 10);
    // The real key is untouched by all of it.
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
    // A key of the earlier shape or no shape at all is not a checksum failure.
    assert_unauthorized(
        app.whoami(&format!("mt_{}", "A".repeat(43))).await,
        "Invalid token.",
    )
    .await;
    assert_unauthorized(app.whoami("mt_x").await, "Invalid token.").await;
    assert_eq!(checksum_failures(&app.scrape().await), 10);
}

/// With the tokens table gone, any lookup fails; a bad checksum still gets
/// its 401, so it was refused without one (`ops/faults.rs` shows the same
/// with PostgreSQL cut off).
#[on_both_backends]
async fn a_bad_checksum_is_refused_without_a_lookup(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    diesel::RunQueryDsl::execute(
        diesel::sql_query("ALTER TABLE tokens RENAME TO tokens_away"),
        &mut app.connection(),
    )
    .expect("take the tokens table away");
    assert_unauthorized(app.whoami(&flip_checksum(&key)).await, "Invalid token.").await;
    let looked_up = app.whoami(&key).await.status();
    assert!(looked_up.is_server_error(), "{looked_up}");
}

#[on_both_backends]
async fn a_key_of_the_earlier_format_still_works_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user_id = app.create_user("alice", "", false);
    // `mt_` and 32 bytes in unpadded URL-safe base64, as keys were issued.
    let earlier = "mt_q-8vO1m_Jb3xJ0gP2nQ7cA5sYkL9wRzE4tUvHiD6fXo";
    insert_key_row(
        &mut app.connection(),
        user_id,
        "old-phone",
        earlier,
        "password",
    );

    let whoami = app.whoami(earlier).await;
    assert_eq!(whoami.status(), StatusCode::OK);
    let verify = app
        .with_token(Method::GET, "/auth/verify", earlier)
        .sent()
        .await;
    assert_eq!(verify.status(), StatusCode::OK);
    let revoke = app.post_json("/revoke", json!({ "token": earlier })).await;
    assert_json(revoke, StatusCode::OK, json!({})).await;
    assert_unauthorized(app.whoami(earlier).await, "Invalid token.").await;
    assert_eq!(checksum_failures(&app.scrape().await), 0);
}

#[actix_web::test]
#[cfg_attr(
    not(detect_secrets_tests),
    ignore = ".venv-tests has no detect-secrets"
)]
async fn detect_secrets_with_the_plugin_finds_real_keys_and_not_look_alikes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;

    let tree = tempfile::tempdir().expect("a temporary folder");
    std::fs::create_dir_all(tree.path().join("config")).expect("config folder");
    std::fs::create_dir_all(tree.path().join("src")).expect("src folder");
    std::fs::write(
        tree.path().join("config/settings.toml"),
        format!(
            "[api]\nurl = \"https://api.example.com\"\nkey = \"{web}\"\nbackup_key = \"{ios}\"\n"
        ),
    )
    .expect("write the config");
    std::fs::write(
        tree.path().join("src/client.py"),
        format!(
            "# Not a real key: its checksum does not hold.\nEXAMPLE_KEY = \"{}\"\n",
            flip_checksum(&web)
        ),
    )
    .expect("write the source");
    std::fs::write(
        tree.path().join("src/old.env"),
        format!(
            "MULTITOKEN_KEY=mt_{}\n",
            "q-8vO1m_Jb3xJ0gP2nQ7cA5sYkL9wRzE4tUvHiD6fXo"
        ),
    )
    .expect("write the old-format key");

    let repository = Path::new(env!("MULTITOKEN_REPOSITORY"));
    let output = stdout_of(
        Command::new(repository.join(".venv-tests/bin/detect-secrets"))
            .current_dir(tree.path())
            .args(["scan", "--all-files", "--plugin"])
            .arg(repository.join("tests/secret_scanning/multitoken_plugin.py"))
            .arg("."),
        "detect-secrets",
    );
    let report: serde_json::Value = serde_json::from_slice(&output).expect("JSON");
    let mut found: Vec<(String, u64)> = Vec::new();
    for (file, findings) in report["results"].as_object().expect("results") {
        for finding in findings.as_array().expect("findings") {
            if finding["type"] == "multitoken key" {
                let line = finding["line_number"].as_u64().expect("a line");
                found.push((file.clone(), line));
            }
        }
    }
    found.sort();
    assert_eq!(
        found,
        [
            ("config/settings.toml".to_owned(), 3),
            ("config/settings.toml".to_owned(), 4)
        ]
    );
}
