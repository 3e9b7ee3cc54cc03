//! Why a group could not be turned into a stack. Every error names what is wrong: the Ingress
//! (`namespace/name`), the annotation key or IngressClassParams field, and the value.

use std::fmt;

use contract::annotations::AnnotationError;

use crate::subnets::SubnetError;
use crate::tags::TagError;

/// Where a setting came from: an annotation of an Ingress, or a field of its
/// IngressClassParams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `namespace/name` of the Ingress.
    pub ingress: String,
    /// The full annotation key, or `IngressClassParams spec.<field>`.
    pub key: String,
}

impl Origin {
    /// An `alb.ingress.kubernetes.io/<suffix>` annotation of `ingress`.
    pub fn annotation(ingress: &str, suffix: &str) -> Self {
        Self {
            ingress: ingress.to_owned(),
            key: format!("{}{suffix}", contract::annotations::PREFIX),
        }
    }

    /// A field of the IngressClassParams that applies to `ingress`.
    pub fn class_params(ingress: &str, field: &str) -> Self {
        Self {
            ingress: ingress.to_owned(),
            key: format!("IngressClassParams spec.{field}"),
        }
    }

    /// Something of the Ingress that is not an annotation, e.g. `spec.defaultBackend`.
    pub fn spec(ingress: &str, field: &str) -> Self {
        Self {
            ingress: ingress.to_owned(),
            key: field.to_owned(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ingress {}: {}", self.ingress, self.key)
    }
}

/// Annotation errors of one object, joined as `key: message; key: message`.
fn join_errors(errors: &[AnnotationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A failure to build one IngressGroup's stack. Nothing of the group is applied.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// Annotations of an Ingress that the parser rejects.
    #[error("Ingress {ingress}: {}", join_errors(.errors))]
    Annotations {
        ingress: String,
        errors: Vec<AnnotationError>,
    },
    /// Backend annotations (Service merged over Ingress) that the parser rejects.
    #[error("Ingress {ingress}: Service {service}: {}", join_errors(.errors))]
    BackendAnnotations {
        ingress: String,
        service: String,
        errors: Vec<AnnotationError>,
    },
    /// A value that parses but cannot be used.
    #[error("{origin}: {message}")]
    InvalidValue { origin: Origin, message: String },
    /// Members of the group disagree on a group-wide setting.
    #[error("{origin}: {message}")]
    Conflict { origin: Origin, message: String },
    /// An IngressClassParams value that cannot be used.
    #[error("{origin}: {message}")]
    ClassParams { origin: Origin, message: String },
    /// No usable subnets. `context` says how they were asked for.
    #[error("{context}: {error}")]
    Subnets { context: String, error: SubnetError },
    /// Security groups that cannot be resolved or combined.
    #[error("{message}")]
    SecurityGroups { message: String },
    /// A backend Service that is missing or does not fit.
    #[error("Ingress {ingress}: {message}")]
    Service { ingress: String, message: String },
    /// An HTTPS listener without certificates, or certificate discovery that failed.
    #[error("{message}")]
    Certificate { message: String },
    /// A routing rule that cannot be expressed (paths, conditions, backends).
    #[error("Ingress {ingress}: {message}")]
    Rule { ingress: String, message: String },
    /// Authentication settings that cannot be completed (Secrets, identity providers).
    #[error("Ingress {ingress}: {message}")]
    Auth { ingress: String, message: String },
    /// Tags that cannot be used.
    #[error("{error}")]
    Tags { error: TagError },
    /// A member being deleted still protects its load balancer.
    #[error("deletion_protection is enabled, cannot delete the ingress: {name}")]
    DeletionProtection { namespace: String, name: String },
    /// A listener setting that cannot be satisfied across the group.
    #[error("{message}")]
    Listener { message: String },
    /// A builder bug: two resources with the same type and ID.
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl BuildError {
    /// A stable, low-cardinality category for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Annotations { .. }
            | Self::BackendAnnotations { .. }
            | Self::InvalidValue { .. } => "annotation",
            Self::Conflict { .. } => "conflict",
            Self::ClassParams { .. } => "class_params",
            Self::Subnets { .. } => "subnet",
            Self::SecurityGroups { .. } => "security_group",
            Self::Service { .. } => "service",
            Self::Certificate { .. } => "certificate",
            Self::Rule { .. } => "rule",
            Self::Auth { .. } => "auth",
            Self::Tags { .. } => "tags",
            Self::DeletionProtection { .. } => "deletion_protection",
            Self::Listener { .. } => "listener",
            Self::Internal { .. } => "internal",
        }
    }

    pub(crate) fn conflict(origin: Origin, message: impl Into<String>) -> Self {
        Self::Conflict {
            origin,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(origin: Origin, message: impl Into<String>) -> Self {
        Self::InvalidValue {
            origin,
            message: message.into(),
        }
    }

    pub(crate) fn rule(ingress: &str, message: impl Into<String>) -> Self {
        Self::Rule {
            ingress: ingress.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn service(ingress: &str, message: impl Into<String>) -> Self {
        Self::Service {
            ingress: ingress.to_owned(),
            message: message.into(),
        }
    }
}

impl From<TagError> for BuildError {
    fn from(error: TagError) -> Self {
        Self::Tags { error }
    }
}

impl From<crate::stack::DuplicateResource> for BuildError {
    fn from(error: crate::stack::DuplicateResource) -> Self {
        Self::Internal {
            message: error.to_string(),
        }
    }
}

/// A list as Go's `%v` prints a string slice: `[a b c]`.
pub(crate) fn go_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", parts.join(" "))
}
