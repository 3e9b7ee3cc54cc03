use super::ann;
use crate::annotations::{
    ANNOTATIONS, Annotations, BackendAnnotations, IngressAnnotations, PREFIX, Scope, ValueKind,
    check_all, lookup,
};
use std::collections::BTreeSet;

/// An example key parameter for each templated family.
pub(super) fn example_param(suffix: &str) -> &'static str {
    match suffix {
        "actions." | "conditions." | "transforms." => "my-svc",
        "listener-attributes." => "HTTPS-443",
        "target-control-port." => "my-svc.8080",
        other => panic!("no example parameter for templated family {other}"),
    }
}

#[test]
fn table_is_well_formed() {
    assert!(ANNOTATIONS.len() >= 70, "only {} keys", ANNOTATIONS.len());
    let mut seen = BTreeSet::new();
    for spec in ANNOTATIONS {
        assert!(seen.insert(spec.suffix), "duplicate {}", spec.suffix);
        assert_eq!(
            spec.templated,
            spec.suffix.ends_with('.'),
            "{}",
            spec.suffix
        );
        assert!(!spec.doc.is_empty(), "{} has no doc", spec.suffix);
        assert!(!spec.example.is_empty(), "{} has no example", spec.suffix);
        if let ValueKind::Enum(values) = spec.kind {
            assert!(
                values.contains(&spec.example),
                "{} example is not a listed value",
                spec.suffix
            );
            if !spec.default.is_empty() {
                assert!(
                    values.contains(&spec.default),
                    "{} default is not a listed value",
                    spec.suffix
                );
            }
        }
        if spec.templated {
            example_param(spec.suffix);
        }
        assert!(spec.key().starts_with(PREFIX));
    }
    for must in [
        "frontend-nlb-tags",
        "create-acm-cert",
        "acm-pca-arn",
        "target-control-port.",
        "listener-attributes.",
        "web-acl-id",
    ] {
        assert!(seen.contains(must), "{must} missing");
    }
}

#[test]
fn lookup_handles_templated_families() {
    assert_eq!(lookup("scheme").map(|s| s.suffix), Some("scheme"));
    assert_eq!(
        lookup("actions.redirect").map(|s| s.suffix),
        Some("actions.")
    );
    assert_eq!(
        lookup("listener-attributes.HTTPS-443").map(|s| s.kind),
        Some(ValueKind::StringMap)
    );
    assert_eq!(
        lookup("target-control-port.svc.80").map(|s| s.scope),
        Some(Scope::Backend)
    );
    assert_eq!(
        lookup("group.name").and_then(|s| s.params_field),
        Some("group.name")
    );
    assert_eq!(
        lookup("scheme").map(|s| s.kind.to_string()),
        Some("enum (internal | internet-facing)".to_owned())
    );
    assert_eq!(
        lookup("tags").map(|s| s.scope.to_string()),
        Some("group-merge".to_owned())
    );
    assert!(lookup("actions").is_none());
    assert!(lookup("schemes").is_none());
    assert!(lookup("").is_none());
}

/// Every key of the table shows up in the typed structs: its example value changes the parse.
#[test]
fn every_key_is_handled_by_the_typed_structs() {
    let empty_ingress = IngressAnnotations::default();
    let empty_backend = BackendAnnotations::default();
    for spec in ANNOTATIONS {
        let param = if spec.templated {
            example_param(spec.suffix)
        } else {
            ""
        };
        let annotations = ann(&[(&format!("{}{param}", spec.suffix), spec.example)]);
        let report = check_all(&annotations);
        assert!(
            report.errors.is_empty() && report.unknown.is_empty(),
            "{}: {report:?}",
            spec.suffix
        );
        let ingress = IngressAnnotations::parse(&annotations).expect("example is valid");
        let backend =
            BackendAnnotations::parse(&Annotations::new(), &annotations).expect("example is valid");
        match spec.scope {
            Scope::Output => {
                assert_eq!(ingress, empty_ingress, "{}", spec.suffix);
                assert_eq!(backend, empty_backend, "{}", spec.suffix);
            }
            Scope::Backend => {
                assert_ne!(
                    backend, empty_backend,
                    "{} ignored by BackendAnnotations",
                    spec.suffix
                );
                assert_eq!(
                    ingress, empty_ingress,
                    "{} leaked into IngressAnnotations",
                    spec.suffix
                );
            }
            _ => {
                assert_ne!(
                    ingress, empty_ingress,
                    "{} ignored by IngressAnnotations",
                    spec.suffix
                );
                if spec.suffix == "tags" {
                    assert!(backend.tags.is_some(), "tags not seen by target groups");
                } else {
                    assert_eq!(
                        backend, empty_backend,
                        "{} leaked into BackendAnnotations",
                        spec.suffix
                    );
                }
            }
        }
    }
}

#[test]
fn check_all_reports_errors_and_unknown_keys_in_key_order() {
    let mut annotations = ann(&[
        ("scheme", "public"),
        ("Scheme", "internal"),
        ("schema", "internal"),
        ("tag", "a=b"),
        ("action.my-svc", "{}"),
        ("listener-attribute.HTTPS-443", "a=b"),
        ("totally-unknown", "x"),
        ("group.order", "2000"),
        ("listen-ports", r#"[{"HTTP":80}]"#),
        ("target-type", "ip"),
    ]);
    annotations.insert("kubernetes.io/ingress.class".to_owned(), "alb".to_owned());
    annotations.insert(
        "alb.ingress.kubernetes.io".to_owned(),
        "no slash".to_owned(),
    );
    let report = check_all(&annotations);
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "alb.ingress.kubernetes.io/group.order: explicit Ingress group order must be within [-1000:1000], order: 2000",
            "alb.ingress.kubernetes.io/scheme: unknown scheme \"public\", want internal or internet-facing",
        ]
    );
    let unknown: Vec<(&str, Option<&str>)> = report
        .unknown
        .iter()
        .map(|u| {
            (
                u.key.strip_prefix(PREFIX).expect("prefixed"),
                u.suggestion.as_deref().and_then(|s| s.strip_prefix(PREFIX)),
            )
        })
        .collect();
    assert_eq!(
        unknown,
        [
            ("Scheme", Some("scheme")),
            ("action.my-svc", Some("actions.my-svc")),
            (
                "listener-attribute.HTTPS-443",
                Some("listener-attributes.HTTPS-443")
            ),
            ("schema", Some("scheme")),
            ("tag", Some("tags")),
            ("totally-unknown", None),
        ]
    );
    assert!(!report.is_ok());
    assert!(check_all(&ann(&[("scheme", "internal")])).is_ok());
}

#[test]
fn templated_keys_are_checked_with_their_parameter() {
    let report = check_all(&ann(&[
        (
            "actions.",
            r#"{"type":"redirect","redirectConfig":{"statusCode":"HTTP_301"}}"#,
        ),
        ("listener-attributes.TCP-80", "a=b"),
        ("target-control-port.svc.80", "3000"),
        ("conditions.svc", "[]"),
    ]));
    let keys: Vec<&str> = report
        .errors
        .iter()
        .map(|e| e.key.strip_prefix(PREFIX).expect("prefixed"))
        .collect();
    assert_eq!(keys, ["actions.", "listener-attributes.TCP-80"]);
    assert!(report.unknown.is_empty());
}
