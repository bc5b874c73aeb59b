//! The OpenID Connect provider of the social-login tests: panva's
//! oidc-provider, started from tests/oidc_provider/server.mjs on a loopback
//! port, and the settings that make multitoken trust it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use multitoken::config::Settings;
use multitoken::domain::oidc::{LinkByEmail, OidcProvider, OidcProviders};
use rand::distributions::{Alphanumeric, DistString};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

pub const CLIENT_ID: &str = "multitoken";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const OTHER_CLIENT_ID: &str = "another-app";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// Our client registered at `issuer`, as multitoken is configured with it
/// under `name`: both test providers register the same client.
pub fn our_client_at(issuer: &str, name: &str) -> OidcProvider {
    OidcProvider {
        name: name.into(),
        issuer: issuer.into(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
    }
}
/// The test provider as a child process; killed when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Provider {
    /// A provider with our client and a second one (`another-app`), and
    /// the users `alice` (verified e-mail), `bob` (unverified) and `carol`.
    pub fn start() -> Self {
        Self::start_with(json!({}))
    }

    pub fn start_with(extra: Value) -> Self {
        let port = free_port();
        let mut options = json!({
            "port": port,
            "clients": [
                {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]},
                {"client_id": OTHER_CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]},
            ],
            "users": {
                "alice": {"email": "Alice@Example.com", "email_verified": true, "preferred_username": "alice"},
                "bob": {"email": "bob@example.com", "email_verified": false, "preferred_username": "bob"},
                "carol": {"email": "carol@example.com", "email_verified": true},
            },
        });
        for (key, value) in extra.as_object().expect("object") {
            options[key] = value.clone();
        }
        let script = concat!(
            env!("MULTITOKEN_REPOSITORY"),
            "/tests/oidc_provider/server.mjs"
        );
        let mut child = Command::new("node")
            .arg(script)
            .arg(options.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run node tests/oidc_provider/server.mjs");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the provider's first line");
        // Drained, not closed: a write to a closed pipe would end the provider.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let issuer = line
            .trim()
            .strip_prefix("issuer ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .to_owned();
        Provider { child, issuer }
    }

    /// The provider as multitoken is configured with it, under `name`.
    pub fn configured(&self, name: &str) -> OidcProvider {
        our_client_at(&self.issuer, name)
    }

    /// Walks the authorization-code flow with PKCE as a browser: the
    /// authorization request, the login form (as `login`), the consent
    /// form, and the redirect to the app's callback with the code.
    pub async fn authorize(&self, client_id: &str, login: &str, nonce: Option<&str>) -> Authorized {
        let browser = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let verifier = Alphanumeric.sample_string(&mut rand::thread_rng(), 64);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut query = vec![
            ("client_id", client_id),
            ("response_type", "code"),
            ("scope", "openid email profile"),
            ("redirect_uri", REDIRECT_URI),
            ("state", "state-1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        query.extend(nonce.map(|nonce| ("nonce", nonce)));
        let mut response = browser
            .get(format!("{}/auth", self.issuer))
            .query(&query)
            .send()
            .await
            .expect("authorization request");
        for _ in 0..10 {
            if response.status().is_redirection() {
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                if let Some(callback) = location.strip_prefix(REDIRECT_URI) {
                    let params: Vec<(String, String)> =
                        serde_urlencoded::from_str(callback.trim_start_matches('?')).unwrap();
                    let param = |name: &str| {
                        params
                            .iter()
                            .find(|(key, _)| key == name)
                            .map(|(_, value)| value.clone())
                    };
                    assert_eq!(param("state").as_deref(), Some("state-1"));
                    return Authorized {
                        code: param("code").unwrap_or_else(|| panic!("no code: {location}")),
                        verifier,
                    };
                }
                let url = match location.starts_with('/') {
                    true => format!("{}{location}", self.issuer),
                    false => location,
                };
                response = browser.get(url).send().await.expect("redirect");
                continue;
            }
            assert_eq!(response.status(), StatusCode::OK, "an interaction page");
            let page = response.text().await.unwrap();
            let action = page
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("a form in {page}"))
                .replace("&amp;", "&");
            let form: Vec<(&str, &str)> = match page.contains("name=\"login\"") {
                true => vec![("prompt", "login"), ("login", login), ("password", "any")],
                false => vec![("prompt", "consent")],
            };
            response = browser.post(action).form(&form).send().await.expect("form");
        }
        panic!("the flow did not reach the callback");
    }

    /// An ID token for `client_id`, as a native app gets it: the code flow,
    /// then the code exchanged at the provider's token endpoint.
    pub async fn id_token(&self, client_id: &str, login: &str, nonce: Option<&str>) -> String {
        let authorized = self.authorize(client_id, login, nonce).await;
        let response = Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &authorized.code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &authorized.verifier),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["id_token"].as_str().expect("an id_token").to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Authorized {
    code: String,
    pub verifier: String,
}

impl Authorized {
    pub fn body(&self, client: &str) -> Value {
        json!({
            "client": client,
            "code": self.code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": self.verifier,
        })
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

pub fn with_providers(
    providers: Vec<OidcProvider>,
    link_by_email: LinkByEmail,
) -> impl FnOnce(&mut Settings) {
    move |settings| {
        settings.oidc.oidc_providers = OidcProviders(providers);
        settings.oidc.oidc_link_by_email = link_by_email;
    }
}

/// Settings that trust `provider` under the name `corp`, linking a new
/// identity to a user by e-mail as `link_by_email` says.
pub fn trusting(provider: &Provider, link_by_email: LinkByEmail) -> impl FnOnce(&mut Settings) {
    with_providers(vec![provider.configured("corp")], link_by_email)
}
