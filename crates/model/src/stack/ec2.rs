//! EC2 resources of the stack: the controller-managed frontend security group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Description of the managed frontend security group of a load balancer.
pub const MANAGED_SECURITY_GROUP_DESCRIPTION: &str = "[k8s] Managed SecurityGroup for LoadBalancer";
/// Description of the cluster-wide backend security group.
pub const BACKEND_SECURITY_GROUP_DESCRIPTION: &str =
    "[k8s] Shared Backend SecurityGroup for LoadBalancer";

/// The desired security group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupSpec {
    pub group_name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Inbound rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IpPermission>,
}

/// One inbound rule: a protocol and port range from a set of sources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPermission {
    /// `tcp`, `udp`, `icmp` or `-1`.
    pub ip_protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_ranges: Vec<IpRange>,
    #[serde(rename = "ipv6Ranges", default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_ranges: Vec<Ipv6Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_lists: Vec<PrefixListId>,
    #[serde(
        rename = "userIDGroupPairs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub user_id_group_pairs: Vec<UserIdGroupPair>,
}

impl IpPermission {
    /// A TCP rule for one port with no sources yet.
    pub fn tcp_port(port: u16) -> Self {
        Self {
            ip_protocol: "tcp".to_owned(),
            from_port: Some(i32::from(port)),
            to_port: Some(i32::from(port)),
            ip_ranges: Vec::new(),
            ipv6_ranges: Vec::new(),
            prefix_lists: Vec::new(),
            user_id_group_pairs: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IpRange {
    #[serde(rename = "cidrIP")]
    pub cidr_ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ipv6Range {
    #[serde(rename = "cidrIPv6")]
    pub cidr_ipv6: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PrefixListId {
    #[serde(rename = "listID")]
    pub list_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserIdGroupPair {
    #[serde(rename = "groupID")]
    pub group_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}
