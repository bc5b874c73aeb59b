//! Decoding bodies: JSON and forms alike, the limits, and what is refused.

use super::*;

fn detail(result: Result<Fields, ApiError>) -> String {
    match result {
        Err(ApiError::BadRequest(detail)) => detail,
        other => format!("unexpected: {other:?}"),
    }
}

#[test]
fn json_and_form_bodies_give_the_same_fields() {
    let json = Fields::decode(
        "application/json",
        br#"{"username":"alice","client":"web","extra":1}"#,
    );
    let form = Fields::decode(
        "application/x-www-form-urlencoded; charset=UTF-8",
        b"username=alice&client=web",
    );
    for fields in [json, form] {
        let fields = fields.unwrap_or_default();
        assert_eq!(fields.text("username"), Ok(Some("alice")));
        assert_eq!(fields.text("client"), Ok(Some("web")));
        assert_eq!(fields.text("password"), Ok(None));
    }
}

#[test]
fn charset_and_case_of_the_media_type_do_not_matter() {
    let fields =
        Fields::decode("Application/JSON; charset=utf-8", br#"{"a":"b"}"#).unwrap_or_default();
    assert_eq!(fields.text("a"), Ok(Some("b")));
}

#[test]
fn form_values_are_percent_decoded() {
    let fields =
        Fields::decode("application/x-www-form-urlencoded", b"p=a%26b+c%3D").unwrap_or_default();
    assert_eq!(fields.text("p"), Ok(Some("a&b c=")));
}

#[test]
fn form_values_that_are_not_utf8_are_field_errors_not_replacements() {
    let fields = Fields::decode(
        "application/x-www-form-urlencoded",
        b"password=%FF%FEzQ&username=alice&client=%C3%A9&%FF=x&again=%FF&again=ok&flag=%C0&s=%80",
    )
    .unwrap_or_default();
    assert_eq!(fields.text("password"), Err(INVALID_UTF8));
    assert_eq!(fields.text("username"), Ok(Some("alice")));
    assert_eq!(fields.text("client"), Ok(Some("\u{e9}")));
    assert_eq!(fields.text("again"), Ok(Some("ok")), "the last value wins");
    let mut errors = FieldErrors::new();
    assert_eq!(fields.required("password", &mut errors), None);
    assert_eq!(fields.boolean("flag", &mut errors), None);
    fields.scopes("s", &mut errors);
    let mut expected = FieldErrors::new();
    for field in ["password", "flag", "s"] {
        expected.add(field, INVALID_UTF8);
    }
    assert_eq!(errors, expected);
    // A later bad value replaces a good one.
    let fields =
        Fields::decode("application/x-www-form-urlencoded", b"a=ok&a=%FF").unwrap_or_default();
    assert_eq!(fields.text("a"), Err(INVALID_UTF8));
}

#[test]
fn pairs_are_split_and_decoded_as_browsers_send_them() {
    let pairs = decode_pairs(b"a=1&&b&c=x=y&d=%2B+%20&=e");
    let text = |s: &str| Some(s.to_owned());
    assert_eq!(
        pairs,
        vec![
            (text("a"), text("1")),
            (text("b"), text("")),
            (text("c"), text("x=y")),
            (text("d"), text("+  ")),
            (text(""), text("e")),
        ]
    );
    assert_eq!(
        decode_pairs(b"%FF=1&a=%E2%82"),
        vec![(None, text("1")), (text("a"), None)]
    );
    // A stray % is kept, as Django keeps it.
    assert_eq!(decode_pairs(b"a=100%"), vec![(text("a"), text("100%"))]);
}

#[test]
fn an_empty_body_is_no_fields_whatever_its_type() {
    assert_eq!(Fields::decode("", b"").ok(), Some(Fields::default()));
    assert_eq!(
        Fields::decode("text/plain", b"").ok(),
        Some(Fields::default())
    );
}

#[test]
fn other_media_types_are_unsupported_and_named() {
    let result = Fields::decode("text/plain; charset=utf-8", b"hello");
    assert!(
        matches!(result, Err(ApiError::UnsupportedMediaType(t)) if t == "text/plain; charset=utf-8")
    );
    assert!(
        matches!(Fields::decode("", b"x=1"), Err(ApiError::UnsupportedMediaType(t)) if t.is_empty())
    );
}

#[test]
fn malformed_json_is_reported_with_its_cause() {
    let message = detail(Fields::decode("application/json", b"{\"username\": "));
    assert!(message.starts_with("JSON parse error - "), "{message}");
    assert!(message.contains("EOF"), "{message}");
}

#[test]
fn json_that_is_not_an_object_is_a_non_field_error() {
    let result = Fields::decode("application/json", b"[1,2]");
    let expected = FieldErrors::single(
        "non_field_errors",
        "Invalid data. Expected a dictionary, but got list.",
    );
    assert!(
        matches!(result, Err(ApiError::Service(crate::service::Error::Invalid(errors))) if errors == expected)
    );
}

#[test]
fn required_fields_must_be_present_non_empty_strings() {
    let fields = Fields::decode("application/json", br#"{"a":"","b":5,"c":null,"d":"ok"}"#)
        .unwrap_or_default();
    let mut errors = FieldErrors::new();
    assert_eq!(fields.required("a", &mut errors), None);
    assert_eq!(fields.required("b", &mut errors), None);
    assert_eq!(fields.required("c", &mut errors), None);
    assert_eq!(fields.required("missing", &mut errors), None);
    assert_eq!(fields.required("d", &mut errors), Some("ok".to_owned()));
    let mut expected = FieldErrors::new();
    for (field, message) in [
        ("a", REQUIRED),
        ("b", NOT_A_STRING),
        ("c", REQUIRED),
        ("missing", REQUIRED),
    ] {
        expected.add(field, message);
    }
    assert_eq!(errors, expected);
}

#[test]
fn scopes_are_read_from_a_json_list_or_a_string() {
    let read = |json: &str| {
        let fields = Fields::decode("application/json", json.as_bytes())
            .unwrap_or_else(|_| Fields::default());
        let mut errors = FieldErrors::new();
        let scopes = fields.scopes("scopes", &mut errors);
        (scopes.into_vec(), errors.is_empty())
    };
    let a_b = (vec!["a".to_owned(), "b".to_owned()], true);
    assert_eq!(read(r#"{"scopes": ["a", "b", "a"]}"#), a_b);
    assert_eq!(read(r#"{"scopes": "a b a"}"#), a_b);
    assert_eq!(read(r#"{"scopes": []}"#), (vec![], true));
    assert_eq!(read(r#"{"scopes": null}"#), (vec![], true));
    assert_eq!(read(r#"{}"#), (vec![], true));
    for bad in [
        r#"{"scopes": ["a", 1]}"#,
        r#"{"scopes": 7}"#,
        r#"{"scopes": {"a": "b"}}"#,
        r#"{"scopes": [""]}"#,
    ] {
        assert_eq!(read(bad), (vec![], false), "{bad}");
    }
    let form = Fields::decode("application/x-www-form-urlencoded", b"scopes=a+b")
        .unwrap_or_else(|_| Fields::default());
    let mut errors = FieldErrors::new();
    assert_eq!(form.scopes("scopes", &mut errors).into_vec(), ["a", "b"]);
}

#[test]
fn booleans_are_read_from_json_and_form_words() {
    let fields = Fields::decode(
        "application/json",
        br#"{"a":true,"b":"off","c":1,"d":"maybe","e":null,"f":"TRUE"}"#,
    )
    .unwrap_or_default();
    let mut errors = FieldErrors::new();
    assert_eq!(fields.boolean("a", &mut errors), Some(true));
    assert_eq!(fields.boolean("b", &mut errors), Some(false));
    assert_eq!(fields.boolean("c", &mut errors), Some(true));
    assert_eq!(fields.boolean("e", &mut errors), None);
    assert_eq!(fields.boolean("f", &mut errors), Some(true));
    assert_eq!(fields.boolean("missing", &mut errors), None);
    assert!(errors.is_empty());
    assert_eq!(fields.boolean("d", &mut errors), None);
    assert_eq!(errors, FieldErrors::single("d", NOT_A_BOOLEAN));
}

/// Property tests: decoding never panics, never fails as a server
/// error, and round-trips JSON and forms.
mod properties {
    use super::*;
    use crate::service::Error;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
    #[test]
            fn body_decoding_never_panics_nor_fails_as_a_server_error(
                content_type in prop_oneof![
                    Just("application/json".to_owned()),
                    Just("application/x-www-form-urlencoded; charset=utf-8".to_owned()),
                    "\\PC{0,40}",
                ],
                body in proptest::collection::vec(any::<u8>(), 0..300),
            ) {
                match Fields::decode(&content_type, &body) {
                    Ok(_) | Err(ApiError::BadRequest(_) | ApiError::Service(Error::Invalid(_)) | ApiError::UnsupportedMediaType(_)) => {}
                    Err(other) => prop_assert!(false, "unexpected error {other:?}"),
                }
            }

            #[test]
            fn json_objects_of_strings_round_trip(fields in proptest::collection::btree_map("\\PC{0,10}", "\\PC{0,20}", 0..6)) {
                let body = serde_json::to_vec(&fields).expect("encodes");
                let decoded = Fields::decode("application/json", &body).expect("encodes");
                for (name, value) in &fields {
                    prop_assert_eq!(decoded.text(name), Ok(Some(value.as_str())));
                }
            }

            #[test]
            fn forms_round_trip_and_the_last_repeat_wins(pairs in proptest::collection::vec(("[a-c]{1,2}", "\\PC{0,20}"), 1..8)) {
                let body = serde_urlencoded::to_string(&pairs).expect("encodes");
                let decoded = Fields::decode("application/x-www-form-urlencoded", body.as_bytes()).expect("encodes");
                let last: BTreeMap<&str, &str> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                for (name, value) in last {
                    prop_assert_eq!(decoded.text(name), Ok(Some(value)));
                }
            }
        }
}
