//! The model builder: one IngressGroup plus the facts about its cluster in, the desired
//! [`Stack`] out. Pure: no Kubernetes client, no AWS SDK.
//!
//! The steps follow upstream's model builder:
//! 1. refuse to drop a member being deleted while it protects the load balancer;
//! 2. parse every member's annotations (the webhook's parser) and IngressClassParams, and put
//!    the members in group order;
//! 3. compute each member's listen ports and merge them per port ([`listeners`]);
//! 4. build the load balancer: scheme, IP address type, subnets, security groups, attributes,
//!    tags, name ([`load_balancer`], [`security_groups`]);
//! 5. per port, in port order: the listener with its default action, then the rules of every
//!    member using the port, in member order, optimised and numbered ([`rules`]); target groups
//!    and their bindings are created as rules reference Services ([`target_groups`]);
//! 6. the load balancer's add-ons: WAFv2 / WAF Classic Web ACLs, Shield ([`addons`]).
//!
//! Any error aborts the whole group: nothing is half-built.

mod actions;
mod addons;
mod backend;
mod certificates;
mod errors;
mod frontend_nlb;
mod listeners;
mod load_balancer;
mod params;
mod port_config;
mod rules;
mod security_groups;
mod ssl_redirect;
mod target_groups;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use contract::annotations::{Annotations, BackendAnnotations, IngressAnnotations};
use contract::crd::IngressClassParamsSpec;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;

use crate::ClusterFacts;
use crate::group::{DEFAULT_GROUP_ORDER, GroupId, MemberKey, sort_members};
use crate::stack::{
    IpAddressType, ListenerRuleSpec, Scheme, Stack, StringToken, TargetGroupBindingResourceSpec,
    TargetGroupSpec,
};
use crate::tags::{self, MemberTagSources, Tags};

pub use errors::{BuildError, Origin};
pub use params::ClassParams;

/// Services and Secrets by `(namespace, name)`.
pub type ObjectMap<T> = BTreeMap<(String, String), T>;

/// Everything one group's build needs.
#[derive(Clone, Debug)]
pub struct GroupInputs<'a> {
    pub group: GroupId,
    /// The active members (in any order; the builder sorts them).
    pub members: Vec<Member<'a>>,
    /// Ingresses that still carry this group's finalizer but no longer belong to it (deleted,
    /// moved, or no longer ours). Only consulted for the deletion-protection guard.
    pub inactive_members: Vec<&'a Ingress>,
    /// The Services the members may reference.
    pub services: &'a ObjectMap<Service>,
    /// The Secrets the members may reference (OIDC client credentials).
    pub secrets: &'a ObjectMap<Secret>,
    pub facts: &'a ClusterFacts,
    /// The group's load balancer as it exists in AWS, if it does: its subnets are reused when
    /// the scheme is unchanged and no subnets are given explicitly.
    pub existing_lb: Option<ExistingLoadBalancer>,
}

/// One active member of the group.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    pub ingress: &'a Ingress,
    /// The IngressClassParams of the Ingress's class, if it has one.
    pub params: Option<&'a IngressClassParamsSpec>,
}

/// What the builder needs to know about the group's existing load balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingLoadBalancer {
    pub scheme: Scheme,
    pub subnet_ids: Vec<String>,
    /// Its security groups. An NLB created without any can never get one (AWS), so the
    /// Service builder keeps such an NLB in the legacy, CIDR-based mode.
    pub security_groups: Vec<String>,
}

/// The desired stack of one IngressGroup. A group without active members yields an empty stack
/// (everything it owns is to be deleted).
pub fn build(inputs: &GroupInputs<'_>) -> Result<Stack, BuildError> {
    tags::validate_default_tags(&inputs.facts.default_tags)?;
    tags::validate_external_managed_tags(&inputs.facts.external_managed_tags)?;
    check_deletion_protection(&inputs.inactive_members)?;
    let members = prepare_members(&inputs.members)?;
    if members.is_empty() {
        return Ok(Stack::new(inputs.group.to_string()));
    }
    let mut task = Task {
        group: &inputs.group,
        facts: inputs.facts,
        service_index: inputs
            .services
            .iter()
            .map(|((namespace, name), service)| ((namespace.as_str(), name.as_str()), service))
            .collect(),
        secrets: inputs.secrets,
        existing_lb: inputs.existing_lb.as_ref(),
        members,
        stack: Stack::new(inputs.group.to_string()),
        ip_address_type: IpAddressType::Ipv4,
        backend_source: None,
        backend_annotations: HashMap::new(),
        group_tags: Tags::new(),
        backend_tags: HashMap::new(),
        target_group_ids: HashSet::new(),
        pending_target_groups: Vec::new(),
        pending_rules: Vec::new(),
    };
    task.run()?;
    Ok(task.stack)
}

