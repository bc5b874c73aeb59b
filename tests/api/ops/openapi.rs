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
    // One handler may answer several methods of its path (`/auth/verify`
    // answers all of them) under one id; no id is used on two paths.
    let ids: Vec<(&str, &str)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("item")
                .values()
                .filter_map(move |operation| {
                    Some((operation["operationId"].as_str()?, path.as_str()))
                })
        })
        .collect();
    assert_eq!(ids.len(), served.len(), "every operation has an id");
    let mut paths_by_id: std::collections::BTreeMap<&str, BTreeSet<&str>> = Default::default();
    for (id, path) in &ids {
        paths_by_id.entry(id).or_default().insert(path);
    }
    for (id, paths) in &paths_by_id {
        assert_eq!(paths.len(), 1, "operation id {id} is used on {paths:?}");
    }
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
    assert_eq!(
        keys_of(&login["requestBody"]["content"]),
        ["application/json", "application/x-www-form-urlencoded"]
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
