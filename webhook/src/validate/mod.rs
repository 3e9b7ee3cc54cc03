//! Admission validators: pure functions over the object and a [`contract::cluster::ClusterView`].

pub mod ingress;
pub mod service;
pub mod target_group_binding;

use contract::annotations::UnknownAnnotation;

/// The admission operation a rule runs for (DELETE and CONNECT are always allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
}

/// A validator's answer: the reasons to deny (empty = allow) and warnings for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Stable category of the first error (metric label).
    pub category: Option<&'static str>,
    /// Every reason to deny, in the order found.
    pub errors: Vec<String>,
    /// Shown by `kubectl` as `Warning:` lines; never block.
    pub warnings: Vec<String>,
}

impl Verdict {
    pub fn error(&mut self, category: &'static str, message: impl Into<String>) {
        self.category.get_or_insert(category);
        self.errors.push(message.into());
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Record one error and finish at once.
    pub fn deny(mut self, category: &'static str, message: impl Into<String>) -> Self {
        self.error(category, message);
        self
    }

    /// The denial message naming the object, `<object>: <error>; <error>`, if any error.
    pub fn message(&self, object: &str) -> Option<String> {
        (!self.errors.is_empty()).then(|| format!("{object}: {}", self.errors.join("; ")))
    }

    pub fn allowed(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The warning for an annotation key under a known prefix that no parser reads.
pub fn unknown_annotation_warning(unknown: &UnknownAnnotation) -> String {
    match &unknown.suggestion {
        Some(s) => format!(
            "unknown annotation {} is ignored (did you mean {s}?)",
            unknown.key
        ),
        None => format!("unknown annotation {} is ignored", unknown.key),
    }
}