static NO_ANNOTATIONS: Annotations = BTreeMap::new();

/// The annotations of an Ingress (or Service), empty when it has none.
fn annotations_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> &Annotations {
    meta.annotations.as_ref().unwrap_or(&NO_ANNOTATIONS)
}

/// One member, parsed.
pub(crate) struct MemberCtx<'a> {
    pub ingress: &'a Ingress,
    pub namespace: &'a str,
    pub name: &'a str,
    /// `namespace/name`.
    pub key: String,
    pub annotations: &'a Annotations,
    pub parsed: IngressAnnotations,
    pub params: Option<ClassParams>,
    pub order: i64,
}

impl MemberCtx<'_> {
    /// Where an annotation of this member lives, for error messages.
    pub fn annotation(&self, suffix: &str) -> Origin {
        Origin::annotation(&self.key, suffix)
    }

    /// Where an IngressClassParams field of this member lives.
    pub fn class_params(&self, field: &str) -> Origin {
        Origin::class_params(&self.key, field)
    }

    /// The member's `tags` annotation, or no tags.
    pub fn annotation_tags(&self) -> &Tags {
        static NONE: Tags = BTreeMap::new();
        self.parsed.tags.as_ref().unwrap_or(&NONE)
    }

    pub fn tag_sources(&self) -> MemberTagSources<'_> {
        MemberTagSources {
            namespace: self.namespace,
            name: self.name,
            annotation: self.annotation_tags(),
            class_params: self
                .params
                .as_ref()
                .filter(|p| !p.tags.is_empty())
                .map(|p| ("of the Ingress's class", &p.tags)),
        }
    }
}

fn prepare_members<'a>(members: &[Member<'a>]) -> Result<Vec<MemberCtx<'a>>, BuildError> {
    let mut prepared = Vec::with_capacity(members.len());
    for member in members {
        let meta = &member.ingress.metadata;
        let namespace = meta.namespace.as_deref().unwrap_or("default");
        let name = meta.name.as_deref().unwrap_or_default();
        let key = format!("{namespace}/{name}");
        let annotations = annotations_of(meta);
        let parsed =
            IngressAnnotations::parse(annotations).map_err(|errors| BuildError::Annotations {
                ingress: key.clone(),
                errors,
            })?;
        let order = parsed.group_order.map_or(DEFAULT_GROUP_ORDER, i64::from);
        prepared.push(MemberCtx {
            ingress: member.ingress,
            namespace,
            name,
            key,
            annotations,
            parsed,
            params: member.params.map(ClassParams::from_spec),
            order,
        });
    }
    sort_members(&mut prepared, |m| MemberKey {
        order: m.order,
        namespace: m.namespace,
        name: m.name,
    });
    Ok(prepared)
}

