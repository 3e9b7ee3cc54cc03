//! The user-facing annotation reference, rendered from [`crate::annotations::ANNOTATIONS`].
//!
//! The README's reference section is this output (a test keeps them equal), so the table the
//! parser runs on is the only place an annotation is described.

use std::fmt::Write as _;

use crate::annotations::{ANNOTATIONS, AnnotationSpec};

/// Marks the start of the generated section in README.md.
pub const BEGIN_MARKER: &str = "<!-- BEGIN generated annotation reference: `make readme` -->";
/// Marks its end.
pub const END_MARKER: &str = "<!-- END generated annotation reference -->";

/// Markdown table of every annotation, in table order.
pub fn annotations_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "| Annotation (`alb.ingress.kubernetes.io/…`) | Type | Scope | Default | IngressClassParams override | Example | Meaning |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for spec in ANNOTATIONS {
        // Infallible: writing to a String.
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            key_of(spec),
            spec.kind,
            spec.scope,
            cell_or_dash(spec.default),
            spec.params_field
                .map(|f| format!("`spec.{f}`"))
                .unwrap_or_else(|| "—".to_string()),
            code_or_dash(spec.example),
            escape(spec.doc),
        );
    }
    out
}

/// Marks the start of the generated IngressClassParams section in README.md.
pub const PARAMS_BEGIN_MARKER: &str =
    "<!-- BEGIN generated IngressClassParams reference: `make readme` -->";
/// Marks its end.
pub const PARAMS_END_MARKER: &str = "<!-- END generated IngressClassParams reference -->";

/// Markdown table of the IngressClassParams `spec` fields, from the CRD's own schema (the
/// descriptions are the Rust doc comments of the type).
pub fn params_markdown() -> String {
    let mut out = String::from("| `spec` field | Type | Meaning |\n|---|---|---|\n");
    let schema = crate::crd::crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == "IngressClassParams")
        .and_then(|crd| crd.spec.versions.into_iter().next())
        .and_then(|v| v.schema)
        .and_then(|s| s.open_api_v3_schema)
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_default();
    let fields = schema
        .pointer("/properties/spec/properties")
        .and_then(|p| p.as_object())
        .cloned()
        .unwrap_or_default();
    for (name, field) in fields {
        let kind = match field.get("type").and_then(|t| t.as_str()) {
            Some("array") => format!(
                "list of {}",
                field
                    .pointer("/items/type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("object")
            ),
            Some(other) => other.to_string(),
            None => "object".to_string(),
        };
        let enums = field
            .get("enum")
            .and_then(|e| e.as_array())
            .map(|values| {
                let names: Vec<String> = values
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(|v| format!("`{v}`"))
                    .collect();
                format!(" ({})", names.join(", "))
            })
            .unwrap_or_default();
        let description = field
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| `{name}` | {kind}{enums} | {} |",
            escape(description)
        );
    }
    out
}

/// Marks the start of the generated Service annotation section in README.md.
pub const SERVICE_BEGIN_MARKER: &str =
    "<!-- BEGIN generated Service annotation reference: `make readme` -->";
/// Marks its end.
pub const SERVICE_END_MARKER: &str = "<!-- END generated Service annotation reference -->";

/// Markdown table of every Service (NLB) annotation, in table order.
pub fn service_annotations_markdown() -> String {
    use crate::annotations::{SERVICE_ANNOTATIONS, ServiceValueKind};
    let mut out = String::from(
        "| Annotation (`service.beta.kubernetes.io/…`) | Type | Default | Meaning |\n|---|---|---|---|\n",
    );
    for spec in SERVICE_ANNOTATIONS {
        let kind = match spec.kind {
            ServiceValueKind::String => "string".to_owned(),
            ServiceValueKind::Bool => "bool".to_owned(),
            ServiceValueKind::Int32 => "int32".to_owned(),
            ServiceValueKind::StringList => "stringList".to_owned(),
            ServiceValueKind::StringMap => "stringMap".to_owned(),
            ServiceValueKind::Json => "json".to_owned(),
            ServiceValueKind::Enum(values) => format!("enum ({})", values.join(" \\| ")),
        };
        let key = if spec.templated() {
            format!("{}${{…}}", spec.suffix)
        } else {
            spec.suffix.to_owned()
        };
        let _ = writeln!(
            out,
            "| `{key}` | {kind} | {} | {} |",
            cell_or_dash(spec.default),
            escape(spec.doc),
        );
    }
    out
}

/// Replace the generated sections of a README text; `None` when a marker pair is missing.
pub fn splice(readme: &str) -> Option<String> {
    let readme = splice_one(readme, BEGIN_MARKER, END_MARKER, &annotations_markdown())?;
    let readme = splice_one(
        &readme,
        SERVICE_BEGIN_MARKER,
        SERVICE_END_MARKER,
        &service_annotations_markdown(),
    )?;
    splice_one(
        &readme,
        PARAMS_BEGIN_MARKER,
        PARAMS_END_MARKER,
        &params_markdown(),
    )
}

fn splice_one(readme: &str, begin: &str, end_marker: &str, content: &str) -> Option<String> {
    let start = readme.find(begin)? + begin.len();
    let end = readme.find(end_marker)?;
    if end < start {
        return None;
    }
    Some(format!(
        "{}\n\n{}\n{}",
        &readme[..start],
        content,
        &readme[end..]
    ))
}

fn key_of(spec: &AnnotationSpec) -> String {
    if spec.templated {
        format!("{}${{name}}", spec.suffix)
    } else {
        spec.suffix.to_string()
    }
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn cell_or_dash(text: &str) -> String {
    if text.is_empty() {
        "—".to_string()
    } else {
        escape(text)
    }
}

fn code_or_dash(text: &str) -> String {
    if text.is_empty() {
        "—".to_string()
    } else {
        format!("`{}`", text.replace('|', "\\|").replace('`', "'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_annotation_has_a_row() {
        let table = annotations_markdown();
        assert_eq!(table.lines().count(), ANNOTATIONS.len() + 2);
        assert!(table.contains("| `scheme` | "));
        assert!(table.contains("| `actions.${name}` | "));
    }

    #[test]
    fn every_params_field_has_a_row() {
        let table = params_markdown();
        for field in [
            "scheme",
            "subnets",
            "inboundCIDRs",
            "prefixListsIDs",
            "PrefixListsIDs",
        ] {
            assert!(
                table.contains(&format!("| `{field}` |")),
                "{field} missing:\n{table}"
            );
        }
        assert!(table.contains("`internal`, `internet-facing`"), "{table}");
    }

    #[test]
    fn splice_needs_both_markers_in_order() {
        assert!(splice("no markers").is_none());
        let reversed = format!("{END_MARKER}\n{BEGIN_MARKER}");
        assert!(splice(&reversed).is_none());
        let text = format!(
            "head\n{BEGIN_MARKER}\nold\n{END_MARKER}\nmid\n{SERVICE_BEGIN_MARKER}\nold\n{SERVICE_END_MARKER}\n{PARAMS_BEGIN_MARKER}\nold\n{PARAMS_END_MARKER}\ntail\n"
        );
        let spliced = splice(&text).unwrap();
        assert!(spliced.starts_with("head\n"));
        assert!(spliced.ends_with(&format!("{PARAMS_END_MARKER}\ntail\n")));
        assert!(!spliced.contains("\nold\n"));
        assert_eq!(splice(&spliced).unwrap(), spliced, "splicing is idempotent");
    }
}
