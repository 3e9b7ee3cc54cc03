//! [`IngressAnnotations`]: every Ingress-level `alb.ingress.kubernetes.io/*` annotation, typed.

use super::actions::{Action, Transform, parse_action, parse_transforms};
use super::auth::{JwtValidation, parse_jwt_validation};
use super::conditions::{RuleCondition, parse_conditions};
use super::frontend_nlb::FrontendNlb;
use super::listener::{
    ListenPort, ListenerKey, MutualAuthentication, parse_inbound_cidrs, parse_listen_ports,
    parse_listener_key, parse_mutual_authentication,
};
use super::primitives::{
    Cidr, ok_list, ok_string, parse_bool, parse_enum, parse_i32, parse_string_map,
};
use super::values::{IpAddressType, Scheme, WafSetting, parse_tags};
use super::{AnnotationError, Annotations, Reader};
use serde::Serialize;
use std::collections::BTreeMap;

/// Typed Ingress-level annotations (everything except the backend-scoped keys, see
/// [`BackendAnnotations`](super::BackendAnnotations)). `None` means the annotation is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressAnnotations {
    pub load_balancer_name: Option<String>,
    pub group_name: Option<String>,
    pub group_order: Option<i32>,
    pub tags: Option<BTreeMap<String, String>>,
    pub ip_address_type: Option<IpAddressType>,
    pub scheme: Option<Scheme>,
    pub subnets: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
    pub manage_backend_security_group_rules: Option<bool>,
    pub customer_owned_ipv4_pool: Option<String>,
    pub load_balancer_attributes: Option<BTreeMap<String, String>>,
    pub wafv2_acl_arn: Option<WafSetting>,
    pub wafv2_acl_name: Option<WafSetting>,
    /// `waf-acl-id`, or the deprecated `web-acl-id` when `waf-acl-id` is absent.
    pub waf_acl_id: Option<WafSetting>,
    pub shield_advanced_protection: Option<bool>,
    /// Sorted by port.
    pub listen_ports: Option<Vec<ListenPort>>,
    pub ssl_redirect: Option<i32>,
    pub inbound_cidrs: Option<Vec<Cidr>>,
    pub security_group_prefix_lists: Option<Vec<String>>,
    pub certificate_arn: Option<Vec<String>>,
    pub ssl_policy: Option<String>,
    pub mutual_authentication: Option<Vec<MutualAuthentication>>,
    /// `listener-attributes.${Protocol}-${Port}`, by listener.
    pub listener_attributes: BTreeMap<ListenerKey, BTreeMap<String, String>>,
    /// `CapacityUnits` of `minimum-load-balancer-capacity` (`None` also for an empty map).
    pub minimum_load_balancer_capacity: Option<i32>,
    pub ipam_ipv4_pool_id: Option<String>,
    pub use_regex_path_match: Option<bool>,
    pub jwt_validation: Option<JwtValidation>,
    /// `actions.${name}`, by name.
    pub actions: BTreeMap<String, Action>,
    /// `conditions.${name}`, by name.
    pub conditions: BTreeMap<String, Vec<RuleCondition>>,
    /// `transforms.${name}`, by name.
    pub transforms: BTreeMap<String, Vec<Transform>>,
    /// `enable-frontend-nlb` and `frontend-nlb-*`; `None` when none of them is present.
    pub frontend_nlb: Option<FrontendNlb>,
    pub create_acm_cert: Option<bool>,
    pub acm_pca_arn: Option<String>,
}

impl IngressAnnotations {
    /// Parses every Ingress-level annotation; on failure returns one error per bad key, in key order.
    pub fn parse(annotations: &Annotations) -> Result<Self, Vec<AnnotationError>> {
        let mut r = Reader::new(annotations);
        let waf_acl_id = r.get("waf-acl-id", parse_waf_id);
        let web_acl_id = r.get("web-acl-id", parse_waf_id);
        let parsed = Self {
            load_balancer_name: r.get("load-balancer-name", parse_load_balancer_name),
            group_name: r.get("group.name", parse_group_name),
            group_order: r.get("group.order", parse_group_order),
            tags: r.get("tags", parse_tags),
            ip_address_type: r.get("ip-address-type", parse_enum),
            scheme: r.get("scheme", parse_enum),
            subnets: r.get("subnets", ok_list),
            security_groups: r.get("security-groups", ok_list),
            manage_backend_security_group_rules: r
                .get("manage-backend-security-group-rules", parse_bool),
            customer_owned_ipv4_pool: r
                .get("customer-owned-ipv4-pool", parse_customer_owned_ipv4_pool),
            load_balancer_attributes: r.get("load-balancer-attributes", parse_string_map),
            wafv2_acl_arn: r.get("wafv2-acl-arn", |raw| {
                Ok(WafSetting::parse(raw, WafSetting::Arn))
            }),
            wafv2_acl_name: r.get("wafv2-acl-name", |raw| {
                Ok(WafSetting::parse(raw, WafSetting::Name))
            }),
            waf_acl_id: waf_acl_id.or(web_acl_id),
            shield_advanced_protection: r.get("shield-advanced-protection", parse_bool),
            listen_ports: r.get("listen-ports", parse_listen_ports),
            ssl_redirect: r.get("ssl-redirect", parse_ssl_redirect),
            inbound_cidrs: r.get("inbound-cidrs", parse_inbound_cidrs),
            security_group_prefix_lists: r.get("security-group-prefix-lists", ok_list),
            certificate_arn: r.get("certificate-arn", ok_list),
            ssl_policy: r.get("ssl-policy", ok_string),
            mutual_authentication: r.get("mutual-authentication", parse_mutual_authentication),
            listener_attributes: r.family("listener-attributes.", parse_listener_attributes),
            minimum_load_balancer_capacity: r
                .get("minimum-load-balancer-capacity", parse_minimum_capacity)
                .flatten(),
            ipam_ipv4_pool_id: r.get("ipam-ipv4-pool-id", ok_string),
            use_regex_path_match: r.get("use-regex-path-match", parse_bool),
            jwt_validation: r.get("jwt-validation", parse_jwt_validation),
            actions: r.family("actions.", |name, raw| {
                Ok((parse_name(name)?, parse_action(raw)?))
            }),
            conditions: r.family("conditions.", |name, raw| {
                Ok((parse_name(name)?, parse_conditions(raw)?))
            }),
            transforms: r.family("transforms.", |name, raw| {
                Ok((parse_name(name)?, parse_transforms(raw)?))
            }),
            frontend_nlb: FrontendNlb::read(&mut r),
            create_acm_cert: r.get("create-acm-cert", parse_create_acm_cert),
            acm_pca_arn: r.get("acm-pca-arn", ok_string),
        };
        r.finish(parsed)
    }
}

