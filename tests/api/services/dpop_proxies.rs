//! Keys bound to devices end to end, with a real client: panva's `dpop`
//! (npm, `tests/dpop_client/client.mjs`) makes the key pair and every proof,
//! signs in at multitoken, calls `/whoami`, then the app behind nginx
//! (`auth_request`) and Caddy (`forward_auth`) as the recipes configure
//! them, which must pass the original method and URL to `/auth/verify`.
//!
//! Needs Node with `tests/dpop_client/node_modules` (`npm ci` there, or
//! `.ci/run`) and the proxy's binary; without them the tests are built as
//! ignored (see `build.rs`).

use super::proxies::{Kind, Stack};
use crate::helpers::{Backend, Sent, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

/// Declares `name::{nginx,caddy}::{sqlite,postgres}` for `async fn name(kind, backend)`.
macro_rules! through_each_proxy {
    ($name:ident) => {
        mod $name {
            through_each_proxy!(@proxy $name, nginx, Nginx, nginx_tests);
            through_each_proxy!(@proxy $name, caddy, Caddy, caddy_tests);
        }
    };
    (@proxy $name:ident, $proxy:ident, $kind:ident, $found:ident) => {
        mod $proxy {
            use super::super::{$name, Kind};
            use $crate::helpers::Backend;

            #[actix_web::test]
            #[cfg_attr(not($found), ignore = concat!(stringify!($proxy), " not found (install the Debian package ", stringify!($proxy), ")"))]
            #[cfg_attr(all($found, not(dpop_client_tests)), ignore = "tests/dpop_client is not installed (npm ci there, or run .ci/run)")]
            async fn sqlite() {
                $name(Kind::$kind, Backend::Sqlite).await
            }

            #[actix_web::test]
            #[cfg_attr(not($found), ignore = concat!(stringify!($proxy), " not found (install the Debian package ", stringify!($proxy), ")"))]
            #[cfg_attr(all($found, not(dpop_client_tests)), ignore = "tests/dpop_client is not installed (npm ci there, or run .ci/run)")]
            #[cfg_attr(all($found, dpop_client_tests, not(postgres_tests)), ignore = "TEST_DATABASE_URL is not set")]
            async fn postgres() {
                $name(Kind::$kind, Backend::Postgres).await
            }
        }
    };
}

through_each_proxy!(a_real_dpop_client_signs_in_and_passes_the_proxy_with_its_proofs_only);

/// Runs the client with a key of `alg`; what each of its steps answered.
/// Off the test's runtime thread, which serves multitoken and the app.
async fn run_client(stack: &Stack, alg: &str) -> Value {
    let script = concat!(
        env!("MULTITOKEN_REPOSITORY"),
        "/tests/dpop_client/client.mjs"
    );
    let mut command = Command::new("node");
    command
        .arg(script)
        .arg(&stack.app.address)
        .arg(stack.proxy.url(""))
        .args(["alice", PASSWORD, alg]);
    let output = actix_web::rt::task::spawn_blocking(move || command.output())
        .await
        .expect("the client's thread")
        .expect("run node");
    assert!(
        output.status.success(),
        "the client with {alg} failed: {}\nthe proxy's log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        stack.proxy.log()
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{alg}: the client's JSON: {error}: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

async fn a_real_dpop_client_signs_in_and_passes_the_proxy_with_its_proofs_only(
    kind: Kind,
    backend: Backend,
) {
    let stack = Stack::start(kind, backend).await;
    stack.app.create_user("alice", "", false);
    stack.app.create_service_user("gateway");
    let gateway = stack.app.login("gateway", "api").await;
    for alg in ["ES256", "Ed25519", "RS256", "PS256"] {
        let seen_before = stack.upstream.seen().len();
        let ran = run_client(&stack, alg).await;
        let case = format!("{kind:?} {alg}: {ran:#}");
        assert_eq!(ran["login"]["status"], 200, "{case}");
        assert_eq!(ran["login"]["body"]["token_type"], "DPoP", "{case}");
        assert_eq!(ran["whoami"]["status"], 200, "{case}");
        assert_eq!(ran["whoami"]["body"]["username"], "alice", "{case}");
        // Through the proxy: the app got the request, with the identity.
        assert_eq!(ran["proxied"]["status"], 200, "{case}");
        let received = &ran["proxied"]["body"];
        assert_eq!(received["method"], "DELETE", "{case}");
        assert_eq!(received["uri"], "/orders/7?expand=lines", "{case}");
        assert_eq!(
            received["headers"]["x-multitoken-client"],
            json!([format!("cli-{alg}")]),
            "{case}"
        );
        // The key without a proof never reaches the app.
        assert_eq!(ran["as_bearer"]["status"], 401, "{case}");
        assert_eq!(
            ran["as_bearer"]["body"],
            json!({"detail": "Invalid DPoP proof."}),
            "{case}"
        );
        assert!(
            ran["as_bearer"]["www_authenticate"]
                .as_str()
                .is_some_and(|challenge| challenge.starts_with("DPoP error=\"invalid_dpop_proof\"")),
            "{case}"
        );
        assert_eq!(stack.upstream.seen().len(), seen_before + 1, "{case}");
        // The thumbprint the client computed is the one introspection names.
        let described: Value = stack
            .app
            .with_token(Method::POST, "/introspect", &gateway)
            .form(&[("token", ran["key"].as_str().expect("key"))])
            .sent()
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(described["cnf"], json!({"jkt": ran["jkt"]}), "{case}");
    }
}
