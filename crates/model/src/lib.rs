//! Pure model building: an IngressGroup and the facts about its cluster in, the desired AWS stack
//! out.
//!
//! Nothing here talks to Kubernetes or AWS. The controller gathers what the model needs (the
//! group's Ingresses, their Services, the VPC's subnets, flags) into plain values, and the
//! builder turns them into a [`stack::Stack`] that the deployer then reconciles against AWS.
//!
//! * [`group`]: group identity, member ordering, finalizers, group-name validation;
//! * [`stack`]: the typed, serialisable stack of desired resources and the `$ref` tokens between them;
//! * [`naming`]: upstream's hashed names for load balancers, security groups and target groups;
//! * [`tags`]: tracking tags and the precedence of user tags;
//! * [`subnets`]: subnet resolution (explicit, by selector, or auto-discovery) over plain data;
//! * [`builder`]: one IngressGroup and its cluster facts in, the desired [`stack::Stack`] out;
//! * [`facts`]: cluster facts overlaid with `ClusterFacts` documents (offline commands);
//! * [`group_check`]: the admission group check, the group built with the incoming Ingress;
//! * [`manifests`]: manifest text sorted into plain objects by kind;
//! * [`sg_rules`]: security group rules as single-source permissions, and the change plan;
//! * [`plan`]: manifests in, the stacks of every IngressGroup they define out.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod builder;
pub mod facts;
pub mod group;
pub mod group_check;
pub mod manifests;
pub mod naming;
pub mod plan;
pub mod service;
pub mod sg_rules;
pub mod stack;
pub mod subnets;
pub mod tags;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::stack::{Scheme, TargetType};
use crate::subnets::{RouteTable, Subnet};

/// The controller's default SSL policy for HTTPS listeners (`--default-ssl-policy`).
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

/// Everything about the cluster and the controller's configuration that the model builder needs.
///
/// The controller fills it from its flags and from AWS (VPC subnets, route tables, the backend
/// security group) before each build; tests build it by hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFacts {
    /// `--cluster-name`; part of every hashed name and of the tracking tags.
    pub cluster_name: String,
    /// The cluster's VPC (`--aws-vpc-id` or discovered).
    pub vpc_id: String,
    /// The subnets of the VPC (and any explicitly referenced subnet), as EC2 describes them.
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// The VPC's route tables, used by subnet discovery by reachability. `None` when they were
    /// not fetched; discovery by reachability then finds nothing.
    #[serde(default)]
    pub route_tables: Option<Vec<RouteTable>>,
    /// `--default-tags`.
    #[serde(default)]
    pub default_tags: BTreeMap<String, String>,
    /// `--external-managed-tags`: keys users may not set and the controller never reconciles.
    #[serde(default)]
    pub external_managed_tags: BTreeSet<String>,
    /// `--default-ssl-policy`.
    pub default_ssl_policy: String,
    /// `--default-load-balancer-scheme`.
    pub default_scheme: Scheme,
    /// `--default-target-type`.
    pub default_target_type: TargetType,
    /// `--enable-backend-security-group`.
    pub enable_backend_security_group: bool,
    /// The shared backend security group's ID (`--backend-security-group`, or the one the
    /// controller created), resolved before the build. `None` when the feature is disabled or
    /// the group is not known yet.
    #[serde(default)]
    pub backend_security_group: Option<String>,
    /// `--enable-manage-backend-security-group-rules`.
    pub enable_manage_backend_security_group_rules: bool,
    /// `--disable-restricted-sg-rules`.
    pub disable_restricted_sg_rules: bool,
    /// `--tolerate-non-existent-backend-service`.
    pub tolerate_non_existent_backend_service: bool,
    /// `--tolerate-non-existent-backend-action`.
    pub tolerate_non_existent_backend_action: bool,
    /// `--feature-gates`.
    pub features: FeatureFlags,
    /// `--ingress-class`: the class this controller handles (empty also takes class-less
    /// Ingresses).
    #[serde(default = "default_ingress_class")]
    pub ingress_class: String,
    /// ACM certificates known to the controller, for certificate discovery on HTTPS listeners
    /// that name no `certificate-arn`.
    #[serde(default)]
    pub certificates: Vec<KnownCertificate>,
    /// Security groups of the VPC, to resolve `security-groups` given by `Name` tag.
    #[serde(default)]
    pub security_groups: Vec<KnownSecurityGroup>,
    /// `--load-balancer-class`: Services with this `spec.loadBalancerClass` become NLBs.
    #[serde(default = "default_load_balancer_class")]
    pub load_balancer_class: String,
    /// The VPC's IPv4 and IPv6 CIDR blocks: the sources of an internal NLB's backend rules
    /// in the legacy (security-group-less) mode.
    #[serde(default)]
    pub vpc_cidrs: Vec<String>,
}