/// `waf-acl-id` / `web-acl-id`.
pub fn parse_waf_id(raw: &str) -> Result<WafSetting, String> {
    Ok(WafSetting::parse(raw, WafSetting::Id))
}

/// `load-balancer-name`: at most 32 alphanumerics or '-', not starting or ending with '-',
/// not starting with `internal-`.
pub fn parse_load_balancer_name(raw: &str) -> Result<String, String> {
    if raw.chars().count() > 32 {
        return Err("load balancer name cannot be longer than 32 characters".to_owned());
    }
    if raw.is_empty() {
        return Err("load balancer name cannot be empty".to_owned());
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        || raw.starts_with('-')
        || raw.ends_with('-')
    {
        return Err(format!(
            "load balancer name must consist of alphanumeric characters or '-', and must not begin or end with '-': {raw}"
        ));
    }
    if raw.starts_with("internal-") {
        return Err(format!(
            "load balancer name must not begin with \"internal-\": {raw}"
        ));
    }
    Ok(raw.to_owned())
}

/// `group.name`: `^([a-z0-9][-a-z0-9.]*)?[a-z0-9]$`, at most 63 characters.
pub fn parse_group_name(raw: &str) -> Result<String, String> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = raw.as_bytes();
    let valid = bytes.first().is_some_and(|b| alnum(*b))
        && bytes.last().is_some_and(|b| alnum(*b))
        && bytes.iter().all(|b| alnum(*b) || *b == b'-' || *b == b'.');
    if !valid {
        return Err("groupName must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".to_owned());
    }
    if raw.len() > 63 {
        return Err("groupName must be no more than 63 characters".to_owned());
    }
    Ok(raw.to_owned())
}

/// `group.order`: an int32 within [-1000, 1000].
pub fn parse_group_order(raw: &str) -> Result<i32, String> {
    let order = parse_i32(raw)?;
    if !(-1000..=1000).contains(&order) {
        return Err(format!(
            "explicit Ingress group order must be within [-1000:1000], order: {order}"
        ));
    }
    Ok(order)
}

/// `customer-owned-ipv4-pool`: must not be empty.
pub fn parse_customer_owned_ipv4_pool(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("cannot use empty value for customer-owned-ipv4-pool annotation".to_owned());
    }
    Ok(raw.to_owned())
}

/// `ssl-redirect`: the HTTPS port to redirect to.
pub fn parse_ssl_redirect(raw: &str) -> Result<i32, String> {
    let port = parse_i32(raw)?;
    if !(1..=65535).contains(&port) {
        return Err(format!(
            "ssl-redirect port must be within [1, 65535]: {port}"
        ));
    }
    Ok(port)
}

/// The capacity key of `minimum-load-balancer-capacity`.
pub const CAPACITY_UNITS: &str = "CapacityUnits";

/// `minimum-load-balancer-capacity`: `CapacityUnits=N` (N ≥ 0; 0 resets the reservation).
pub fn parse_minimum_capacity(raw: &str) -> Result<Option<i32>, String> {
    let mut units = None;
    for (key, value) in parse_string_map(raw)? {
        if key != CAPACITY_UNITS {
            return Err(format!(
                "invalid key to set the capacity: {key}, Expected key: {CAPACITY_UNITS}"
            ));
        }
        let parsed = value.parse::<i32>().ok().filter(|v| *v >= 0);
        units = Some(parsed.ok_or_else(|| format!("invalid value to set the capacity: {value}"))?);
    }
    Ok(units)
}

fn parse_listener_attributes(
    param: &str,
    raw: &str,
) -> Result<(ListenerKey, BTreeMap<String, String>), String> {
    Ok((parse_listener_key(param)?, parse_string_map(raw)?))
}

/// The `${name}` of an `actions.` / `conditions.` / `transforms.` key: a non-empty Service or action name.
pub fn parse_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("the annotation key must end with a name after the '.'".to_owned());
    }
    Ok(name.to_owned())
}

/// `create-acm-cert`: only `false` until certificate management is built.
pub fn parse_create_acm_cert(raw: &str) -> Result<bool, String> {
    super::primitives::parse_unbuilt_bool(raw, "ACM certificates (create-acm-cert)")
}
