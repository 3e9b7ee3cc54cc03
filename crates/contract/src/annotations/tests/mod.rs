//! Tests of the annotation parser, one file per family.

use super::{Annotations, BackendAnnotations, IngressAnnotations, PREFIX};

mod actions;
mod backend;
mod conditions;
mod ingress;
mod json;
mod listener;
mod primitives;
mod props;
mod table;

/// Annotations from `(suffix, value)` pairs, prefixed with [`PREFIX`].
fn ann(pairs: &[(&str, &str)]) -> Annotations {
    pairs
        .iter()
        .map(|(suffix, value)| (format!("{PREFIX}{suffix}"), (*value).to_owned()))
        .collect()
}

/// Parses Ingress annotations that must be valid.
fn ingress(pairs: &[(&str, &str)]) -> IngressAnnotations {
    IngressAnnotations::parse(&ann(pairs)).expect("annotations should be valid")
}

/// The error strings of Ingress annotations that must be invalid.
fn ingress_errors(pairs: &[(&str, &str)]) -> Vec<String> {
    IngressAnnotations::parse(&ann(pairs))
        .expect_err("annotations should be invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The single error message (without the key) for one Ingress annotation.
fn ingress_error(suffix: &str, value: &str) -> String {
    let errors =
        IngressAnnotations::parse(&ann(&[(suffix, value)])).expect_err("should be invalid");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors.into_iter().next().expect("one error");
    assert_eq!(error.key, format!("{PREFIX}{suffix}"));
    error.message
}

/// Parses backend annotations (Service, Ingress) that must be valid.
fn backend(service: &[(&str, &str)], ingress: &[(&str, &str)]) -> BackendAnnotations {
    BackendAnnotations::parse(&ann(service), &ann(ingress)).expect("annotations should be valid")
}

/// The single error message (without the key) for one backend annotation on the Ingress.
fn backend_error(suffix: &str, value: &str) -> String {
    let errors = BackendAnnotations::parse(&Annotations::new(), &ann(&[(suffix, value)]))
        .expect_err("should be invalid");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().expect("one error").message
}