fn default_load_balancer_class() -> String {
    contract::service::DEFAULT_LOAD_BALANCER_CLASS.to_owned()
}

fn default_ingress_class() -> String {
    DEFAULT_INGRESS_CLASS.to_owned()
}

/// The default `--ingress-class`.
pub const DEFAULT_INGRESS_CLASS: &str = "alb";

/// An issued ACM certificate and the domains it covers (its subject alternative names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnownCertificate {
    pub arn: String,
    pub domains: Vec<String>,
}

/// A security group as EC2 describes it, reduced to what name resolution needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnownSecurityGroup {
    pub id: String,
    pub vpc_id: String,
    /// The `Name` tag, if any.
    #[serde(default)]
    pub name: Option<String>,
}

impl ClusterFacts {
    /// Facts with the controller's default flag values and no subnets.
    pub fn new(cluster_name: impl Into<String>, vpc_id: impl Into<String>) -> Self {
        Self {
            cluster_name: cluster_name.into(),
            vpc_id: vpc_id.into(),
            subnets: Vec::new(),
            route_tables: None,
            default_tags: BTreeMap::new(),
            external_managed_tags: BTreeSet::new(),
            default_ssl_policy: DEFAULT_SSL_POLICY.to_owned(),
            default_scheme: Scheme::Internal,
            default_target_type: TargetType::Instance,
            enable_backend_security_group: true,
            backend_security_group: None,
            enable_manage_backend_security_group_rules: false,
            disable_restricted_sg_rules: false,
            tolerate_non_existent_backend_service: true,
            tolerate_non_existent_backend_action: true,
            features: FeatureFlags::default(),
            ingress_class: default_ingress_class(),
            certificates: Vec::new(),
            security_groups: Vec::new(),
            vpc_cidrs: Vec::new(),
            load_balancer_class: default_load_balancer_class(),
        }
    }

    /// Which Services become NLBs: `--load-balancer-class` and `ServiceTypeLoadBalancerOnly`.
    pub fn service_selection(&self) -> contract::service::Selection {
        contract::service::Selection {
            load_balancer_class: self.load_balancer_class.clone(),
            load_balancer_type_only: self.features.service_type_load_balancer_only,
        }
    }
}

/// The feature gates (`--feature-gates=K=bool,...`) that change what the model builder produces.
/// [`Default`] gives upstream's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FeatureFlags {
    /// `ListenerRulesTagging` (on): listener rules carry tags.
    pub listener_rules_tagging: bool,
    /// `WeightedTargetGroups` (on): forward actions may split across target groups.
    pub weighted_target_groups: bool,
    /// `EnableIPTargetType` (on): `target-type: ip` is allowed.
    pub enable_ip_target_type: bool,
    /// `SubnetsClusterTagCheck` (on): subnets tagged only for other clusters are skipped.
    pub subnets_cluster_tag_check: bool,
    /// `SubnetDiscoveryByReachability` (on): fall back to route-table reachability when no
    /// subnet carries a role tag.
    pub subnet_discovery_by_reachability: bool,
    /// `ALBSingleSubnet` (off): an ALB may use one subnet.
    pub alb_single_subnet: bool,
    /// `LBCapacityReservation` (on): `minimum-load-balancer-capacity` is honoured.
    pub lb_capacity_reservation: bool,
    /// `EnableDefaultTagsLowPriority` (off): `--default-tags` lose to user tags.
    pub enable_default_tags_low_priority: bool,
    /// `EnhancedDefaultBehavior` (off).
    pub enhanced_default_behavior: bool,
    /// `EnableCertificateManagement` (off): `create-acm-cert` is honoured.
    pub enable_certificate_management: bool,
    /// `ALBTargetControlAgent` (off): `target-control-port.*` is honoured.
    pub alb_target_control_agent: bool,
    /// `NLBSecurityGroup` (on): new NLBs get a managed security group.
    pub nlb_security_group: bool,
    /// `EnableTCPUDPListener` (off): a TCP and a UDP port of one number become a `TCP_UDP`
    /// listener.
    pub enable_tcp_udp_listener: bool,
    /// `NLBHealthCheckAdvancedConfig` (on): NLB health-check timeout and success codes are
    /// honoured and changed in place.
    pub nlb_health_check_advanced_config: bool,
    /// `ServiceTypeLoadBalancerOnly` (off): only `type: LoadBalancer` Services are handled.
    pub service_type_load_balancer_only: bool,
    /// `EnableServiceController` (on): Services become NLBs.
    pub enable_service_controller: bool,
}

