//! Deployer errors: which call failed, on which stack resource, and a stable category that
//! metrics, retries and the controller's requeue policy can key on.

use std::fmt;
use std::time::Duration;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use model::stack::ResourceType;

use super::ownership::Owner;
pub use super::resource_ref::ResourceRef;

/// What kind of failure an error is; stable strings for metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCategory {
    /// AWS asked us to slow down.
    Throttled,
    /// AWS refused the request's content (a field value, a combination of fields).
    Validation,
    /// The resource named in the call does not exist (any more).
    NotFound,
    /// The resource is in use, a duplicate, or owned by someone else.
    Conflict,
    /// An account or resource quota was reached.
    LimitExceeded,
    /// The credentials may not do this.
    Permission,
    /// AWS failed (5xx).
    Internal,
    /// No usable answer: connection failure, timeout, unparseable response.
    Transport,
    /// The deploy was stopped on purpose (the mutation limit).
    Aborted,
    /// The desired stack itself is inconsistent.
    InvalidStack,
    /// This replica lost (or never had) the leader lease: the call was not sent.
    NotLeader,
    /// AWS refused a call for something that is not in place yet and comes by itself (the ALB
    /// listener a frontend NLB's target group registers the ALB on): the next reconcile tries
    /// again.
    NotReady,
}

impl ErrorCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Validation => "validation",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::LimitExceeded => "limit_exceeded",
            Self::Permission => "permission",
            Self::Internal => "internal",
            Self::Transport => "transport",
            Self::Aborted => "aborted",
            Self::InvalidStack => "invalid_stack",
            Self::NotLeader => "not_leader",
            Self::NotReady => "not_ready",
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Internal | Self::Transport)
    }

    /// The category of an AWS error code (and HTTP status, when the code says nothing).
    pub fn of_code(code: &str, status: Option<u16>) -> Self {
        const THROTTLING: &[&str] = &[
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestThrottled",
            "RequestThrottledException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
            "SlowDown",
            "PriorRequestNotComplete",
            "BandwidthLimitExceeded",
            "EC2ThrottledException",
        ];
        const INTERNAL: &[&str] = &[
            "InternalFailure",
            "InternalError",
            "InternalServiceError",
            "InternalServerError",
            "ServiceUnavailable",
            "ServiceUnavailableException",
            "Unavailable",
        ];
        const PERMISSION: &[&str] = &[
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "AuthFailure",
            "OptInRequired",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
        ];
        const CONFLICT: &[&str] = &[
            "PriorityInUse",
            "ResourceInUse",
            "DependencyViolation",
            "IncorrectState",
            "OperationNotPermitted",
        ];
        if THROTTLING.contains(&code) {
            Self::Throttled
        } else if INTERNAL.contains(&code) {
            Self::Internal
        } else if PERMISSION.contains(&code) {
            Self::Permission
        } else if code.ends_with("NotFound") || code.ends_with("NotFoundException") {
            Self::NotFound
        } else if CONFLICT.contains(&code)
            || code.starts_with("Duplicate")
            || code.ends_with(".Duplicate")
            || code.ends_with("InUse")
        {
            Self::Conflict
        } else if code.starts_with("TooMany") || code.ends_with("LimitExceeded") {
            Self::LimitExceeded
        } else if code.is_empty() {
            match status {
                Some(s) if s >= 500 => Self::Internal,
                Some(429) => Self::Throttled,
                Some(_) => Self::Validation,
                None => Self::Transport,
            }
        } else if status.is_some_and(|s| s >= 500) {
            Self::Internal
        } else {
            Self::Validation
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS call that failed, reduced to what we act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsFailure {
    /// The AWS error code, e.g. `ValidationError`; empty when there was no error response.
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
    pub category: ErrorCategory,
}

impl AwsFailure {
    /// Classifies an SDK error of any of our clients.
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        if let Some(refused) = not_leader(err) {
            return Self {
                code: String::new(),
                message: refused.to_string(),
                status,
                category: ErrorCategory::NotLeader,
            };
        }
        match err {
            SdkError::ServiceError(_) => {
                let code = err.code().unwrap_or_default().to_owned();
                let message = err
                    .message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| DisplayErrorContext(err).to_string());
                let category = ErrorCategory::of_code(&code, status);
                Self {
                    code,
                    message,
                    status,
                    category,
                }
            }
            SdkError::ConstructionFailure(_) => Self {
                code: String::new(),
                message: DisplayErrorContext(err).to_string(),
                status,
                category: ErrorCategory::Validation,
            },
            _ => Self {
                code: String::new(),
                message: DisplayErrorContext(err).to_string(),
                status,
                category: match status {
                    Some(s) if s >= 500 => ErrorCategory::Internal,
                    _ => ErrorCategory::Transport,
                },
            },
        }
    }
}

/// The write gate's refusal inside an SDK error (an interceptor error, some sources deep).
fn not_leader<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a super::aws::NotLeader> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<super::aws::NotLeader>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

/// The field a validation message names, e.g. `healthCheckPath` in
/// "Value '..' at 'healthCheckPath' failed to satisfy constraint".
pub fn field_from_message(message: &str) -> Option<String> {
    let (_, rest) = message.split_once(" at '")?;
    let (field, _) = rest.split_once('\'')?;
    (!field.is_empty()).then(|| field.to_owned())
}

