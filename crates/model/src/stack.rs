//! The desired stack: typed AWS (and Kubernetes) resources keyed by type and resource ID.
//!
//! The JSON form follows upstream's marshalled stack so that plans and golden tests read the
//! same:
//!
//! ```json
//! {"id": "ns/ing",
//!  "resources": {"AWS::ElasticLoadBalancingV2::LoadBalancer": {"LoadBalancer": {"spec": {...}}}}}
//! ```
//!
//! A field that depends on another resource's AWS identity (a listener's load balancer ARN, a
//! rule's target group ARN) holds a [`StringToken`]: either a literal or a [`Ref`], which
//! serialises as `{"$ref": "#/resources/<Type>/<ID>/status/<field>"}` and is resolved by the
//! deployer once the referenced resource exists.

mod actions;
mod addons;
mod ec2;
mod elbv2;
mod k8s;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use actions::*;
pub use addons::*;
pub use ec2::*;
pub use elbv2::*;
pub use k8s::*;

/// The kinds of resource a stack can hold, with upstream's JSON type names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    SecurityGroup,
    LoadBalancer,
    Listener,
    ListenerRule,
    TargetGroup,
    TargetGroupBinding,
    WafV2WebAclAssociation,
    WafRegionalWebAclAssociation,
    ShieldProtection,
}

impl ResourceType {
    pub const ALL: [ResourceType; 9] = [
        Self::SecurityGroup,
        Self::LoadBalancer,
        Self::Listener,
        Self::ListenerRule,
        Self::TargetGroup,
        Self::TargetGroupBinding,
        Self::WafV2WebAclAssociation,
        Self::WafRegionalWebAclAssociation,
        Self::ShieldProtection,
    ];

    /// The type's key in the stack JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecurityGroup => "AWS::EC2::SecurityGroup",
            Self::LoadBalancer => "AWS::ElasticLoadBalancingV2::LoadBalancer",
            Self::Listener => "AWS::ElasticLoadBalancingV2::Listener",
            Self::ListenerRule => "AWS::ElasticLoadBalancingV2::ListenerRule",
            Self::TargetGroup => "AWS::ElasticLoadBalancingV2::TargetGroup",
            Self::TargetGroupBinding => "K8S::ElasticLoadBalancingV2::TargetGroupBinding",
            Self::WafV2WebAclAssociation => "AWS::WAFv2::WebACLAssociation",
            Self::WafRegionalWebAclAssociation => "AWS::WAFRegional::WebACLAssociation",
            Self::ShieldProtection => "AWS::Shield::Protection",
        }
    }

    /// The type named by a stack JSON key.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resource IDs as upstream assigns them; they become the `ingress.k8s.aws/resource` tag.
pub mod resource_id {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    /// The group's load balancer (also the ID of its WAF/Shield associations).
    pub const LOAD_BALANCER: &str = "LoadBalancer";
    /// The controller-managed frontend security group.
    pub const MANAGED_SECURITY_GROUP: &str = "ManagedLBSecurityGroup";
    /// The NLB in front of the group's ALB (`enable-frontend-nlb`).
    pub const FRONTEND_NLB: &str = "FrontendNlb";

    /// A listener of the frontend NLB: `FrontendNlb-ls-TCP-<port>`.
    pub fn frontend_nlb_listener(port: u16) -> String {
        format!("{FRONTEND_NLB}-ls-TCP-{port}")
    }

    /// A target group of the frontend NLB (targeting the ALB): `FrontendNlb-tg-TCP-<port>`.
    pub fn frontend_nlb_target_group(port: u16) -> String {
        format!("{FRONTEND_NLB}-tg-TCP-{port}")
    }

    /// A listener: its port, e.g. `80`.
    pub fn listener(port: u16) -> String {
        port.to_string()
    }

    /// A listener rule: `<port>:<priority>`, e.g. `80:1`.
    pub fn listener_rule(port: u16, priority: u32) -> String {
        format!("{port}:{priority}")
    }

