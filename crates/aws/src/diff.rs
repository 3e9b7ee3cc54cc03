//! What a deploy would do, resource by resource: the result of a dry run
//! ([`Deployer::diff`](super::Deployer::diff)).
//!
//! A dry run walks the same steps as a deploy and compares with the same code; where the deploy
//! would call a mutating API, the dry run records the change instead. Resources the deploy would
//! create have no AWS identity yet: whatever refers to them (a rule forwarding to a new target
//! group, a listener of a new load balancer) sees a `<new …>` placeholder in its place, see
//! [`placeholder`].

use std::fmt::{self, Write as _};

use serde::Serialize;

use model::stack::StackKind;

use super::aws::CallSnapshot;
use super::error::ResourceRef;
use super::ownership::ForeignResource;

/// What happens to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    Create,
    Modify,
    Delete,
    Unchanged,
}

impl ChangeKind {
    /// The table's marker: `+`, `~`, `-`, `=`.
    pub fn symbol(self) -> char {
        match self {
            Self::Create => '+',
            Self::Modify => '~',
            Self::Delete => '-',
            Self::Unchanged => '=',
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Modify => "modify",
            Self::Delete => "delete",
            Self::Unchanged => "unchanged",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field that differs: AWS's value and the wanted one (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field as the API spells it, e.g. `healthCheckPath`, `tags.env`, `attributes.<key>`.
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl FieldChange {
    pub fn new(field: impl Into<String>, from: Option<String>, to: Option<String>) -> Self {
        Self {
            field: field.into(),
            from,
            to,
        }
    }

    /// A change between two present values.
    pub fn values(
        field: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        Self::new(field, Some(from.into()), Some(to.into()))
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(v) => format!("{v:?}"),
            None => "(none)".to_owned(),
        };
        write!(
            f,
            "{}: {} -> {}",
            self.field,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// What the deploy would do to one resource of the stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDiff {
    pub change: ChangeKind,
    #[serde(flatten)]
    pub resource: ResourceRef,
    /// The ARN (or security group ID) of the existing resource; `None` for a create.
    #[serde(rename = "awsID", skip_serializing_if = "Option::is_none")]
    pub aws_id: Option<String>,
    /// For a modify: the fields that drifted. For a create that replaces an existing resource:
    /// the immutable field that forces the replacement.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

impl ResourceDiff {
    pub fn create(resource: &ResourceRef, fields: Vec<FieldChange>) -> Self {
        Self {
            change: ChangeKind::Create,
            resource: resource.clone(),
            aws_id: None,
            fields,
        }
    }

    /// A resource that exists: modified when a field drifted, unchanged otherwise.
    pub fn existing(resource: &ResourceRef, aws_id: &str, fields: Vec<FieldChange>) -> Self {
        Self {
            change: if fields.is_empty() {
                ChangeKind::Unchanged
            } else {
                ChangeKind::Modify
            },
            resource: resource.clone(),
            aws_id: Some(aws_id.to_owned()),
            fields,
        }
    }

    pub fn delete(resource: &ResourceRef, aws_id: &str) -> Self {
        Self {
            change: ChangeKind::Delete,
            resource: resource.clone(),
            aws_id: Some(aws_id.to_owned()),
            fields: Vec::new(),
        }
    }
}

/// How many resources each kind of change touches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    pub create: usize,
    pub modify: usize,
    pub delete: usize,
    pub unchanged: usize,
}

/// What deploying a stack would do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackDiff {
    #[serde(rename = "stackID")]
    pub stack_id: String,
    /// Whose stack it is; only a Service's says so in JSON (`"kind": "service"`), so that the
    /// JSON of IngressGroups reads as before.
    #[serde(skip_serializing_if = "is_ingress", serialize_with = "serialize_kind")]
    pub kind: StackKind,
    /// True for a stack that is no longer wanted at all (its group is gone): everything of it
    /// that AWS still holds would be deleted.
    pub no_longer_planned: bool,
    /// In the order the deploy would act.
    pub resources: Vec<ResourceDiff>,
    /// Listeners and rules on the stack's load balancer that belong to another cluster or
    /// stack: the deploy leaves them alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<ForeignResource>,
    /// The calls the dry run made (all of them reads).
    #[serde(skip)]
    pub calls_by_operation: CallSnapshot,
}

fn is_ingress(kind: &StackKind) -> bool {
    *kind == StackKind::Ingress
}

fn serialize_kind<S: serde::Serializer>(kind: &StackKind, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(kind)
}

/// How a table names a stack of this kind.
fn owner_label(kind: StackKind) -> &'static str {
    match kind {
        StackKind::Ingress => "IngressGroup",
        StackKind::Service => "Service",
    }
}

impl StackDiff {
    pub fn summary(&self) -> DiffSummary {
        let mut s = DiffSummary::default();
        for r in &self.resources {
            match r.change {
                ChangeKind::Create => s.create += 1,
                ChangeKind::Modify => s.modify += 1,
                ChangeKind::Delete => s.delete += 1,
                ChangeKind::Unchanged => s.unchanged += 1,
            }
        }
        s
    }

    /// Whether deploying would change anything.
    pub fn has_changes(&self) -> bool {
        self.resources
            .iter()
            .any(|r| r.change != ChangeKind::Unchanged)
    }

    /// The resources a change of this kind touches.
    pub fn of_kind(&self, change: ChangeKind) -> impl Iterator<Item = &ResourceDiff> {
        self.resources.iter().filter(move |r| r.change == change)
    }
}

/// The short name of a resource type (`TargetGroup` for `AWS::ElasticLoadBalancingV2::TargetGroup`).
fn short_type(resource: &ResourceRef) -> &'static str {
    let full = resource.resource_type.as_str();
    full.rsplit("::").next().unwrap_or(full)
}

/// What stands in for the AWS identity of a resource a dry run would create, e.g.
/// `<new TargetGroup ns/ing-svc:80>`. Unique per resource, so that two new listeners never
/// share one.
pub fn placeholder(resource: &ResourceRef) -> String {
    format!("<new {} {}>", short_type(resource), resource.id)
}

/// Whether a value is a [`placeholder`].
pub fn is_placeholder(value: &str) -> bool {
    value.starts_with("<new ") && value.ends_with('>')
}

/// The human-readable form of some diffs: per stack a count line, then one line per resource
/// that changes (with the drifted fields below a modify), then one `!` line per listener or rule
/// of someone else's left alone. Unchanged resources are only counted.
pub fn table(diffs: &[StackDiff]) -> String {
    let mut out = String::new();
    for diff in diffs {
        let s = diff.summary();
        let note = if diff.no_longer_planned {
            " (no longer planned)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{} {}{note}: + {} to create, ~ {} to modify, - {} to delete, = {} unchanged",
            owner_label(diff.kind),
            diff.stack_id,
            s.create,
            s.modify,
            s.delete,
            s.unchanged
        );
        for r in diff
            .resources
            .iter()
            .filter(|r| r.change != ChangeKind::Unchanged)
        {
            let id = if r.resource.id.is_empty() {
                "(no resource id)"
            } else {
                r.resource.id.as_str()
            };
            let _ = write!(
                out,
                "  {} {:<13} {id:<32}",
                r.change.symbol(),
                short_type(&r.resource)
            );
            if let Some(aws_id) = &r.aws_id {
                let _ = write!(out, " {aws_id}");
            }
            out.push('\n');
            for field in &r.fields {
                let _ = writeln!(out, "      {field}");
            }
        }
        for f in &diff.foreign {
            let _ = writeln!(
                out,
                "  ! {:<13} {:<32} {}\n      left alone: belongs to {}",
                short_type(&f.resource),
                f.resource.id,
                f.aws_id,
                f.owner
            );
        }
        out.push('\n');
    }
    out
}
