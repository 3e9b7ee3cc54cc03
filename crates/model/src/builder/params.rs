//! IngressClassParams reduced to the values the builder applies, in the stack's own types.
//!
//! Upstream's precedence, per member: a set field replaces the matching annotation of every
//! Ingress of the class (scheme, IP address type, subnets, load balancer name, inbound CIDRs,
//! prefix lists, certificates, SSL policy, SSL redirect port, target type); tags and
//! load balancer / listener attributes merge with the annotations key by key, the params' keys
//! winning; capacity reservation, IPAM pool and attributes come from the group's first member.
//! An empty list counts as unset, as upstream's `len(...) != 0` checks do.

use std::collections::BTreeMap;

use contract::crd::{
    IngressClassParamsSpec, IpAddressType as CrdIpAddressType, ListenerProtocol,
    LoadBalancerScheme, TargetType as CrdTargetType,
};

use crate::stack::{IpAddressType, Protocol, Scheme, TargetType};
use crate::subnets::SubnetSelector;

/// The IngressClassParams fields the builder uses. [`Default`] is "no params".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassParams {
    pub group_name: Option<String>,
    pub scheme: Option<Scheme>,
    pub ip_address_type: Option<IpAddressType>,
    pub load_balancer_name: Option<String>,
    pub inbound_cidrs: Option<Vec<String>>,
    pub prefix_lists: Option<Vec<String>>,
    pub certificate_arns: Option<Vec<String>>,
    pub ssl_policy: Option<String>,
    /// Kept as written: upstream declares it a string.
    pub ssl_redirect_port: Option<String>,
    pub subnets: Option<SubnetSelector>,
    pub tags: BTreeMap<String, String>,
    pub target_type: Option<TargetType>,
    pub load_balancer_attributes: BTreeMap<String, String>,
    /// Attributes by listener protocol and port.
    pub listener_attributes: BTreeMap<(Protocol, u16), BTreeMap<String, String>>,
    pub minimum_capacity_units: Option<i32>,
    pub ipam_ipv4_pool_id: Option<String>,
    /// `wafv2AclArn`: replaces the `wafv2-acl-arn` annotation.
    pub wafv2_acl_arn: Option<String>,
    /// `wafv2AclName`: replaces the `wafv2-acl-name` annotation.
    pub wafv2_acl_name: Option<String>,
}

fn non_empty(list: Option<&Vec<String>>) -> Option<Vec<String>> {
    list.filter(|l| !l.is_empty()).cloned()
}

fn non_empty_str(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

impl ClassParams {
    /// The builder's view of an IngressClassParams spec.
    pub fn from_spec(spec: &IngressClassParamsSpec) -> Self {
        let subnets = spec.subnets.as_ref().and_then(|s| {
            match (
                s.ids.as_ref().filter(|ids| !ids.is_empty()),
                s.tags.as_ref(),
            ) {
                (Some(ids), _) => Some(SubnetSelector::Ids(ids.clone())),
                (None, Some(tags)) if !tags.is_empty() => Some(SubnetSelector::Tags(tags.clone())),
                _ => None,
            }
        });
        let mut listener_attributes: BTreeMap<(Protocol, u16), BTreeMap<String, String>> =
            BTreeMap::new();
        for listener in spec.listeners.iter().flatten() {
            let (Some(protocol), Some(port)) = (listener.protocol, listener.port) else {
                continue;
            };
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            let protocol = match protocol {
                ListenerProtocol::Http => Protocol::Http,
                ListenerProtocol::Https => Protocol::Https,
            };
            let attributes = listener_attributes.entry((protocol, port)).or_default();
            for attribute in listener.listener_attributes.iter().flatten() {
                attributes.insert(attribute.key.clone(), attribute.value.clone());
            }
        }
        Self {
            group_name: spec
                .group
                .as_ref()
                .map(|g| g.name.clone())
                .filter(|n| !n.is_empty()),
            scheme: spec.scheme.map(|s| match s {
                LoadBalancerScheme::Internal => Scheme::Internal,
                LoadBalancerScheme::InternetFacing => Scheme::InternetFacing,
            }),
            ip_address_type: spec.ip_address_type.map(|t| match t {
                CrdIpAddressType::Ipv4 => IpAddressType::Ipv4,
                CrdIpAddressType::Dualstack => IpAddressType::Dualstack,
                CrdIpAddressType::DualstackWithoutPublicIpv4 => {
                    IpAddressType::DualstackWithoutPublicIpv4
                }
            }),
            load_balancer_name: non_empty_str(spec.load_balancer_name.as_ref()),
            inbound_cidrs: non_empty(spec.inbound_cidrs.as_ref()),
            prefix_lists: spec
                .prefix_lists()
                .filter(|l| !l.is_empty())
                .map(<[String]>::to_vec),
            certificate_arns: non_empty(spec.certificate_arn.as_ref()),
            ssl_policy: non_empty_str(spec.ssl_policy.as_ref()),
            ssl_redirect_port: non_empty_str(spec.ssl_redirect_port.as_ref()),
            subnets,
            tags: spec
                .tags
                .iter()
                .flatten()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            target_type: spec.target_type.map(|t| match t {
                CrdTargetType::Instance => TargetType::Instance,
                CrdTargetType::Ip => TargetType::Ip,
            }),
            load_balancer_attributes: spec
                .load_balancer_attributes
                .iter()
                .flatten()
                .map(|a| (a.key.clone(), a.value.clone()))
                .collect(),
            listener_attributes,
            minimum_capacity_units: spec
                .minimum_load_balancer_capacity
                .as_ref()
                .map(|c| c.capacity_units),
            ipam_ipv4_pool_id: spec
                .ipam_configuration
                .as_ref()
                .and_then(|c| non_empty_str(c.ipv4_ipam_pool_id.as_ref())),
            wafv2_acl_arn: non_empty_str(spec.wafv2_acl_arn.as_ref()),
            wafv2_acl_name: non_empty_str(spec.wafv2_acl_name.as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_count_as_unset() {
        let spec: IngressClassParamsSpec = serde_json::from_value(serde_json::json!({
            "inboundCIDRs": [],
            "certificateArn": [],
            "sslPolicy": "",
            "scheme": "internet-facing",
            "PrefixListsIDs": ["pl-1"],
            "subnets": {"tags": {"tier": ["web"]}},
            "listeners": [{"protocol": "HTTPS", "port": 443,
                           "listenerAttributes": [{"key": "k", "value": "v"}]}],
            "tags": [{"key": "team", "value": "a"}],
        }))
        .expect("valid spec");
        let params = ClassParams::from_spec(&spec);
        assert_eq!(params.inbound_cidrs, None);
        assert_eq!(params.certificate_arns, None);
        assert_eq!(params.ssl_policy, None);
        assert_eq!(params.scheme, Some(Scheme::InternetFacing));
        assert_eq!(params.prefix_lists, Some(vec!["pl-1".to_owned()]));
        assert_eq!(
            params.subnets,
            Some(SubnetSelector::Tags(BTreeMap::from([(
                "tier".to_owned(),
                vec!["web".to_owned()]
            )])))
        );
        assert_eq!(
            params.listener_attributes.get(&(Protocol::Https, 443)),
            Some(&BTreeMap::from([("k".to_owned(), "v".to_owned())]))
        );
        assert_eq!(params.tags.get("team").map(String::as_str), Some("a"));
    }
}
