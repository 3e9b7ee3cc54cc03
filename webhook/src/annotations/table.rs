//! The types describing every `alb.ingress.kubernetes.io/*` annotation (kind, scope, default,
//! docs, value check), key lookup, and "did you mean" suggestions. The table itself is
//! [`ANNOTATIONS`] in `keys.rs`; the README reference is generated from it.

use super::keys::ANNOTATIONS;
use super::primitives::edit_distance;
use super::{PREFIX, UnknownAnnotation};

/// How an annotation's value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    String,
    Bool,
    Int32,
    Int64,
    /// Comma-separated, items trimmed, empty items dropped.
    StringList,
    /// `k=v` pairs separated by commas, `\` escapes.
    StringMap,
    Json,
    /// One of the listed spellings (case-sensitive).
    Enum(&'static [&'static str]),
    /// A port number or a name.
    IntOrString,
}

impl std::fmt::Display for ValueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::String => f.write_str("string"),
            Self::Bool => f.write_str("bool"),
            Self::Int32 => f.write_str("int32"),
            Self::Int64 => f.write_str("int64"),
            Self::StringList => f.write_str("stringList"),
            Self::StringMap => f.write_str("stringMap"),
            Self::Json => f.write_str("json"),
            Self::Enum(values) => write!(f, "enum ({})", values.join(" | ")),
            Self::IntOrString => f.write_str("int or name"),
        }
    }
}

/// How an annotation combines across the Ingresses of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every member may set it, but all set values must agree.
    GroupExclusive,
    /// Merged across members (map union; a key with two values conflicts).
    GroupMerge,
    /// Per listen port, merged across the members using that port.
    PortMerge,
    /// Applies to the rules generated from this Ingress only.
    Ingress,
    /// Per backend: the Service's annotation wins over the Ingress's.
    Backend,
    /// Written by the controller, not read.
    Output,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::GroupExclusive => "group-exclusive",
            Self::GroupMerge => "group-merge",
            Self::PortMerge => "port-merge",
            Self::Ingress => "ingress",
            Self::Backend => "backend",
            Self::Output => "output",
        })
    }
}

/// Checks a value; `param` is the templated part of the key (empty for plain keys).
type Check = fn(&str, &str) -> Result<(), String>;

/// One annotation (or templated family of annotations).
#[derive(Clone, Copy, Debug)]
pub struct AnnotationSpec {
    /// The key after the prefix, e.g. `scheme`; for templated families the fixed head, e.g. `actions.`.
    pub suffix: &'static str,
    /// Whether the key continues after `suffix` (`actions.${name}`).
    pub templated: bool,
    pub kind: ValueKind,
    pub scope: Scope,
    /// The effective default when absent (empty: none / AWS setting left unchanged).
    pub default: &'static str,
    pub doc: &'static str,
    /// The IngressClassParams `spec` field that overrides it, if any.
    pub params_field: Option<&'static str>,
    /// A valid example value (for templated keys, with the example key in `doc`).
    pub example: &'static str,
    check: Check,
}

impl AnnotationSpec {
    /// The full key (for templated families, the key head, e.g. `alb.ingress.kubernetes.io/actions.`).
    pub fn key(&self) -> String {
        format!("{PREFIX}{}", self.suffix)
    }

    /// Checks a value of this annotation; `param` is what follows `suffix` in the key.
    pub fn check(&self, param: &str, raw: &str) -> Result<(), String> {
        (self.check)(param, raw)
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) const fn spec(
    suffix: &'static str,
    kind: ValueKind,
    scope: Scope,
    default: &'static str,
    params_field: Option<&'static str>,
    example: &'static str,
    doc: &'static str,
    check: Check,
) -> AnnotationSpec {
    AnnotationSpec {
        suffix,
        templated: matches!(suffix.as_bytes().last(), Some(b'.')),
        kind,
        scope,
        default,
        doc,
        params_field,
        example,
        check,
    }
}

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