    /// A target group (and its binding): `<ingNs>/<ingName>-<svcName>:<svcPort>`, where the
    /// port is the Ingress backend's port number or name.
    pub fn target_group(
        ingress_namespace: &str,
        ingress_name: &str,
        service_name: &str,
        service_port: &IntOrString,
    ) -> String {
        let port = super::int_or_string(service_port);
        let mut id = String::with_capacity(
            ingress_namespace.len() + ingress_name.len() + service_name.len() + port.len() + 3,
        );
        for part in [
            ingress_namespace,
            "/",
            ingress_name,
            "-",
            service_name,
            ":",
            &port,
        ] {
            id.push_str(part);
        }
        id
    }
}

/// Renders an `IntOrString` the way Go's `intstr.String()` does: the number, or the name.
pub fn int_or_string(value: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// A reference to a status field of another resource in the same stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    pub resource_type: ResourceType,
    pub id: String,
    /// The status field, e.g. `loadBalancerARN`.
    pub field: String,
}

const REF_PREFIX: &str = "#/resources/";
const REF_STATUS: &str = "/status/";

impl Ref {
    pub fn new(
        resource_type: ResourceType,
        id: impl Into<String>,
        field: impl Into<String>,
    ) -> Self {
        Self {
            resource_type,
            id: id.into(),
            field: field.into(),
        }
    }

    /// The group load balancer's ARN.
    pub fn load_balancer_arn() -> Self {
        Self::new(
            ResourceType::LoadBalancer,
            resource_id::LOAD_BALANCER,
            "loadBalancerARN",
        )
    }

    /// The group load balancer's DNS name.
    pub fn load_balancer_dns_name() -> Self {
        Self::new(
            ResourceType::LoadBalancer,
            resource_id::LOAD_BALANCER,
            "dnsName",
        )
    }

    /// The frontend NLB's ARN.
    pub fn frontend_nlb_arn() -> Self {
        Self::new(
            ResourceType::LoadBalancer,
            resource_id::FRONTEND_NLB,
            "loadBalancerARN",
        )
    }

    /// The frontend NLB's DNS name.
    pub fn frontend_nlb_dns_name() -> Self {
        Self::new(
            ResourceType::LoadBalancer,
            resource_id::FRONTEND_NLB,
            "dnsName",
        )
    }

    /// The ARN of the listener on `port`.
    pub fn listener_arn(port: u16) -> Self {
        Self::new(
            ResourceType::Listener,
            resource_id::listener(port),
            "listenerARN",
        )
    }

    /// The ARN of the target group with this resource ID.
    pub fn target_group_arn(id: impl Into<String>) -> Self {
        Self::new(ResourceType::TargetGroup, id, "targetGroupARN")
    }

    /// The group ID of the security group with this resource ID.
    pub fn security_group_id(id: impl Into<String>) -> Self {
        Self::new(ResourceType::SecurityGroup, id, "groupID")
    }

    /// The JSON pointer form: `#/resources/<Type>/<ID>/status/<field>`.
    pub fn pointer(&self) -> String {
        format!(
            "{REF_PREFIX}{}/{}{REF_STATUS}{}",
            self.resource_type.as_str(),
            self.id,
            self.field
        )
    }

    /// Parses the JSON pointer form. IDs may contain `/` (target groups do), so the type is
    /// matched by name and the field is what follows the last `/status/`.
    pub fn parse_pointer(pointer: &str) -> Result<Self, RefError> {
        let bad = || RefError(pointer.to_owned());
        let rest = pointer.strip_prefix(REF_PREFIX).ok_or_else(bad)?;
        let (type_name, rest) = rest.split_once('/').ok_or_else(bad)?;
        let resource_type = ResourceType::from_name(type_name).ok_or_else(bad)?;
        let (id, field) = rest.rsplit_once(REF_STATUS).ok_or_else(bad)?;
        if id.is_empty() || field.is_empty() || field.contains('/') {
            return Err(bad());
        }
        Ok(Self::new(resource_type, id, field))
    }
}

/// A `$ref` pointer that does not name a resource status field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid resource reference {0:?}: want #/resources/<Type>/<ID>/status/<field>")]
pub struct RefError(pub String);

#[derive(Serialize, Deserialize)]
struct RefJson {
    #[serde(rename = "$ref")]
    pointer: String,
}

impl Serialize for Ref {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RefJson {
            pointer: self.pointer(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = RefJson::deserialize(deserializer)?;
        Ref::parse_pointer(&json.pointer).map_err(serde::de::Error::custom)
    }
}

/// A string known now (a literal) or once another resource exists (a [`Ref`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StringToken {
    Literal(String),
    Ref(Ref),
}

