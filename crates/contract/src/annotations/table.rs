//! Key lookup in the annotation table ([`ANNOTATIONS`] in `keys.rs`, of the types in
//! `spec.rs`), and "did you mean" suggestions for unknown keys.

use super::keys::ANNOTATIONS;
use super::primitives::edit_distance;
pub use super::spec::{AnnotationSpec, Scope, ValueKind};
use super::{PREFIX, UnknownAnnotation};

/// Finds the spec of a key suffix (the part after [`PREFIX`]); templated families match by head.
pub fn lookup(suffix: &str) -> Option<&'static AnnotationSpec> {
    ANNOTATIONS.iter().find(|spec| {
        if spec.templated {
            suffix.starts_with(spec.suffix)
        } else {
            suffix == spec.suffix
        }
    })
}

/// The largest edit distance at which a known key is suggested.
const MAX_SUGGESTION_DISTANCE: usize = 2;

/// An unknown key with a "did you mean" suggestion when a known key is close.
pub fn unknown(key: &str, suffix: &str) -> UnknownAnnotation {
    let mut best: Option<(usize, String)> = None;
    for spec in ANNOTATIONS
        .iter()
        .filter(|spec| spec.scope != Scope::Output)
    {
        let candidate = if spec.templated {
            // Compare the head up to the first '.', and keep what follows it.
            let Some((head, rest)) = suffix.split_once('.') else {
                continue;
            };
            let distance = edit_distance(&format!("{head}."), spec.suffix);
            (distance, format!("{}{rest}", spec.suffix))
        } else {
            let distance = edit_distance(&suffix.to_lowercase(), spec.suffix)
                .min(edit_distance(suffix, spec.suffix));
            (distance, spec.suffix.to_owned())
        };
        if candidate.0 <= MAX_SUGGESTION_DISTANCE && best.as_ref().is_none_or(|b| candidate.0 < b.0)
        {
            best = Some(candidate);
        }
    }
    UnknownAnnotation {
        key: key.to_owned(),
        suggestion: best.map(|(_, suffix)| format!("{PREFIX}{suffix}")),
    }
}
