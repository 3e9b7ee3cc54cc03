//! Ingress backends made concrete: the Service port to forward to, or the `actions.<name>`
//! annotation when the port is `use-annotation`, with the backend's `conditions.<name>` and
//! `transforms.<name>`. Missing Services and actions become fixed 503 responses when the
//! controller tolerates them.

use std::collections::BTreeSet;

use contract::annotations::{
    Action as AnnotationAction, IntOrString as AnnotationIntOrString, RuleCondition,
    Transform as AnnotationTransform,
};
use k8s_openapi::api::networking::v1::IngressBackend;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Task;
use super::errors::BuildError;
use crate::stack::{FixedResponseConfig, RedirectConfig, TargetGroupStickinessConfig};

/// The port name that makes a backend read its action from `actions.<service name>`.
pub(crate) const USE_ANNOTATION: &str = "use-annotation";
/// Body of the fixed 503 that replaces a forward to a missing Service.
pub(crate) const MISSING_SERVICE_BODY: &str = "Backend service does not exist";
/// Body of the fixed 503 that replaces a missing `actions.<name>` annotation.
pub(crate) const MISSING_ACTION_BODY: &str = "Backend action does not exist";

/// Where one weighted part of a forward goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TupleTarget {
    Arn(String),
    Name(String),
    Service { name: String, port: IntOrString },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ForwardTuple {
    pub target: TupleTarget,
    pub weight: Option<i32>,
}

/// What a backend does with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BackendAction {
    Forward {
        tuples: Vec<ForwardTuple>,
        stickiness: Option<TargetGroupStickinessConfig>,
    },
    Redirect(RedirectConfig),
    FixedResponse(FixedResponseConfig),
}

impl BackendAction {
    /// The Service a forward to exactly one Service targets.
    pub(crate) fn single_service(&self) -> Option<&str> {
        match self {
            Self::Forward { tuples, .. } => match tuples.as_slice() {
                [
                    ForwardTuple {
                        target: TupleTarget::Service { name, .. },
                        ..
                    },
                ] => Some(name),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A backend with everything its rule needs.
#[derive(Clone, Debug)]
pub(crate) struct EnhancedBackend {
    pub conditions: Vec<RuleCondition>,
    pub transforms: Vec<AnnotationTransform>,
    pub action: BackendAction,
}

fn fixed_503(body: &str) -> BackendAction {
    BackendAction::FixedResponse(FixedResponseConfig {
        content_type: Some("text/plain".to_owned()),
        message_body: Some(body.to_owned()),
        status_code: "503".to_owned(),
    })
}

fn to_k8s_port(port: &AnnotationIntOrString) -> IntOrString {
    match port {
        AnnotationIntOrString::Int(n) => IntOrString::Int(*n),
        AnnotationIntOrString::String(s) => IntOrString::String(s.clone()),
    }
}

fn from_annotation_action(action: &AnnotationAction) -> BackendAction {
    match action {
        AnnotationAction::FixedResponse(c) => BackendAction::FixedResponse(FixedResponseConfig {
            content_type: c.content_type.clone(),
            message_body: c.message_body.clone(),
            status_code: c.status_code.clone(),
        }),
        AnnotationAction::Redirect(c) => BackendAction::Redirect(RedirectConfig {
            host: c.host.clone(),
            path: c.path.clone(),
            port: c.port.clone(),
            protocol: c.protocol.clone(),
            query: c.query.clone(),
            status_code: c.status_code.clone(),
        }),
        AnnotationAction::Forward(c) => BackendAction::Forward {
            tuples: c
                .target_groups
                .iter()
                .map(|t| ForwardTuple {
                    target: match (&t.target_group_arn, &t.target_group_name, &t.service_name) {
                        (Some(arn), _, _) => TupleTarget::Arn(arn.clone()),
                        (None, Some(name), _) => TupleTarget::Name(name.clone()),
                        (None, None, service) => TupleTarget::Service {
                            name: service.clone().unwrap_or_default(),
                            port: t
                                .service_port
                                .as_ref()
                                .map_or(IntOrString::Int(0), to_k8s_port),
                        },
                    },
                    weight: t.weight,
                })
                .collect(),
            stickiness: c.target_group_stickiness_config.as_ref().map(|s| {
                TargetGroupStickinessConfig {
                    enabled: s.enabled,
                    duration_seconds: s.duration_seconds,
                }
            }),
        },
    }
}

impl Task<'_> {
    /// The backend of one path (or the default backend) of a member.
    pub(crate) fn enhanced_backend(
        &self,
        member_index: usize,
        backend: &IngressBackend,
    ) -> Result<EnhancedBackend, BuildError> {
        let member = self.member(member_index)?;
        let Some(service) = &backend.service else {
            return Err(BuildError::rule(
                &member.key,
                "missing required \"service\" field",
            ));
        };
        let name = service.name.as_str();
        let conditions = member
            .parsed
            .conditions
            .get(name)
            .cloned()
            .unwrap_or_default();
        let transforms = member
            .parsed
            .transforms
            .get(name)
            .cloned()
            .unwrap_or_default();
        let port = service.port.as_ref();
        let port_name = port
            .and_then(|p| p.name.as_deref())
            .filter(|n| !n.is_empty());
        let mut action = match port_name {
            Some(USE_ANNOTATION) => match member.parsed.actions.get(name) {
                Some(action) => from_annotation_action(action),
                None if self.facts.tolerate_non_existent_backend_action => {
                    fixed_503(MISSING_ACTION_BODY)
                }
                None => {
                    return Err(BuildError::rule(
                        &member.key,
                        format!(
                            "missing {}actions.{name} configuration",
                            contract::annotations::PREFIX
                        ),
                    ));
                }
            },
            Some(port_name) => single_forward(name, IntOrString::String(port_name.to_owned())),
            None => single_forward(
                name,
                IntOrString::Int(port.and_then(|p| p.number).unwrap_or_default()),
            ),
        };
        if let BackendAction::Forward { tuples, .. } = &action {
            let names: BTreeSet<&str> = tuples
                .iter()
                .filter_map(|t| match &t.target {
                    TupleTarget::Service { name, .. } => Some(name.as_str()),
                    _ => None,
                })
                .collect();
            let single = tuples.len() == 1 && names.len() == 1;
            let missing = names
                .into_iter()
                .find(|n| self.service(member.namespace, n).is_none())
                .map(str::to_owned);
            match missing {
                None => {}
                Some(_) if single && self.facts.tolerate_non_existent_backend_service => {
                    action = fixed_503(MISSING_SERVICE_BODY);
                }
                Some(service_name) => {
                    return Err(BuildError::service(
                        &member.key,
                        format!(
                            "services \"{service_name}\" not found in namespace {}",
                            member.namespace
                        ),
                    ));
                }
            }
        }
        Ok(EnhancedBackend {
            conditions,
            transforms,
            action,
        })
    }
}

fn single_forward(service: &str, port: IntOrString) -> BackendAction {
    BackendAction::Forward {
        tuples: vec![ForwardTuple {
            target: TupleTarget::Service {
                name: service.to_owned(),
                port,
            },
            weight: None,
        }],
        stickiness: None,
    }
}