impl From<Ref> for StringToken {
    fn from(value: Ref) -> Self {
        Self::Ref(value)
    }
}

impl From<String> for StringToken {
    fn from(value: String) -> Self {
        Self::Literal(value)
    }
}

impl From<&str> for StringToken {
    fn from(value: &str) -> Self {
        Self::Literal(value.to_owned())
    }
}

/// One resource of the stack: its desired state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource<S> {
    pub spec: S,
}

/// The resources of a stack, by type then resource ID.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(
        rename = "AWS::EC2::SecurityGroup",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub security_groups: BTreeMap<String, Resource<SecurityGroupSpec>>,
    #[serde(
        rename = "AWS::ElasticLoadBalancingV2::LoadBalancer",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub load_balancers: BTreeMap<String, Resource<LoadBalancerSpec>>,
    #[serde(
        rename = "AWS::ElasticLoadBalancingV2::Listener",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub listeners: BTreeMap<String, Resource<ListenerSpec>>,
    #[serde(
        rename = "AWS::ElasticLoadBalancingV2::ListenerRule",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub listener_rules: BTreeMap<String, Resource<ListenerRuleSpec>>,
    #[serde(
        rename = "AWS::ElasticLoadBalancingV2::TargetGroup",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub target_groups: BTreeMap<String, Resource<TargetGroupSpec>>,
    #[serde(
        rename = "K8S::ElasticLoadBalancingV2::TargetGroupBinding",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub target_group_bindings: BTreeMap<String, Resource<TargetGroupBindingResourceSpec>>,
    #[serde(
        rename = "AWS::WAFv2::WebACLAssociation",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub wafv2_web_acl_associations: BTreeMap<String, Resource<WafV2WebAclAssociationSpec>>,
    #[serde(
        rename = "AWS::WAFRegional::WebACLAssociation",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub waf_regional_web_acl_associations:
        BTreeMap<String, Resource<WafRegionalWebAclAssociationSpec>>,
    #[serde(
        rename = "AWS::Shield::Protection",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub shield_protections: BTreeMap<String, Resource<ShieldProtectionSpec>>,
}

/// A resource added twice under the same type and ID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("duplicate resource {resource_type} {id}")]
pub struct DuplicateResource {
    pub resource_type: ResourceType,
    pub id: String,
}

/// Whose stack it is: an IngressGroup's (ALB) or a Service's (NLB). The two kinds tag their
/// AWS resources with different keys (`ingress.k8s.aws/*` and `service.k8s.aws/*`), so the
/// same ID (`ns/name`) names two different stacks. Not part of the JSON form, as upstream's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StackKind {
    #[default]
    Ingress,
    Service,
}

impl StackKind {
    /// The tag key holding the stack ID.
    pub fn stack_tag(self) -> &'static str {
        match self {
            Self::Ingress => crate::tags::TAG_INGRESS_STACK,
            Self::Service => crate::tags::TAG_SERVICE_STACK,
        }
    }

    /// The tag key holding the resource ID within the stack.
    pub fn resource_tag(self) -> &'static str {
        match self {
            Self::Ingress => crate::tags::TAG_INGRESS_RESOURCE,
            Self::Service => crate::tags::TAG_SERVICE_RESOURCE,
        }
    }
}

impl fmt::Display for StackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ingress => "ingress",
            Self::Service => "service",
        })
    }
}

/// The desired state of one IngressGroup's (or one Service's) AWS resources. Its ID is the
/// group ID (or `ns/name` of the Service).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    pub id: String,
    #[serde(skip)]
    pub kind: StackKind,
    #[serde(default)]
    pub resources: Resources,
}

fn insert_unique<S>(
    map: &mut BTreeMap<String, Resource<S>>,
    resource_type: ResourceType,
    id: String,
    spec: S,
) -> Result<(), DuplicateResource> {
    match map.entry(id) {
        std::collections::btree_map::Entry::Occupied(entry) => Err(DuplicateResource {
            resource_type,
            id: entry.key().clone(),
        }),
        std::collections::btree_map::Entry::Vacant(entry) => {
            entry.insert(Resource { spec });
            Ok(())
        }
    }
}

