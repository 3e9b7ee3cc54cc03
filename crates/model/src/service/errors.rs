//! Why a Service's stack cannot be built. Upstream's messages are kept; the reconciler prefixes
//! `Failed build model due to`.

use contract::annotations::AnnotationError;

use crate::stack::DuplicateResource;
use crate::subnets::SubnetError;
use crate::tags::TagError;

/// A Service build failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceBuildError {
    /// Annotations that do not parse, each with its key.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Annotations(Vec<AnnotationError>),
    /// A setting that cannot be built (upstream's message).
    #[error("{0}")]
    Invalid(String),
    /// What the Service itself asks for cannot be built, whatever AWS holds: its ports, its
    /// type, port names in annotations (upstream's message). Refused at admission.
    #[error("{0}")]
    Spec(String),
    #[error(transparent)]
    Subnets(#[from] SubnetError),
    #[error(transparent)]
    Tags(#[from] TagError),
    #[error(transparent)]
    Stack(#[from] DuplicateResource),
}

impl ServiceBuildError {
    /// A stable category (metric label).
    pub fn category(&self) -> &'static str {
        match self {
            Self::Annotations(_) => "annotation",
            Self::Invalid(_) => "invalid_service",
            Self::Spec(_) => "service_spec",
            Self::Subnets(_) => "subnets",
            Self::Tags(_) => "tags",
            Self::Stack(_) => "stack",
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub(crate) fn spec(message: impl Into<String>) -> Self {
        Self::Spec(message.into())
    }
}
