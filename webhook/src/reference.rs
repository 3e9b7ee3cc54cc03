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

/// Replace the generated section of a README text; `None` when the markers are missing.
pub fn splice(readme: &str) -> Option<String> {
    let start = readme.find(BEGIN_MARKER)? + BEGIN_MARKER.len();
    let end = readme.find(END_MARKER)?;
    if end < start {
        return None;
    }
    Some(format!(
        "{}\n\n{}\n{}",
        &readme[..start],
        annotations_markdown(),
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
    fn splice_needs_both_markers_in_order() {
        assert!(splice("no markers").is_none());
        let reversed = format!("{END_MARKER}\n{BEGIN_MARKER}");
        assert!(splice(&reversed).is_none());
        let text = format!("head\n{BEGIN_MARKER}\nold\n{END_MARKER}\ntail\n");
        let spliced = splice(&text).unwrap();
        assert!(spliced.starts_with("head\n"));
        assert!(spliced.ends_with(&format!("{END_MARKER}\ntail\n")));
        assert!(!spliced.contains("\nold\n"));
        assert_eq!(splice(&spliced).unwrap(), spliced, "splicing is idempotent");
    }
}