impl Stack {
    /// An empty stack; an empty stack means "delete everything this group owns".
    pub fn new(id: impl Into<String>) -> Self {
        Self::of_kind(StackKind::Ingress, id)
    }

    /// An empty stack of a Service (`ns/name`).
    pub fn for_service(id: impl Into<String>) -> Self {
        Self::of_kind(StackKind::Service, id)
    }

    /// An empty stack of either kind.
    pub fn of_kind(kind: StackKind, id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind,
            resources: Resources::default(),
        }
    }

    pub fn add_security_group(
        &mut self,
        id: impl Into<String>,
        spec: SecurityGroupSpec,
    ) -> Result<Ref, DuplicateResource> {
        let id = id.into();
        insert_unique(
            &mut self.resources.security_groups,
            ResourceType::SecurityGroup,
            id.clone(),
            spec,
        )?;
        Ok(Ref::security_group_id(id))
    }

    pub fn add_load_balancer(&mut self, spec: LoadBalancerSpec) -> Result<Ref, DuplicateResource> {
        insert_unique(
            &mut self.resources.load_balancers,
            ResourceType::LoadBalancer,
            resource_id::LOAD_BALANCER.to_owned(),
            spec,
        )?;
        Ok(Ref::load_balancer_arn())
    }

    /// Adds the frontend NLB (`FrontendNlb`), next to the group's ALB.
    pub fn add_frontend_nlb(&mut self, spec: LoadBalancerSpec) -> Result<Ref, DuplicateResource> {
        insert_unique(
            &mut self.resources.load_balancers,
            ResourceType::LoadBalancer,
            resource_id::FRONTEND_NLB.to_owned(),
            spec,
        )?;
        Ok(Ref::frontend_nlb_arn())
    }

    /// Adds a listener under its own resource ID (the frontend NLB's listeners).
    pub fn add_listener_with_id(
        &mut self,
        id: impl Into<String>,
        spec: ListenerSpec,
    ) -> Result<Ref, DuplicateResource> {
        let id = id.into();
        insert_unique(
            &mut self.resources.listeners,
            ResourceType::Listener,
            id.clone(),
            spec,
        )?;
        Ok(Ref::new(ResourceType::Listener, id, "listenerARN"))
    }

    pub fn add_listener(&mut self, spec: ListenerSpec) -> Result<Ref, DuplicateResource> {
        let port = spec.port;
        insert_unique(
            &mut self.resources.listeners,
            ResourceType::Listener,
            resource_id::listener(port),
            spec,
        )?;
        Ok(Ref::listener_arn(port))
    }

    /// Adds a rule of the listener on `port`, keyed `<port>:<priority>`.
    pub fn add_listener_rule(
        &mut self,
        port: u16,
        spec: ListenerRuleSpec,
    ) -> Result<(), DuplicateResource> {
        let id = resource_id::listener_rule(port, spec.priority);
        insert_unique(
            &mut self.resources.listener_rules,
            ResourceType::ListenerRule,
            id,
            spec,
        )
    }

    pub fn add_target_group(
        &mut self,
        id: impl Into<String>,
        spec: TargetGroupSpec,
    ) -> Result<Ref, DuplicateResource> {
        let id = id.into();
        insert_unique(
            &mut self.resources.target_groups,
            ResourceType::TargetGroup,
            id.clone(),
            spec,
        )?;
        Ok(Ref::target_group_arn(id))
    }

    /// Adds the binding of a target group; it shares the target group's resource ID.
    pub fn add_target_group_binding(
        &mut self,
        id: impl Into<String>,
        spec: TargetGroupBindingResourceSpec,
    ) -> Result<(), DuplicateResource> {
        insert_unique(
            &mut self.resources.target_group_bindings,
            ResourceType::TargetGroupBinding,
            id.into(),
            spec,
        )
    }

    /// The load balancer's WAFv2 Web ACL association.
    pub fn add_wafv2_web_acl_association(
        &mut self,
        spec: WafV2WebAclAssociationSpec,
    ) -> Result<(), DuplicateResource> {
        insert_unique(
            &mut self.resources.wafv2_web_acl_associations,
            ResourceType::WafV2WebAclAssociation,
            resource_id::LOAD_BALANCER.to_owned(),
            spec,
        )
    }

    /// The load balancer's WAF Classic regional Web ACL association.
    pub fn add_waf_regional_web_acl_association(
        &mut self,
        spec: WafRegionalWebAclAssociationSpec,
    ) -> Result<(), DuplicateResource> {
        insert_unique(
            &mut self.resources.waf_regional_web_acl_associations,
            ResourceType::WafRegionalWebAclAssociation,
            resource_id::LOAD_BALANCER.to_owned(),
            spec,
        )
    }

    /// The load balancer's Shield Advanced protection setting.
    pub fn add_shield_protection(
        &mut self,
        spec: ShieldProtectionSpec,
    ) -> Result<(), DuplicateResource> {
        insert_unique(
            &mut self.resources.shield_protections,
            ResourceType::ShieldProtection,
            resource_id::LOAD_BALANCER.to_owned(),
            spec,
        )
    }

    /// Whether the stack holds a resource of this type and ID.
    pub fn contains(&self, resource_type: ResourceType, id: &str) -> bool {
        let r = &self.resources;
        match resource_type {
            ResourceType::SecurityGroup => r.security_groups.contains_key(id),
            ResourceType::LoadBalancer => r.load_balancers.contains_key(id),
            ResourceType::Listener => r.listeners.contains_key(id),
            ResourceType::ListenerRule => r.listener_rules.contains_key(id),
            ResourceType::TargetGroup => r.target_groups.contains_key(id),
            ResourceType::TargetGroupBinding => r.target_group_bindings.contains_key(id),
            ResourceType::WafV2WebAclAssociation => r.wafv2_web_acl_associations.contains_key(id),
            ResourceType::WafRegionalWebAclAssociation => {
                r.waf_regional_web_acl_associations.contains_key(id)
            }
            ResourceType::ShieldProtection => r.shield_protections.contains_key(id),
        }
    }

    /// Whether the stack holds no resource at all.
    pub fn is_empty(&self) -> bool {
        ResourceType::ALL.iter().all(|t| self.ids(*t).is_empty())
    }

    /// The resource IDs of one type, sorted.
    pub fn ids(&self, resource_type: ResourceType) -> Vec<&str> {
        fn keys<S>(map: &BTreeMap<String, Resource<S>>) -> Vec<&str> {
            map.keys().map(String::as_str).collect()
        }
        let r = &self.resources;
        match resource_type {
            ResourceType::SecurityGroup => keys(&r.security_groups),
            ResourceType::LoadBalancer => keys(&r.load_balancers),
            ResourceType::Listener => keys(&r.listeners),
            ResourceType::ListenerRule => keys(&r.listener_rules),
            ResourceType::TargetGroup => keys(&r.target_groups),
            ResourceType::TargetGroupBinding => keys(&r.target_group_bindings),
            ResourceType::WafV2WebAclAssociation => keys(&r.wafv2_web_acl_associations),
            ResourceType::WafRegionalWebAclAssociation => {
                keys(&r.waf_regional_web_acl_associations)
            }
            ResourceType::ShieldProtection => keys(&r.shield_protections),
        }
    }

    /// Every `$ref` in the stack, deduplicated and sorted.
    pub fn refs(&self) -> Result<Vec<Ref>, serde_json::Error> {
        let value = serde_json::to_value(&self.resources)?;
        let mut found = Vec::new();
        collect_refs(&value, &mut found);
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The references that point at resources missing from the stack (a builder bug).
    pub fn dangling_refs(&self) -> Result<Vec<Ref>, serde_json::Error> {
        Ok(self
            .refs()?
            .into_iter()
            .filter(|r| !self.contains(r.resource_type, &r.id))
            .collect())
    }

    /// The stack as indented JSON, with keys in a stable order.
    pub fn to_json_pretty(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

fn collect_refs(value: &serde_json::Value, out: &mut Vec<Ref>) {
    match value {
        serde_json::Value::Object(map) => {
            if let (1, Some(serde_json::Value::String(pointer))) = (map.len(), map.get("$ref")) {
                if let Ok(r) = Ref::parse_pointer(pointer) {
                    out.push(r);
                }
                return;
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
