//! Property tests: no input panics, and `check_all` agrees key by key with the typed parsers.

use super::table::example_param;
use crate::annotations::{
    ANNOTATIONS, AnnotationSpec, Annotations, BackendAnnotations, IngressAnnotations, PREFIX,
    Scope, check_all,
};
use proptest::prelude::*;

const JSON_KEYS: &[&str] = &[
    "type",
    "Type",
    "TYPE",
    "redirectConfig",
    "RedirectConfig",
    "fixedResponseConfig",
    "forwardConfig",
    "statusCode",
    "StatusCode",
    "targetGroups",
    "serviceName",
    "servicePort",
    "weight",
    "targetGroupARN",
    "targetGroupName",
    "HTTP",
    "HTTPS",
    "port",
    "mode",
    "trustStore",
    "advertiseTrustStoreCaNames",
    "field",
    "values",
    "Values",
    "regexValues",
    "hostHeaderConfig",
    "sourceIPConfig",
    "queryStringConfig",
    "key",
    "value",
    "urlRewriteConfig",
    "rewrites",
    "regex",
    "jwksEndpoint",
    "issuer",
    "additionalClaims",
    "format",
    "name",
    "userPoolARN",
    "secretName",
];

const JSON_STRINGS: &[&str] = &[
    "redirect",
    "forward",
    "fixed-response",
    "HTTP_301",
    "503",
    "verify",
    "off",
    "on",
    "passthrough",
    "host-header",
    "source-ip",
    "query-string",
    "url-rewrite",
    "single-string",
    "10.0.0.0/8",
    "",
    "x",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0i64..70_000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(JSON_STRINGS).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(JSON_KEYS), inner), 0..6).prop_map(
                |entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }
            ),
        ]
    })
}

/// Values of every kind, plus examples with junk spliced in.
fn values() -> impl Strategy<Value = String> {
    let examples: Vec<&'static str> = ANNOTATIONS.iter().map(|spec| spec.example).collect();
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "[-+]?[0-9]{1,12}",
        "[a-zA-Z0-9=,\\\\ ._:/-]{0,30}",
        (
            prop::sample::select(examples),
            any::<prop::sample::Index>(),
            "[ -~]{0,3}"
        )
            .prop_map(|(example, at, junk)| {
                let cut = at.index(example.len() + 1);
                match (example.get(..cut), example.get(cut..)) {
                    (Some(head), Some(tail)) => format!("{head}{junk}{tail}"),
                    _ => example.to_owned(),
                }
            }),
        json_value().prop_map(|v| v.to_string()),
    ]
}

/// Asserts that `check_all` fails on the key exactly when the typed parse does, with the same message.
fn agree(spec: &AnnotationSpec, key: &str, value: &str) -> Result<(), TestCaseError> {
    let annotations = Annotations::from([(key.to_owned(), value.to_owned())]);
    let report = check_all(&annotations);
    prop_assert!(report.unknown.is_empty(), "{key} reported unknown");
    let ingress = IngressAnnotations::parse(&annotations);
    let backend = BackendAnnotations::parse(&Annotations::new(), &annotations);
    let typed = match (spec.scope, ingress, backend) {
        (Scope::Backend, Ok(_), result) => result.err(),
        (Scope::Backend, Err(errors), _) => {
            return Err(TestCaseError::fail(format!(
                "backend key {key} failed the Ingress parse: {errors:?}"
            )));
        }
        (_, result, Ok(_)) => result.err(),
        (_, Ok(_), Err(errors)) if spec.suffix != "tags" => {
            return Err(TestCaseError::fail(format!(
                "Ingress key {key} failed the backend parse: {errors:?}"
            )));
        }
        (_, result, Err(_)) => result.err(),
    };
    prop_assert_eq!(
        report.errors.clone(),
        typed.clone().unwrap_or_default(),
        "{} = {:?}",
        key,
        value
    );
    if let Some(errors) = typed {
        prop_assert_eq!(errors.len(), 1);
        prop_assert_eq!(&errors[0].key, key);
        prop_assert!(spec.scope != Scope::Output);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn check_all_agrees_with_the_typed_parsers(value in values(), param in "[ -~]{0,12}") {
        for spec in ANNOTATIONS {
            if spec.templated {
                agree(spec, &format!("{PREFIX}{}{}", spec.suffix, example_param(spec.suffix)), &value)?;
                agree(spec, &format!("{PREFIX}{}{param}", spec.suffix), &value)?;
            } else {
                agree(spec, &spec.key(), &value)?;
            }
        }
    }

    #[test]
    fn arbitrary_annotation_maps_never_panic(
        entries in prop::collection::vec(
            (
                prop_oneof![
                    prop::sample::select(ANNOTATIONS.iter().map(AnnotationSpec::key).collect::<Vec<_>>()),
                    "[ -~]{0,30}".prop_map(|s| format!("{PREFIX}{s}")),
                    any::<String>(),
                ],
                values(),
            ),
            0..12,
        ),
    ) {
        let annotations: Annotations = entries.into_iter().collect();
        let report = check_all(&annotations);
        let ingress = IngressAnnotations::parse(&annotations);
        let backend = BackendAnnotations::parse(&annotations, &annotations);
        // every typed error is also reported by check_all
        for error in ingress.err().into_iter().chain(backend.err()).flatten() {
            prop_assert!(report.errors.contains(&error), "{error} missing from {:?}", report.errors);
        }
        for unknown in &report.unknown {
            prop_assert!(annotations.contains_key(&unknown.key));
        }
    }
}
