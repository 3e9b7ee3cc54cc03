use crate::annotations::json::{Field, IntOrString, Shape, decode, leaf};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inner {
    #[serde(default)]
    status_code: String,
    #[serde(default)]
    port: Option<i32>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Outer {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    redirect_config: Option<Inner>,
    #[serde(default)]
    extra: Option<BTreeMap<String, String>>,
    #[serde(default)]
    items: Vec<Inner>,
}

const INNER: &[Field] = &[leaf("statusCode"), leaf("port")];
const OUTER: Shape = Shape::Struct(&[
    leaf("type"),
    Field {
        name: "redirectConfig",
        shape: Shape::Struct(INNER),
    },
    Field {
        name: "extra",
        shape: Shape::Map(&Shape::Leaf),
    },
    Field {
        name: "items",
        shape: Shape::List(&Shape::Struct(INNER)),
    },
]);

fn outer(raw: &str) -> Outer {
    decode(raw, &OUTER).expect("should decode")
}

#[test]
fn field_names_match_case_insensitively() {
    let want = Outer {
        kind: "redirect".to_owned(),
        redirect_config: Some(Inner {
            status_code: "HTTP_301".to_owned(),
            port: None,
        }),
        ..Outer::default()
    };
    for raw in [
        r#"{"type":"redirect","redirectConfig":{"statusCode":"HTTP_301"}}"#,
        r#"{"Type":"redirect","RedirectConfig":{"StatusCode":"HTTP_301"}}"#,
        r#"{"TYPE":"redirect","REDIRECTCONFIG":{"statuscode":"HTTP_301"}}"#,
    ] {
        assert_eq!(outer(raw), want, "{raw}");
    }
}

#[test]
fn unknown_fields_are_ignored_and_map_keys_kept() {
    let got = outer(r#"{"type":"x","bogus":{"deep":[1,2]},"Extra":{"Key":"v","key":"w"}}"#);
    assert_eq!(got.kind, "x");
    let extra = got.extra.expect("extra present");
    assert_eq!(extra.get("Key").map(String::as_str), Some("v"));
    assert_eq!(extra.get("key").map(String::as_str), Some("w"));
}

#[test]
fn later_duplicates_win_in_document_order_and_exact_names_are_preferred() {
    assert_eq!(outer(r#"{"type":"a","Type":"b"}"#).kind, "b");
    assert_eq!(outer(r#"{"Type":"b","type":"a"}"#).kind, "a");
}

#[test]
fn null_leaves_fields_unset() {
    assert_eq!(
        outer(r#"{"type":null,"redirectConfig":null,"items":null}"#),
        Outer::default()
    );
    assert_eq!(outer("null"), Outer::default());
    let got = outer(r#"{"redirectConfig":{"statusCode":"HTTP_301"},"RedirectConfig":null}"#);
    assert_eq!(got.redirect_config, None);
}

#[test]
fn lists_of_structs_are_normalised_and_trailing_whitespace_allowed() {
    let got = outer("{\"Items\":[{\"StatusCode\":\"a\"},{\"PORT\":5}]}\n");
    assert_eq!(
        got.items,
        vec![
            Inner {
                status_code: "a".to_owned(),
                port: None
            },
            Inner {
                status_code: String::new(),
                port: Some(5)
            },
        ]
    );
}

#[test]
fn integers_decode_like_go() {
    for raw in [
        r#"{"items":[{"port":1.5}]}"#,
        r#"{"items":[{"port":1e2}]}"#,
        r#"{"items":[{"port":"80"}]}"#,
        r#"{"items":[{"port":2147483648}]}"#,
    ] {
        let err = decode::<Outer>(raw, &OUTER).expect_err(raw);
        assert!(err.starts_with("invalid JSON: "), "{err}");
    }
    assert_eq!(outer(r#"{"items":[{"port":-7}]}"#).items[0].port, Some(-7));
}

#[test]
fn syntax_errors() {
    for raw in ["", "{", "{}x", "[1,]", "{'a':1}"] {
        let err = decode::<Outer>(raw, &OUTER).expect_err(raw);
        assert!(err.starts_with("invalid JSON: "), "{err}");
    }
    // a wrong top-level type is an error, not a silent default
    assert!(decode::<Outer>("[]", &OUTER).is_err());
}

#[test]
fn int_or_string() {
    let parse = |raw: &str| serde_json::from_str::<IntOrString>(raw);
    assert_eq!(parse("80").expect("int"), IntOrString::Int(80));
    assert_eq!(
        parse("\"http\"").expect("str"),
        IntOrString::String("http".to_owned())
    );
    assert!(parse("80.5").is_err());
    assert!(parse("4294967296").is_err());
    assert_eq!(
        IntOrString::String("80".to_owned()).normalized(),
        IntOrString::Int(80)
    );
    assert_eq!(
        IntOrString::String("http".to_owned()).normalized(),
        IntOrString::String("http".to_owned())
    );
    assert_eq!(
        serde_json::to_string(&IntOrString::Int(8)).expect("ser"),
        "8"
    );
}