/// Upstream's guard: a member being deleted whose `load-balancer-attributes` enable deletion
/// protection blocks the whole group.
fn check_deletion_protection(inactive: &[&Ingress]) -> Result<(), BuildError> {
    const KEY: &str = "deletion_protection.enabled";
    for ingress in inactive {
        let meta = &ingress.metadata;
        if meta.deletion_timestamp.is_none() {
            continue;
        }
        let namespace = meta
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let name = meta.name.clone().unwrap_or_default();
        let only_attributes: Annotations = annotations_of(meta)
            .iter()
            .filter(|(k, _)| k.ends_with("/load-balancer-attributes"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let parsed = IngressAnnotations::parse(&only_attributes).map_err(|errors| {
            BuildError::Annotations {
                ingress: format!("{namespace}/{name}"),
                errors,
            }
        })?;
        let enabled = parsed
            .load_balancer_attributes
            .as_ref()
            .and_then(|a| a.get(KEY))
            .is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"));
        if enabled {
            return Err(BuildError::DeletionProtection { namespace, name });
        }
    }
    Ok(())
}

/// The state of one build.
pub(crate) struct Task<'a> {
    pub group: &'a GroupId,
    pub facts: &'a ClusterFacts,
    /// The Services by namespace and name.
    pub service_index: HashMap<(&'a str, &'a str), &'a Service>,
    pub secrets: &'a ObjectMap<Secret>,
    pub existing_lb: Option<&'a ExistingLoadBalancer>,
    /// In group order.
    pub members: Vec<MemberCtx<'a>>,
    pub stack: Stack,
    /// The load balancer's IP address type, once decided.
    pub ip_address_type: IpAddressType,
    /// The security group that target-side rules admit traffic from, if the controller
    /// manages those rules.
    pub backend_source: Option<StringToken>,
    /// Backend annotations by member index and Service name (`None`: the Ingress's alone).
    pub backend_annotations: HashMap<(usize, Option<String>), Rc<BackendAnnotations>>,
    /// Tags template of the group-wide resources: user tags, `--default-tags` applied, and the
    /// cluster and stack tags.
    pub group_tags: Tags,
    /// Backend user tags by member index and Service name (`None`: the member's own).
    pub backend_tags: HashMap<(usize, Option<String>), Rc<Tags>>,
    /// IDs of the target groups built so far.
    pub target_group_ids: HashSet<String>,
    /// Target groups and bindings, added to the stack in ID order at the end (inserting large
    /// values into a map out of order costs more than the rest of the build).
    pub pending_target_groups: Vec<(
        String,
        Box<(TargetGroupSpec, TargetGroupBindingResourceSpec)>,
    )>,
    /// Listener rules by resource ID (`<port>:<priority>`), added to the stack in ID order at
    /// the end.
    pub pending_rules: Vec<(String, Box<ListenerRuleSpec>)>,
}

impl<'a> Task<'a> {
    fn run(&mut self) -> Result<(), BuildError> {
        self.group_tags = self.with_stack_tags(&self.group_user_tags()?);
        let ports = self.listen_port_configs()?;
        self.build_load_balancer(&ports)?;
        let ssl_redirect = self.ssl_redirect_port(&ports)?;
        for (port, config) in &ports {
            self.build_listener(*port, config, ssl_redirect)?;
            self.build_rules(*port, config, ssl_redirect)?;
        }
        self.build_addons()?;
        self.flush_pending()?;
        self.build_frontend_nlb()
    }

    /// Adds the collected target groups, bindings and rules to the stack, in ID order.
    fn flush_pending(&mut self) -> Result<(), BuildError> {
        let mut target_groups = std::mem::take(&mut self.pending_target_groups);
        target_groups.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, resources) in target_groups {
            let (spec, binding) = *resources;
            self.stack.add_target_group(id.clone(), spec)?;
            self.stack.add_target_group_binding(id, binding)?;
        }
        let mut rules = std::mem::take(&mut self.pending_rules);
        rules.sort_by(|a, b| a.0.cmp(&b.0));
        let stored = &mut self.stack.resources.listener_rules;
        for (id, spec) in rules {
            if stored.contains_key(&id) {
                return Err(BuildError::Internal {
                    message: format!("duplicate listener rule {id}"),
                });
            }
            stored.insert(id, crate::stack::Resource { spec: *spec });
        }
        Ok(())
    }

    /// The user tags of group-wide resources (load balancer, security group, listeners), with
    /// `--default-tags` applied.
    fn group_user_tags(&self) -> Result<Tags, BuildError> {
        let mut merged = Tags::new();
        for member in &self.members {
            let own = tags::member_tags(&member.tag_sources(), &self.facts.external_managed_tags)?;
            merged = tags::group_tags([&merged, &own]).map_err(|e| match e {
                tags::TagError::Conflict { .. } => {
                    BuildError::conflict(member.annotation("tags"), e.to_string())
                }
                other => other.into(),
            })?;
        }
        Ok(tags::with_default_tags(
            &merged,
            &self.facts.default_tags,
            self.facts.features.enable_default_tags_low_priority,
        ))
    }

    /// User tags plus the cluster and stack tracking tags: the template of a resource's tags.
    fn with_stack_tags(&self, user_tags: &Tags) -> Tags {
        let mut tags = user_tags.clone();
        tags.insert(
            tags::TAG_CLUSTER.to_owned(),
            self.facts.cluster_name.clone(),
        );
        tags.insert(tags::TAG_INGRESS_STACK.to_owned(), self.stack.id.clone());
        tags
    }

    /// A resource's tags: a [`Task::with_stack_tags`] template plus its resource ID. The same
    /// result as `tags::with_tracking_tags` (tracking tags win over user tags).
    fn resource_tags(&self, template: &Tags, resource_id: &str) -> Tags {
        let mut tags = template.clone();
        tags.insert(
            tags::TAG_INGRESS_RESOURCE.to_owned(),
            resource_id.to_owned(),
        );
        tags
    }

    /// Tags template of one member's backend resources (target groups): its
    /// IngressClassParams over the Service's annotation over its own, `--default-tags`
    /// applied, plus the cluster and stack tags. Computed once per member and Service with its
    /// own tags.
    fn backend_user_tags(
        &mut self,
        member: usize,
        service: &Service,
        annotations: &BackendAnnotations,
    ) -> Result<Rc<Tags>, BuildError> {
        const TAGS_KEY: &str = "alb.ingress.kubernetes.io/tags";
        let own_tags = annotations_of(&service.metadata).contains_key(TAGS_KEY);
        let cache_key = (
            member,
            own_tags.then(|| service.metadata.name.clone()).flatten(),
        );
        if let Some(tags) = self.backend_tags.get(&cache_key) {
            return Ok(Rc::clone(tags));
        }
        let m = self.member(member)?;
        let service_tags = annotations.tags.clone().unwrap_or_default();
        let user = tags::backend_tags(
            &m.tag_sources(),
            m.namespace,
            service.metadata.name.as_deref().unwrap_or_default(),
            &service_tags,
            &self.facts.external_managed_tags,
        )?;
        let tags = Rc::new(self.with_stack_tags(&tags::with_default_tags(
            &user,
            &self.facts.default_tags,
            self.facts.features.enable_default_tags_low_priority,
        )));
        self.backend_tags.insert(cache_key, Rc::clone(&tags));
        Ok(tags)
    }

    /// Backend annotations of a member: its Service's merged over its own (`service` given), or
    /// its own alone. Parsed once per build; a Service without `alb.ingress.kubernetes.io/`
    /// annotations shares the member's own parse.
    fn backend_annotations(
        &mut self,
        member: usize,
        service: Option<&Service>,
    ) -> Result<Rc<BackendAnnotations>, BuildError> {
        let service = service.filter(|s| {
            annotations_of(&s.metadata)
                .keys()
                .any(|k| k.starts_with(contract::annotations::PREFIX))
        });
        let service_name = service.and_then(|s| s.metadata.name.clone());
        let cache_key = (member, service_name.clone());
        if let Some(parsed) = self.backend_annotations.get(&cache_key) {
            return Ok(Rc::clone(parsed));
        }
        let m = self.member(member)?;
        let service_annotations = service.map_or(&NO_ANNOTATIONS, |s| annotations_of(&s.metadata));
        let parsed =
            BackendAnnotations::parse(service_annotations, m.annotations).map_err(|errors| {
                match &service_name {
                    Some(svc) => BuildError::BackendAnnotations {
                        ingress: m.key.clone(),
                        service: format!("{}/{svc}", m.namespace),
                        errors,
                    },
                    None => BuildError::Annotations {
                        ingress: m.key.clone(),
                        errors,
                    },
                }
            })?;
        let parsed = Rc::new(parsed);
        self.backend_annotations
            .insert(cache_key, Rc::clone(&parsed));
        Ok(parsed)
    }

    /// The Service `namespace/name`, if the inputs have it.
    fn service(&self, namespace: &str, name: &str) -> Option<&'a Service> {
        self.service_index.get(&(namespace, name)).copied()
    }

    fn member(&self, index: usize) -> Result<&MemberCtx<'a>, BuildError> {
        self.members.get(index).ok_or_else(|| BuildError::Internal {
            message: format!("member {index} out of range"),
        })
    }
}
