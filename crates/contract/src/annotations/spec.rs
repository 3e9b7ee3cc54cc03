//! The types describing every `alb.ingress.kubernetes.io/*` annotation (kind, scope, default,
//! docs, value check). The table itself is [`ANNOTATIONS`](super::keys::ANNOTATIONS) in
//! `keys.rs`; the README reference is generated from it.

use super::PREFIX;

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
