//! `plan`: manifests in, the desired stack of every IngressGroup (and NLB Service) they define
//! out.
//!
//! The same decisions the controller makes, over files instead of watches: which Ingresses are
//! ours (`contract::class::classify`), which group each joins (IngressClassParams
//! `group.name`, else the `group.name` annotation, else its own implicit group), which
//! Ingresses are leaving a group (being deleted, or carrying the finalizer of a group they no
//! longer resolve to), and then [`builder::build`] per group. No AWS: subnets, certificates and
//! security groups come from the [`ClusterFacts`].

use std::collections::BTreeMap;
use std::sync::Arc;

use contract::annotations::{Annotations, IngressAnnotations, PREFIX};
use contract::class::{ClassError, Classification, classify};
use contract::crd::IngressClassParams;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;

use crate::ClusterFacts;
use crate::builder::{self, BuildError, GroupInputs, Member, ObjectMap};
use crate::group::GroupId;
use crate::manifests::Manifests;
use crate::stack::Stack;

/// Why a plan could not be made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The class of an Ingress that already belongs to a group cannot be resolved.
    #[error("Ingress {ingress}: Ingress has invalid IngressClass configuration: {error}")]
    Class { ingress: String, error: ClassError },
    /// A group's stack cannot be built.
    #[error("IngressGroup {group}: {error}")]
    Build { group: String, error: BuildError },
    /// A Service's NLB stack cannot be built.
    #[error("Service {service}: {error}")]
    Service {
        service: String,
        error: crate::service::ServiceBuildError,
    },
}

impl PlanError {
    /// A stable category: the class error's or the build error's.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Class { error, .. } => error.category(),
            Self::Build { error, .. } => error.category(),
            Self::Service { error, .. } => error.category(),
        }
    }
}

fn namespaced<
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
>(
    object: &T,
) -> (String, String) {
    let meta = object.metadata();
    (
        meta.namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The explicit group an Ingress asks for by annotation: `Some(Ok(name))`, `Some(Err(_))` when
/// the annotation is invalid, `None` when absent.
fn annotated_group_name(ingress: &Ingress) -> Option<Result<String, ()>> {
    let key = format!("{PREFIX}group.name");
    let raw = ingress.metadata.annotations.as_ref()?.get(&key)?;
    let only: Annotations = BTreeMap::from([(key, raw.clone())]);
    Some(
        IngressAnnotations::parse(&only)
            .ok()
            .and_then(|a| a.group_name)
            .ok_or(()),
    )
}

/// The groups named by an Ingress's finalizers.
fn finalizer_groups(ingress: &Ingress) -> Vec<GroupId> {
    let (namespace, name) = namespaced(ingress);
    ingress
        .metadata
        .finalizers
        .iter()
        .flatten()
        .filter_map(|f| GroupId::from_finalizer(f, &namespace, &name))
        .collect()
}

#[derive(Default)]
struct GroupMembers<'a> {
    active: Vec<(&'a Ingress, Option<Arc<IngressClassParams>>)>,
    inactive: Vec<&'a Ingress>,
}

/// The stacks of every IngressGroup the manifests define (including groups that only have
/// leaving members: their stacks are empty), by group ID, then those of the Services that
/// become NLBs.
pub fn plan(manifests: &Manifests, facts: &ClusterFacts) -> Result<Vec<Stack>, PlanError> {
    let mut stacks = plan_ingresses(manifests, facts)?;
    plan_services(manifests, facts, &mut stacks)?;
    Ok(stacks)
}

/// The IngressGroups' stacks only, by group ID.
pub fn plan_ingresses(
    manifests: &Manifests,
    facts: &ClusterFacts,
) -> Result<Vec<Stack>, PlanError> {
    let cluster = manifests.static_cluster();
    let mut groups: BTreeMap<GroupId, GroupMembers<'_>> = BTreeMap::new();
    for ingress in &manifests.ingresses {
        let (namespace, name) = namespaced(ingress);
        let finalized = finalizer_groups(ingress);
        let current = if ingress.metadata.deletion_timestamp.is_some() {
            None
        } else {
            match classify(ingress, &cluster, &facts.ingress_class, true) {
                Ok(Classification::NotOurs) => None,
                Ok(Classification::Ours(config)) => {
                    let params = config.params;
                    let from_params = params
                        .as_ref()
                        .and_then(|p| p.spec.group.as_ref())
                        .map(|g| GroupId::explicit(g.name.clone()).map_err(drop));
                    let group = match from_params.or_else(|| {
                        annotated_group_name(ingress)
                            .map(|r| r.and_then(|n| GroupId::explicit(n).map_err(drop)))
                    }) {
                        Some(Ok(group)) => Some(group),
                        // An invalid group name makes the Ingress leave its group.
                        Some(Err(())) => None,
                        None => Some(GroupId::implicit(namespace.clone(), name.clone())),
                    };
                    group.map(|g| (g, params))
                }
                // Upstream tolerates a broken class on an Ingress that joined no group yet.
                Err(_) if finalized.is_empty() => None,
                Err(error) => {
                    return Err(PlanError::Class {
                        ingress: format!("{namespace}/{name}"),
                        error,
                    });
                }
            }
        };
        if let Some((group, params)) = &current {
            groups
                .entry(group.clone())
                .or_default()
                .active
                .push((ingress, params.clone()));
        }
        for group in finalized {
            if current.as_ref().is_some_and(|(g, _)| *g == group) {
                continue;
            }
            groups.entry(group).or_default().inactive.push(ingress);
        }
    }

    let services: ObjectMap<Service> = manifests
        .services
        .iter()
        .map(|s| (namespaced(s), s.clone()))
        .collect();
    let mut stacks = Vec::with_capacity(groups.len());
    for (group, members) in &groups {
        let inputs = GroupInputs {
            group: group.clone(),
            members: members
                .active
                .iter()
                .map(|(ingress, params)| Member {
                    ingress,
                    params: params.as_ref().map(|p| &p.spec),
                })
                .collect(),
            inactive_members: members.inactive.clone(),
            services: &services,
            secrets: &manifests.secrets,
            facts,
            existing_lb: None,
        };
        let stack = builder::build(&inputs).map_err(|error| PlanError::Build {
            group: group.to_string(),
            error,
        })?;
        stacks.push(stack);
    }
    Ok(stacks)
}

/// The NLB stacks of the Services that are ours (or still carry our finalizer: their stack is
/// empty, everything they own is to be deleted), after the IngressGroups'.
fn plan_services(
    manifests: &Manifests,
    facts: &ClusterFacts,
    stacks: &mut Vec<Stack>,
) -> Result<(), PlanError> {
    if !facts.features.enable_service_controller {
        return Ok(());
    }
    let selection = facts.service_selection();
    for service in &manifests.services {
        let ours = selection.is_supported(service);
        let finalized = service
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == contract::service::FINALIZER);
        if !ours && !finalized {
            continue;
        }
        let mut service = service.clone();
        let (namespace, name) = namespaced(&service);
        service.metadata.namespace = Some(namespace.clone());
        let stack = crate::service::build_service(&crate::service::ServiceInputs {
            service: &service,
            facts,
            selection: &selection,
            existing_lb: None,
        })
        .map_err(|error| PlanError::Service {
            service: format!("{namespace}/{name}"),
            error,
        })?;
        stacks.push(stack);
    }
    Ok(())
}
