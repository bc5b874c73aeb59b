//! `GET /openapi.json`: generated from the handlers, covering every route.

use crate::helpers::{keys_of, Backend, Sent, TestApp, DEVICE_FIELDS};
use multitoken::domain::oidc::{OidcProvider, OidcProviders};
use multitoken::routes::endpoints;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

async fn document(app: &TestApp) -> Value {
    app.get_expecting("/openapi.json", "application/json")
        .await
        .json()
        .await
        .expect("json")
}

#[actix_web::test]
async fn every_served_route_is_documented_and_nothing_else() {
    // A provider, so that its route is served as something other than 404;
    // nothing here makes it call the (closed) port.
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.oidc.oidc_providers = OidcProviders(vec![OidcProvider {
            name: "corp".into(),
            issuer: "http://127.0.0.1:9".into(),
            client_id: "multitoken".into(),
            client_secret: "secret".into(),
        }]);
    })
    .await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    let served: BTreeSet<(String, String)> = endpoints()
        .iter()
        .map(|e| (e.path.to_owned(), e.method.as_str().to_lowercase()))
        .collect();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| {
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .contains(&key.as_str())
                })
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    assert_eq!(served, documented);
    // Generated clients name their functions after the ids: one per
    // operation, none shared, even by the methods of one handler
    // (`/auth/verify` answers all of them).
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("item").values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    assert_eq!(ids.len(), served.len(), "every operation has an id");
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an operation id is used twice");
    let id = |path: &str, method: &str| doc["paths"][path][method]["operationId"].clone();
    assert_eq!(id("/login", "post"), "login");
    assert_eq!(id("/tokens", "get"), "list_devices");
    assert_eq!(id("/tokens/{client}", "delete"), "revoke_device");
    assert_eq!(id("/auth/verify", "head"), "forward_auth_head");
    assert!(served.contains(&("/admin/users/{id}".into(), "patch".into())));

    // The table is what the server really serves: every line answers
    // something other than "no such path" or "no such method".
    for endpoint in endpoints() {
        // Off unless SECRET_SCANNING_GITHUB_KEYS is set: its 404 is the
        // contract's (services::leaked_keys tests it both ways).
        if endpoint.path == "/secret-scanning/github" {
            continue;
        }
        let path = endpoint
            .path
            .replace("{id}", "1")
            .replace("{client}", "web")
            .replace("{provider}", "corp");
        let response = app
            .http
            .request(
                reqwest::Method::from_bytes(endpoint.method.as_str().as_bytes()).unwrap(),
                app.url(&path),
            )
            .sent()
            .await;
        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&response.status()),
            "{} {path}: {}",
            endpoint.method,
            response.status()
        );
    }
}

#[actix_web::test]
async fn the_token_scheme_secures_every_authenticated_operation() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["Token"],
        json!({
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` (the keyword in any case), or `Bearer <key>`, or `Bearer <access JWT>` (from `POST /token`).",
        })
    );
    let console = &doc["components"]["securitySchemes"]["ConsoleSession"];
    assert_eq!(console["type"], "apiKey");
    assert_eq!(console["in"], "cookie");
    assert_eq!(console["name"], "multitoken_console");
    let public = [
        "/login",
        "/login/oidc/{provider}",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/metrics",
        "/register",
        "/register/verify-email",
        "/register/resend-email",
        "/password/reset",
        "/password/reset/confirm",
        "/revoke",
        "/secret-scanning/github",
        "/token",
        "/token/refresh",
        "/token/verify",
        "/token/blacklist",
        "/.well-known/jwks.json",
        "/oauth/device_authorization",
        "/oauth/token",
        "/.well-known/oauth-authorization-server",
    ];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let expected = if public.contains(&path.as_str()) {
                Value::Null
            } else if path.starts_with("/admin/") {
                json!([{"Token": []}, {"ConsoleSession": []}])
            } else if path == "/auth/verify" {
                json!([{"Token": []}, {"ApiKey": []}])
            } else {
                json!([{"Token": []}])
            };
            assert_eq!(operation["security"], expected, "{method} {path} security");
            let secured = !expected.is_null();
            if secured {
                assert_eq!(
                    operation["responses"]["401"]["content"]["application/json"]["schema"],
                    json!({"$ref": "#/components/schemas/Detail"}),
                    "{method} {path} documents its 401"
                );
            }
        }
    }
}

#[actix_web::test]
async fn bodies_and_error_shapes_are_described() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let fields = |name: &str| keys_of(&schemas[name]["properties"]);
    assert_eq!(
        fields("UserView"),
        [
            "created_at",
            "email",
            "email_verified",
            "id",
            "is_active",
            "is_admin",
            "is_service",
            "last_login_at",
            "two_factor",
            "username"
        ]
    );
    assert_eq!(fields("DeviceView"), DEVICE_FIELDS);
    assert_eq!(fields("UserList"), ["count", "next", "previous", "results"]);
    assert_eq!(fields("Detail"), ["detail"]);
    assert_eq!(schemas["FieldErrors"]["type"], "object");
    let login = &doc["paths"]["/login"]["post"];
    // One media type per body, as generated clients need; the form that
    // the server takes as well is said in words.
    assert_eq!(
        keys_of(&login["requestBody"]["content"]),
        ["application/json"]
    );
    assert!(
        login["description"]
            .as_str()
            .is_some_and(|text| text.contains("`application/x-www-form-urlencoded`")),
        "{login}"
    );
    // Field errors, or `{"detail"}` for a body that cannot be parsed.
    assert_eq!(
        login["responses"]["400"]["content"]["application/json"]["schema"],
        json!({"oneOf": [
            {"$ref": "#/components/schemas/FieldErrors"},
            {"$ref": "#/components/schemas/Detail"},
        ]})
    );
    // Every operation that reads a body documents the body conventions'
    // errors; the others document none of them.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let reads_body = !operation["requestBody"].is_null();
            for status in ["400", "413", "415"] {
                let response = &operation["responses"][status];
                if reads_body {
                    assert!(
                        response["content"]["application/json"]["schema"].is_object(),
                        "{method} {path} documents its {status}"
                    );
                } else if status != "400" {
                    assert!(response.is_null(), "{method} {path}: no body, no {status}");
                }
            }
        }
    }
    assert_eq!(
        doc["paths"]["/admin/users/{id}"]["get"]["responses"]["403"]["content"]["application/json"]
            ["schema"],
        json!({"$ref": "#/components/schemas/Detail"})
    );
}

#[actix_web::test]
async fn every_operation_that_needs_the_database_documents_its_503() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let mut with_503 = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let unavailable = &operation["responses"]["503"];
            if ["/healthz", "/openapi.json"].contains(&path.as_str()) {
                assert!(unavailable.is_null(), "{method} {path} needs no database");
                continue;
            }
            assert_eq!(
                unavailable["content"]["application/json"]["schema"],
                json!({"$ref": "#/components/schemas/Detail"}),
                "{method} {path} documents its 503"
            );
            with_503 += 1;
        }
    }
    assert!(with_503 > 20, "{with_503}");
    let description = doc["info"]["description"].as_str().expect("description");
    assert!(description.contains("405"), "{description}");
}