fn field_note(field: &Option<String>) -> String {
    field
        .as_deref()
        .map(|f| format!(", field {f}"))
        .unwrap_or_default()
}

fn noun(resource: &ResourceRef) -> &'static str {
    match resource.resource_type {
        ResourceType::ListenerRule => "rule",
        _ => "listener",
    }
}

fn place(resource: &ResourceRef) -> &'static str {
    match resource.resource_type {
        ResourceType::ListenerRule => "priority",
        _ => "port",
    }
}

/// Why a deploy failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An AWS call failed (after the SDK's and our own retries, where the error was retryable).
    #[error("{operation} for {resource} failed ({category}{note}): {code}: {message}", note = field_note(.field))]
    Aws {
        operation: &'static str,
        resource: ResourceRef,
        category: ErrorCategory,
        code: String,
        message: String,
        /// The request field the error names, when AWS says which.
        field: Option<String>,
    },
    /// The stack cannot be deployed as it is (an unresolvable reference, a value out of range).
    #[error("{resource}: field {field}: {message}")]
    InvalidStack {
        resource: ResourceRef,
        field: String,
        message: String,
    },
    /// An AWS resource that is in the way (same name, same port, same priority) does not carry our
    /// cluster and stack tags; we never adopt, modify or delete such a resource.
    #[error(
        "{resource}: {existing} already exists and is not owned by cluster {cluster:?} stack {stack:?}; refusing to adopt or change it"
    )]
    NotOwned {
        resource: ResourceRef,
        existing: String,
        cluster: String,
        stack: String,
    },
    /// A listener or rule on a load balancer of ours carries another cluster's or stack's tags
    /// and sits where the stack wants one of its own (the same port, the same priority). It is
    /// left alone; the deploy stops here rather than fail on, or work around, a duplicate.
    #[error(
        "{resource}: {existing} belongs to {owner}, not to cluster {cluster:?} stack {stack:?}; leaving it alone (remove it, or give the stack's {kind} another {place})",
        kind = noun(.resource), place = place(.resource)
    )]
    OwnedByOther {
        resource: ResourceRef,
        existing: String,
        /// Boxed to keep the error small.
        owner: Box<Owner>,
        cluster: String,
        stack: String,
    },
    /// The deploy stopped on purpose before a mutating call beyond the configured limit.
    #[error(
        "deploy of stack {stack:?} stopped before mutating call {next}: mutation limit reached"
    )]
    Aborted { stack: String, next: usize },
    /// A dry run reached a mutating call; dry runs only read, so this is a bug of ours.
    #[error("dry run of {resource} reached the mutating call {operation}; nothing was changed")]
    DryRunMutation {
        operation: &'static str,
        resource: ResourceRef,
    },
    /// Registering the ALB in a frontend NLB's target group (target type `alb`) was refused,
    /// as AWS does until the ALB has a listener on the registered port: the rest of the deploy
    /// is done, and the next reconcile registers it (upstream requeues after 15 s with this
    /// message, its typo included).
    #[error(
        "Failed to register target, retrying after deplay for target group: {target_group_arn} ({resource}): {last}"
    )]
    TargetNotReady {
        resource: ResourceRef,
        target_group_arn: String,
        last: Box<DeployError>,
    },
    /// A call kept failing with a retryable-for-a-while error (`DependencyViolation` while ENIs
    /// release, `ResourceInUse` while a load balancer goes away) for longer than allowed.
    #[error("{operation} for {resource} kept failing for {waited:?}: {last}")]
    TimedOut {
        operation: &'static str,
        resource: ResourceRef,
        waited: Duration,
        last: Box<DeployError>,
    },
}

impl DeployError {
    /// Builds the error of a failed AWS call.
    pub fn aws(operation: &'static str, resource: &ResourceRef, failure: AwsFailure) -> Self {
        let field = if failure.category == ErrorCategory::Validation {
            field_from_message(&failure.message)
        } else {
            None
        };
        Self::Aws {
            operation,
            resource: resource.clone(),
            category: failure.category,
            code: failure.code,
            message: failure.message,
            field,
        }
    }

    pub fn invalid(
        resource: &ResourceRef,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::InvalidStack {
            resource: resource.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A stable category for metrics and requeue decisions.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::Aws { category, .. } => *category,
            Self::InvalidStack { .. } => ErrorCategory::InvalidStack,
            Self::NotOwned { .. } | Self::OwnedByOther { .. } => ErrorCategory::Conflict,
            Self::Aborted { .. } | Self::DryRunMutation { .. } => ErrorCategory::Aborted,
            Self::TimedOut { last, .. } => last.category(),
            Self::TargetNotReady { .. } => ErrorCategory::NotReady,
        }
    }

    /// The AWS error code, if an AWS call failed.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Aws { code, .. } => Some(code),
            Self::TimedOut { last, .. } | Self::TargetNotReady { last, .. } => last.code(),
            _ => None,
        }
    }

    /// The stack resource the error is about.
    pub fn resource(&self) -> Option<&ResourceRef> {
        match self {
            Self::Aws { resource, .. }
            | Self::InvalidStack { resource, .. }
            | Self::NotOwned { resource, .. }
            | Self::OwnedByOther { resource, .. }
            | Self::TimedOut { resource, .. }
            | Self::TargetNotReady { resource, .. }
            | Self::DryRunMutation { resource, .. } => Some(resource),
            Self::Aborted { .. } => None,
        }
    }
}
