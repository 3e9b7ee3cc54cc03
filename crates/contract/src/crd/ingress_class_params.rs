//! `IngressClassParams` (`elbv2.k8s.aws/v1beta1`, cluster-scoped): settings an IngressClass
//! imposes on every Ingress of that class, overriding the matching annotations.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Attribute, Tag, TargetType};

/// CEL rule refusing both spellings of the prefix-list field at once.
pub const PREFIX_LISTS_RULE: &str = "!(has(self.prefixListsIDs) && has(self.PrefixListsIDs))";
/// Message of [`PREFIX_LISTS_RULE`], as upstream words it.
pub const PREFIX_LISTS_MESSAGE: &str =
    "cannot specify both 'prefixListsIDs' and 'PrefixListsIDs' fields";
/// CEL rule requiring exactly one way of selecting subnets.
pub const SUBNETS_RULE: &str = "has(self.ids) != has(self.tags)";
/// Message of [`SUBNETS_RULE`].
pub const SUBNETS_MESSAGE: &str = "exactly one of `ids` or `tags` must be specified";

/// Settings applied to every Ingress whose IngressClass references this object in
/// `spec.parameters`. A value set here wins over the corresponding annotation.
// kube's repeated `printcolumn(type_ = ...)` look like duplicates to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "elbv2.k8s.aws",
    version = "v1beta1",
    kind = "IngressClassParams",
    singular = "ingressclassparam",
    plural = "ingressclassparams",
    derive = "PartialEq",
    derive = "Default",
    doc = "IngressClassParams is the Schema for the IngressClassParams API",
    printcolumn(
        name = "GROUP-NAME",
        type_ = "string",
        json_path = ".spec.group.name",
        description = "The Ingress Group name"
    ),
    printcolumn(
        name = "SCHEME",
        type_ = "string",
        json_path = ".spec.scheme",
        description = "The AWS Load Balancer scheme"
    ),
    printcolumn(
        name = "IP-ADDRESS-TYPE",
        type_ = "string",
        json_path = ".spec.ipAddressType",
        description = "The AWS Load Balancer ipAddressType"
    ),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(PREFIX_LISTS_RULE).message(PREFIX_LISTS_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct IngressClassParamsSpec {
    /// Namespaces whose Ingresses may use this class; absent or empty selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Puts every Ingress of the class into this IngressGroup (one shared ALB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IngressGroup>,

    /// Load balancer scheme for every Ingress of the class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<LoadBalancerScheme>,

    /// CIDRs allowed to reach the load balancer.
    #[serde(
        default,
        rename = "inboundCIDRs",
        skip_serializing_if = "Option::is_none"
    )]
    pub inbound_cidrs: Option<Vec<String>>,

    /// SSL policy of the HTTPS listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,

    /// Port that HTTP requests are redirected to (a string, as upstream declares it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_redirect_port: Option<String>,

    /// Subnets of the load balancer, by ID or by tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<SubnetSelector>,

    /// IP address type of the load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<IpAddressType>,

    /// Tags on the AWS resources created for Ingresses of the class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,

    /// Target type of the target groups (overrides the Ingress and Service annotations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,

    /// Load balancer attributes; keys set here win over the annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_attributes: Option<Vec<Attribute>>,

    /// Attributes per listener (matched by protocol and port); does not create listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listeners: Option<Vec<Listener>>,

    /// Capacity reservation of the load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_load_balancer_capacity: Option<MinimumLoadBalancerCapacity>,

    /// IPAM pool settings of the load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_configuration: Option<IpamConfiguration>,

    /// Managed prefix lists allowed in the load balancer's security group.
    #[serde(
        default,
        rename = "prefixListsIDs",
        skip_serializing_if = "Option::is_none"
    )]
    pub prefix_lists_ids: Option<Vec<String>>,

    /// Legacy spelling of `prefixListsIDs`; prefer that one.
    #[serde(
        default,
        rename = "PrefixListsIDs",
        skip_serializing_if = "Option::is_none"
    )]
    pub prefix_lists_ids_legacy: Option<Vec<String>>,

    /// ACM certificate ARNs of the HTTPS listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<Vec<String>>,

    /// Name of the load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_name: Option<String>,

    /// ARN of the WAFv2 web ACL to associate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wafv2_acl_arn: Option<String>,

    /// Name of the WAFv2 web ACL to associate (wins over the ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wafv2_acl_name: Option<String>,
}

impl IngressClassParamsSpec {
    /// The prefix lists, preferring `prefixListsIDs` over the legacy spelling.
    pub fn prefix_lists(&self) -> Option<&[String]> {
        self.prefix_lists_ids
            .as_deref()
            .or(self.prefix_lists_ids_legacy.as_deref())
    }
}

/// The IngressGroup every Ingress of the class joins.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct IngressGroup {
    /// Name of the IngressGroup.
    pub name: String,
}

/// Whether the load balancer gets public addresses.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadBalancerScheme {
    #[serde(rename = "internal")]
    Internal,
    #[serde(rename = "internet-facing")]
    InternetFacing,
}

impl LoadBalancerScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancerScheme::Internal => "internal",
            LoadBalancerScheme::InternetFacing => "internet-facing",
        }
    }
}

impl fmt::Display for LoadBalancerScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// IP address type of the load balancer.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpAddressType {
    #[serde(rename = "ipv4")]
    Ipv4,
    #[serde(rename = "dualstack")]
    Dualstack,
    #[serde(rename = "dualstack-without-public-ipv4")]
    DualstackWithoutPublicIpv4,
}

impl IpAddressType {
    pub fn as_str(self) -> &'static str {
        match self {
            IpAddressType::Ipv4 => "ipv4",
            IpAddressType::Dualstack => "dualstack",
            IpAddressType::DualstackWithoutPublicIpv4 => "dualstack-without-public-ipv4",
        }
    }
}

impl fmt::Display for IpAddressType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Subnets of the load balancer: exactly one of `ids` and `tags`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[x_kube(validation = Rule::new(SUBNETS_RULE).message(SUBNETS_MESSAGE))]
pub struct SubnetSelector {
    /// Subnet IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), inner(regex(pattern = "subnet-[0-9a-f]+")))]
    pub ids: Option<Vec<String>>,

    /// Subnets of the load balancer's VPC carrying, for every key, one of the listed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, Vec<String>>>,
}

/// Attributes of the listener with this protocol and port.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// Protocol of the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<ListenerProtocol>,

    /// Port of the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,

    /// Attributes of the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_attributes: Option<Vec<Attribute>>,
}

/// Protocol of an ALB listener.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListenerProtocol {
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
}

impl ListenerProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerProtocol::Http => "HTTP",
            ListenerProtocol::Https => "HTTPS",
        }
    }
}

impl fmt::Display for ListenerProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Capacity reservation of the load balancer.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MinimumLoadBalancerCapacity {
    /// Reserved capacity units.
    pub capacity_units: i32,
}

/// IPAM settings of the load balancer.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct IpamConfiguration {
    /// IPAM pool that the load balancer's IPv4 addresses come from.
    #[serde(
        default,
        rename = "ipv4IPAMPoolId",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_ipam_pool_id: Option<String>,
}
