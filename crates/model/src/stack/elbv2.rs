//! Elastic Load Balancing v2 resources of the stack: load balancer, listeners, rules, target
//! groups, and the action and condition shapes they share. Field names follow the ELBv2 API as
//! upstream's model spells them in JSON.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use super::{Action, RuleCondition, StringToken, Transform};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The value as AWS spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Whether the load balancer has public addresses.
    Scheme { Internal => "internal", InternetFacing => "internet-facing" }
);
string_enum!(
    /// The address families of the load balancer.
    IpAddressType {
        Ipv4 => "ipv4",
        Dualstack => "dualstack",
        DualstackWithoutPublicIpv4 => "dualstack-without-public-ipv4",
    }
);
string_enum!(
    LoadBalancerType { Application => "application", Network => "network" }
);
string_enum!(
    /// How targets are registered: node instances behind NodePorts, or pod IPs.
    TargetType { Instance => "instance", Ip => "ip", Alb => "alb" }
);
string_enum!(
    Protocol {
        Http => "HTTP",
        Https => "HTTPS",
        Tcp => "TCP",
        Tls => "TLS",
        Udp => "UDP",
        TcpUdp => "TCP_UDP",
        Quic => "QUIC",
        TcpQuic => "TCP_QUIC",
    }
);
string_enum!(
    ProtocolVersion { Http1 => "HTTP1", Http2 => "HTTP2", Grpc => "GRPC" }
);
string_enum!(
    TargetGroupIpAddressType { Ipv4 => "ipv4", Ipv6 => "ipv6" }
);
string_enum!(
    ActionType {
        AuthenticateCognito => "authenticate-cognito",
        AuthenticateOidc => "authenticate-oidc",
        JwtValidation => "jwt-validation",
        FixedResponse => "fixed-response",
        Forward => "forward",
        Redirect => "redirect",
    }
);
string_enum!(
    /// What an authenticate action does with an unauthenticated request.
    OnUnauthenticatedRequest { Deny => "deny", Allow => "allow", Authenticate => "authenticate" }
);
string_enum!(
    RuleConditionField {
        HostHeader => "host-header",
        HttpHeader => "http-header",
        HttpRequestMethod => "http-request-method",
        PathPattern => "path-pattern",
        QueryString => "query-string",
        SourceIp => "source-ip",
    }
);
string_enum!(
    TransformType { HostHeaderRewrite => "host-header-rewrite", UrlRewrite => "url-rewrite" }
);

/// A `key=value` attribute of a load balancer, listener or target group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

/// A subnet the load balancer is placed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetMapping {
    #[serde(rename = "subnetID")]
    pub subnet_id: String,
    #[serde(
        rename = "allocationID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub allocation_id: Option<String>,
    #[serde(
        rename = "privateIPv4Address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub private_ipv4_address: Option<String>,
    #[serde(
        rename = "ipv6Address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_address: Option<String>,
    /// NLB source NAT: `auto_assigned` or an IPv6 /80 of the subnet.
    #[serde(
        rename = "sourceNatIpv6Prefix",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_nat_ipv6_prefix: Option<String>,
}

/// `minimum-load-balancer-capacity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MinimumLoadBalancerCapacity {
    pub capacity_units: i32,
}

/// `ipam-ipv4-pool-id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfiguration {
    #[serde(rename = "ipv4IPAMPoolId")]
    pub ipv4_ipam_pool_id: String,
}

/// The desired load balancer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub load_balancer_type: LoadBalancerType,
    pub scheme: Scheme,
    pub ip_address_type: IpAddressType,
    #[serde(
        rename = "subnetMapping",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subnet_mappings: Vec<SubnetMapping>,
    /// Security group IDs, or references to the managed security group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<StringToken>,
    #[serde(
        rename = "customerOwnedIPv4Pool",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_owned_ipv4_pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_configuration: Option<IpamConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_load_balancer_capacity: Option<MinimumLoadBalancerCapacity>,
    /// NLB only: `on` or `off` (always sent for NLBs, as upstream).
    #[serde(
        rename = "enablePrefixForIpv6SourceNat",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_prefix_for_ipv6_source_nat: Option<String>,
    /// NLB only: `on` or `off` (`aws-load-balancer-inbound-sg-rules-on-private-link-traffic`).
    #[serde(
        rename = "securityGroupsInboundRulesOnPrivateLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub security_groups_inbound_rules_on_private_link: Option<String>,
    /// Only the attributes the user set; others are left as AWS has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// A listener certificate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Certificate {
    #[serde(rename = "certificateARN")]
    pub certificate_arn: String,
}

/// Mutual TLS settings of an HTTPS listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutualAuthentication {
    /// `off`, `passthrough` or `verify`.
    pub mode: String,
    #[serde(
        rename = "trustStoreArn",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub trust_store_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_client_certificate_expiry: Option<bool>,
    /// `on` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_trust_store_ca_names: Option<String>,
}

/// The desired listener, keyed by its port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerSpec {
    #[serde(rename = "loadBalancerARN")]
    pub load_balancer_arn: StringToken,
    pub port: u16,
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_actions: Vec<Action>,
    /// The first certificate is the default one; the rest are SNI certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    #[serde(rename = "sslPolicy", default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn_policy: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutual_authentication: Option<MutualAuthentication>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listener_attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// The desired listener rule, keyed `<port>:<priority>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRuleSpec {
    #[serde(rename = "listenerARN")]
    pub listener_arn: StringToken,
    pub priority: u32,
    pub actions: Vec<Action>,
    pub conditions: Vec<RuleCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// The desired target group, keyed `<ingNs>/<ingName>-<svcName>:<svcPort>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupSpec {
    pub name: String,
    pub target_type: TargetType,
    /// NodePort (instance), numeric targetPort (ip), or 1 for a named targetPort.
    pub port: i32,
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<ProtocolVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<TargetGroupIpAddressType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_config: Option<HealthCheckConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_group_attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_control_port: Option<i32>,
    /// `alb` target groups (the frontend NLB's): the ALB registered as their target.
    #[serde(rename = "albTargets", default, skip_serializing_if = "Vec::is_empty")]
    pub alb_targets: Vec<AlbTarget>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// An Application Load Balancer registered in an `alb` target group, on one of its listener
/// ports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlbTarget {
    #[serde(rename = "loadBalancerARN")]
    pub load_balancer_arn: StringToken,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckConfig {
    /// A port number, or `traffic-port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matcher: Option<HealthCheckMatcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold_count: Option<i32>,
}

/// Success codes: HTTP codes, or gRPC codes for GRPC target groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckMatcher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_code: Option<String>,
}