impl FeatureFlags {
    /// Sets the gate upstream calls `name`; `false` when this model has no such gate.
    pub fn set(&mut self, name: &str, on: bool) -> bool {
        let gate = match name {
            "ListenerRulesTagging" => &mut self.listener_rules_tagging,
            "WeightedTargetGroups" => &mut self.weighted_target_groups,
            "EnableIPTargetType" => &mut self.enable_ip_target_type,
            "SubnetsClusterTagCheck" => &mut self.subnets_cluster_tag_check,
            "SubnetDiscoveryByReachability" => &mut self.subnet_discovery_by_reachability,
            "ALBSingleSubnet" => &mut self.alb_single_subnet,
            "LBCapacityReservation" => &mut self.lb_capacity_reservation,
            "EnableDefaultTagsLowPriority" => &mut self.enable_default_tags_low_priority,
            "EnhancedDefaultBehavior" => &mut self.enhanced_default_behavior,
            "EnableCertificateManagement" => &mut self.enable_certificate_management,
            "ALBTargetControlAgent" => &mut self.alb_target_control_agent,
            "NLBSecurityGroup" => &mut self.nlb_security_group,
            "EnableTCPUDPListener" => &mut self.enable_tcp_udp_listener,
            "NLBHealthCheckAdvancedConfig" => &mut self.nlb_health_check_advanced_config,
            "ServiceTypeLoadBalancerOnly" => &mut self.service_type_load_balancer_only,
            "EnableServiceController" => &mut self.enable_service_controller,
            _ => return false,
        };
        *gate = on;
        true
    }
}

impl Default for FeatureFlags {
    fn default() -> Self {
        Self {
            listener_rules_tagging: true,
            weighted_target_groups: true,
            enable_ip_target_type: true,
            subnets_cluster_tag_check: true,
            subnet_discovery_by_reachability: true,
            alb_single_subnet: false,
            lb_capacity_reservation: true,
            enable_default_tags_low_priority: false,
            enhanced_default_behavior: false,
            enable_certificate_management: false,
            alb_target_control_agent: false,
            nlb_security_group: true,
            enable_tcp_udp_listener: false,
            nlb_health_check_advanced_config: true,
            service_type_load_balancer_only: false,
            enable_service_controller: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_facts_carry_upstream_flag_defaults() {
        let facts = ClusterFacts::new("c", "vpc-1");
        assert_eq!(facts.default_ssl_policy, "ELBSecurityPolicy-2016-08");
        assert_eq!(facts.default_scheme, Scheme::Internal);
        assert_eq!(facts.default_target_type, TargetType::Instance);
        assert!(facts.enable_backend_security_group);
        assert!(facts.tolerate_non_existent_backend_service);
        assert!(facts.features.subnets_cluster_tag_check);
        assert!(!facts.features.alb_single_subnet);
        assert!(!facts.features.enable_default_tags_low_priority);
    }

    #[test]
    fn feature_flags_deserialise_missing_fields_to_defaults() {
        let flags: FeatureFlags =
            serde_json::from_str(r#"{"albSingleSubnet": true}"#).expect("valid flags json");
        assert!(flags.alb_single_subnet);
        assert!(flags.listener_rules_tagging);
        assert!(flags.subnet_discovery_by_reachability);
    }
}
