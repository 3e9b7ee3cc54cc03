//! [`ANNOTATIONS`]: the table of every `alb.ingress.kubernetes.io/*` annotation. Each entry's
//! check calls the same parser the typed structs use, so [`check_all`](super::check_all) and
//! the typed parse agree key by key.

use super::actions::{parse_action, parse_transforms};
use super::auth::{
    AuthType, OnUnauthenticatedRequest, parse_cognito, parse_jwt_validation, parse_oidc,
};
use super::backend::{
    parse_backend_protocol, parse_backend_protocol_version, parse_health_check_port,
    parse_target_control_key, parse_target_control_port,
};
use super::conditions::parse_conditions;
use super::frontend_nlb::{
    parse_enable_frontend_nlb, parse_health_check_protocol, parse_nlb_health_check_port,
    parse_port_mapping,
};
use super::ingress::{
    parse_create_acm_cert, parse_customer_owned_ipv4_pool, parse_group_name, parse_group_order,
    parse_load_balancer_name, parse_minimum_capacity, parse_name, parse_ssl_redirect,
};
use super::listener::{
    parse_inbound_cidrs, parse_listen_ports, parse_listener_key, parse_mutual_authentication,
};
use super::primitives::{parse_bool, parse_enum, parse_i32, parse_i64, parse_string_map};
use super::spec::{AnnotationSpec, Scope, ValueKind, spec};
use super::values::parse_tags;
use super::values::{
    IpAddressType, Protocol, ProtocolVersion, Scheme, TargetType, parse_success_codes,
};

fn ok<T>(result: Result<T, String>) -> Result<(), String> {
    result.map(drop)
}

fn none(_: &str, _: &str) -> Result<(), String> {
    Ok(())
}

fn bool_value(_: &str, raw: &str) -> Result<(), String> {
    ok(parse_bool(raw))
}

fn int32_value(_: &str, raw: &str) -> Result<(), String> {
    ok(parse_i32(raw))
}

fn map_value(_: &str, raw: &str) -> Result<(), String> {
    ok(parse_string_map(raw))
}

fn tags_value(_: &str, raw: &str) -> Result<(), String> {
    ok(parse_tags(raw))
}

fn scheme_value(_: &str, raw: &str) -> Result<(), String> {
    ok(parse_enum::<Scheme>(raw))
}

fn success_codes_value(_: &str, raw: &str) -> Result<(), String> {
    ok(parse_success_codes(raw))
}

fn health_check_protocol_value(_: &str, raw: &str) -> Result<(), String> {
    ok(parse_health_check_protocol(raw))
}

use Scope::{Backend, GroupExclusive, GroupMerge, Ingress, Output, PortMerge};
use ValueKind::{Bool, Int32, Int64, IntOrString, Json, StringList, StringMap};

const STRING: ValueKind = ValueKind::String;

/// Every `alb.ingress.kubernetes.io/*` annotation. Arguments of each entry: suffix, kind, scope,
/// default, IngressClassParams field, example, doc, check.
#[rustfmt::skip]
pub static ANNOTATIONS: &[AnnotationSpec] = &[
    spec("load-balancer-name", STRING, GroupExclusive, "", Some("loadBalancerName"), "my-alb",
        "Name of the ALB (at most 32 alphanumerics or '-'); only effective when the ALB is created; default is a generated k8s-… name.",
        |_, raw| ok(parse_load_balancer_name(raw))),
    spec("group.name", STRING, Ingress, "", Some("group.name"), "my-team.shared",
        "IngressGroup to join; Ingresses of a group share one ALB. Absent: the Ingress forms its own group.",
        |_, raw| ok(parse_group_name(raw))),
    spec("group.order", Int32, Ingress, "0", None, "10",
        "Order of this Ingress's rules within its group, within [-1000, 1000]; lower first.",
        |_, raw| ok(parse_group_order(raw))),
    spec("tags", StringMap, GroupMerge, "", Some("tags"), "Environment=dev,Team=web",
        "AWS tags for the ALB, listeners, rules and security group; on a Service, also for its target groups.",
        tags_value),
    spec("ip-address-type", ValueKind::Enum(IpAddressType::VALUES), GroupExclusive, "ipv4", Some("ipAddressType"), "dualstack",
        "IP address type of the ALB.",
        |_, raw| ok(parse_enum::<IpAddressType>(raw))),
    spec("scheme", ValueKind::Enum(Scheme::VALUES), GroupExclusive, "internal", Some("scheme"), "internet-facing",
        "Scheme of the ALB (default from --default-load-balancer-scheme); changing it replaces the ALB.",
        scheme_value),
    spec("subnets", StringList, GroupExclusive, "", Some("subnets"), "subnet-0a1b2c3d,subnet-0e1f2a3b",
        "Subnet IDs or Name tags for the ALB; default: auto-discovery.",
        none),
    spec("security-groups", StringList, GroupExclusive, "", None, "sg-0a1b2c3d",
        "Security group IDs or Name tags for the ALB; disables the controller-managed security group.",
        none),
    spec("manage-backend-security-group-rules", Bool, GroupExclusive, "false", None, "true",
        "With security-groups: whether the controller still manages the backend security group rules.",
        bool_value),
    spec("customer-owned-ipv4-pool", STRING, GroupExclusive, "", None, "ipv4pool-coip-0a1b2c3d",
        "Customer-owned IPv4 pool (Outposts); cannot be empty.",
        |_, raw| ok(parse_customer_owned_ipv4_pool(raw))),
    spec("load-balancer-attributes", StringMap, GroupMerge, "", Some("loadBalancerAttributes"), "idle_timeout.timeout_seconds=600",
        "ALB attributes; absent keys are left unchanged on AWS.",
        map_value),
    spec("wafv2-acl-arn", STRING, GroupExclusive, "", Some("wafv2AclArn"), "arn:aws:wafv2:us-west-2:123456789012:regional/webacl/x/1",
        "WAFv2 Web ACL ARN to associate; `none` disassociates; absent leaves the association unchanged.",
        none),
    spec("wafv2-acl-name", STRING, GroupExclusive, "", Some("wafv2AclName"), "my-web-acl",
        "WAFv2 Web ACL name to associate (takes precedence over the ARN); `none` disassociates.",
        none),
    spec("waf-acl-id", STRING, GroupExclusive, "", None, "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        "WAF Classic regional Web ACL id; `none` disassociates.",
        none),
    spec("web-acl-id", STRING, GroupExclusive, "", None, "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        "Deprecated alias of waf-acl-id (used only when waf-acl-id is absent).",
        none),
    spec("shield-advanced-protection", Bool, GroupExclusive, "", None, "true",
        "Shield Advanced protection for the ALB; absent leaves it unchanged.",
        bool_value),
    spec("listen-ports", Json, PortMerge, r#"[{"HTTP":80}]"#, None, r#"[{"HTTP":80},{"HTTPS":443}]"#,
        "Listeners as a JSON list of {\"HTTP\"|\"HTTPS\": port}; default HTTPS:443 when certificates are configured.",
        |_, raw| ok(parse_listen_ports(raw))),
    spec("ssl-redirect", Int32, GroupExclusive, "", Some("sslRedirectPort"), "443",
        "Redirect every HTTP listener to this HTTPS listener port.",
        |_, raw| ok(parse_ssl_redirect(raw))),
    spec("inbound-cidrs", StringList, PortMerge, "0.0.0.0/0", Some("inboundCIDRs"), "10.0.0.0/8,2001:db8::/32",
        "CIDRs allowed into the managed security group (::/0 added by default for dualstack).",
        |_, raw| ok(parse_inbound_cidrs(raw))),
    spec("security-group-prefix-lists", StringList, PortMerge, "", Some("prefixListsIDs"), "pl-0a1b2c3d",
        "Managed prefix lists allowed into the managed security group.",
        none),
    spec("certificate-arn", StringList, PortMerge, "", Some("certificateArn"), "arn:aws:acm:us-west-2:123456789012:certificate/x",
        "ACM certificate ARNs for HTTPS listeners (first is the default); default: discovery by host.",
        none),
    spec("ssl-policy", STRING, PortMerge, "ELBSecurityPolicy-2016-08", Some("sslPolicy"), "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "Security policy of HTTPS listeners (default from --default-ssl-policy).",
        none),
    spec("mutual-authentication", Json, PortMerge, "", None, r#"[{"port":443,"mode":"verify","trustStore":"my-trust-store"}]"#,
        "mTLS per HTTPS port: JSON list of {port, mode (off|passthrough|verify), trustStore, ignoreClientCertificateExpiry, advertiseTrustStoreCaNames}. Absent: the listener's mTLS is left as AWS has it.",
        |_, raw| ok(parse_mutual_authentication(raw))),
    spec("listener-attributes.", StringMap, GroupMerge, "", Some("listeners"), "routing.http.response.server.enabled=false",
        "listener-attributes.${Protocol}-${Port} (e.g. listener-attributes.HTTPS-443): attributes of that listener.",
        |param, raw| { parse_listener_key(param)?; ok(parse_string_map(raw)) }),
    spec("minimum-load-balancer-capacity", StringMap, GroupExclusive, "", Some("minimumLoadBalancerCapacity.capacityUnits"), "CapacityUnits=1000",
        "Capacity reservation: CapacityUnits=N (0 resets); absent leaves it unchanged.",
        |_, raw| ok(parse_minimum_capacity(raw))),
    spec("ipam-ipv4-pool-id", STRING, GroupExclusive, "", Some("ipamConfiguration.ipv4IPAMPoolId"), "ipam-pool-0a1b2c3d",
        "IPAM IPv4 pool for the ALB's addresses; removing it detaches the pool.",
        none),
    spec("use-regex-path-match", Bool, Ingress, "false", None, "true",
        "Treat ImplementationSpecific paths as regular expressions.",
        bool_value),
    spec("jwt-validation", Json, Ingress, "", None, r#"{"jwksEndpoint":"https://issuer.example.com/jwks","issuer":"https://issuer.example.com"}"#,
        "Validate a bearer JWT before routing: {jwksEndpoint, issuer, additionalClaims[{format, name, values}]}.",
        |_, raw| ok(parse_jwt_validation(raw))),
    spec("actions.", Json, Ingress, "", None, r#"{"type":"redirect","redirectConfig":{"protocol":"HTTPS","port":"443","statusCode":"HTTP_301"}}"#,
        "actions.${name}: JSON action (fixed-response, redirect or forward) for backends with port name use-annotation.",
        |param, raw| { parse_name(param)?; ok(parse_action(raw)) }),
    spec("conditions.", Json, Ingress, "", None, r#"[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Env","values":["dev"]}}]"#,
        "conditions.${name}: JSON list of extra rule conditions for the paths routed to backend ${name}.",
        |param, raw| { parse_name(param)?; ok(parse_conditions(raw)) }),
    spec("transforms.", Json, Ingress, "", None, r#"[{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"^/api/(.*)$","replace":"/$1"}]}}]"#,
        "transforms.${name}: JSON list of url-rewrite / host-header-rewrite transforms for backend ${name}.",
        |param, raw| { parse_name(param)?; ok(parse_transforms(raw)) }),
    spec("enable-frontend-nlb", Bool, GroupExclusive, "false", None, "false",
        "Put a Network Load Balancer in front of the ALB: one TCP listener per ALB listener port (or per frontend-nlb-listener-port-mapping entry), each forwarding to an `alb` target group that registers the ALB; its DNS name is a second entry of the Ingress status.",
        |_, raw| ok(parse_enable_frontend_nlb(raw))),
    spec("frontend-nlb-scheme", ValueKind::Enum(Scheme::VALUES), GroupExclusive, "internal", None, "internet-facing",
        "Scheme of the frontend NLB.",
        scheme_value),
    spec("frontend-nlb-subnets", StringList, GroupExclusive, "", None, "subnet-0a1b2c3d",
        "Subnets of the frontend NLB; default: the ALB's.",
        none),
    spec("frontend-nlb-security-groups", StringList, GroupExclusive, "", None, "sg-0a1b2c3d",
        "Security groups of the frontend NLB; default: the ALB's.",
        none),
    spec("frontend-nlb-listener-port-mapping", StringMap, GroupMerge, "", None, "80=443",
        "NLB listener port = ALB listener port; default: one NLB listener per ALB listener port.",
        |_, raw| ok(parse_port_mapping(raw))),
    spec("frontend-nlb-eip-allocations", StringList, GroupExclusive, "", None, "eipalloc-0a1b2c3d",
        "Elastic IP allocations, one per subnet (internet-facing only).",
        none),
    spec("frontend-nlb-healthcheck-port", IntOrString, PortMerge, "traffic-port", None, "8080",
        "Health check port of the NLB target groups: traffic-port or a number.",
        |_, raw| ok(parse_nlb_health_check_port(raw))),
    spec("frontend-nlb-healthcheck-protocol", ValueKind::Enum(Protocol::VALUES), PortMerge, "HTTP", None, "HTTPS",
        "Health check protocol of the NLB target groups.",
        health_check_protocol_value),
    spec("frontend-nlb-healthcheck-path", STRING, PortMerge, "/", None, "/healthz",
        "Health check path of the NLB target groups.",
        none),
    spec("frontend-nlb-healthcheck-interval-seconds", Int32, PortMerge, "15", None, "10",
        "Health check interval of the NLB target groups.",
        int32_value),
    spec("frontend-nlb-healthcheck-timeout-seconds", Int32, PortMerge, "5", None, "6",
        "Health check timeout of the NLB target groups.",
        int32_value),
    spec("frontend-nlb-healthcheck-healthy-threshold-count", Int32, PortMerge, "3", None, "4",
        "Healthy threshold of the NLB target groups.",
        int32_value),
    spec("frontend-nlb-healthcheck-unhealthy-threshold-count", Int32, PortMerge, "3", None, "4",
        "Unhealthy threshold of the NLB target groups.",
        int32_value),
    spec("frontend-nlb-healthcheck-success-codes", STRING, PortMerge, "200", None, "200-299",
        "Health check success codes of the NLB target groups.",
        success_codes_value),
    spec("frontend-nlb-attributes", StringMap, GroupMerge, "", None, "load_balancing.cross_zone.enabled=true",
        "Attributes of the frontend NLB.",
        map_value),
    spec("frontend-nlb-tags", StringMap, GroupMerge, "", None, "Team=web",
        "AWS tags of the frontend NLB.",
        tags_value),
    spec("create-acm-cert", Bool, Ingress, "false", None, "false",
        "Request an ACM certificate for the Ingress hosts (feature gate EnableCertificateManagement). Not built yet: \"true\" is refused at admission and by `plan`.",
        |_, raw| ok(parse_create_acm_cert(raw))),
    spec("acm-pca-arn", STRING, Ingress, "", None, "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/x",
        "Private CA to issue the created certificate from.",
        none),
    spec("target-type", ValueKind::Enum(TargetType::VALUES), Backend, "instance", Some("targetType"), "ip",
        "How targets are registered: instance (NodePort) or ip (pod IPs) (default from --default-target-type).",
        |_, raw| ok(parse_enum::<TargetType>(raw))),
    spec("target-node-labels", StringMap, Backend, "", None, "node-group=web",
        "Instance targets: only nodes with these labels.",
        map_value),
    spec("backend-protocol", ValueKind::Enum(Protocol::VALUES), Backend, "HTTP", None, "HTTPS",
        "Protocol from the ALB to the targets.",
        |_, raw| ok(parse_backend_protocol(raw))),
    spec("backend-protocol-version", ValueKind::Enum(ProtocolVersion::VALUES), Backend, "HTTP1", None, "GRPC",
        "Protocol version from the ALB to the targets.",
        |_, raw| ok(parse_backend_protocol_version(raw))),
    spec("target-group-attributes", StringMap, Backend, "", None, "deregistration_delay.timeout_seconds=30",
        "Target group attributes.",
        map_value),
    spec("healthcheck-port", IntOrString, Backend, "traffic-port", None, "traffic-port",
        "Health check port: traffic-port, a number or a Service port name.",
        |_, raw| ok(parse_health_check_port(raw))),
    spec("healthcheck-protocol", ValueKind::Enum(Protocol::VALUES), Backend, "HTTP", None, "HTTPS",
        "Health check protocol (default: the backend protocol).",
        health_check_protocol_value),
    spec("healthcheck-path", STRING, Backend, "/", None, "/healthz",
        "Health check path (default / for HTTP1/HTTP2, /AWS.ALB/healthcheck for GRPC).",
        none),
    spec("healthcheck-interval-seconds", Int32, Backend, "15", None, "10",
        "Seconds between health checks.",
        int32_value),
    spec("healthcheck-timeout-seconds", Int32, Backend, "5", None, "8",
        "Health check timeout in seconds.",
        int32_value),
    spec("healthy-threshold-count", Int32, Backend, "2", None, "3",
        "Consecutive successes before a target is healthy.",
        int32_value),
    spec("unhealthy-threshold-count", Int32, Backend, "2", None, "3",
        "Consecutive failures before a target is unhealthy.",
        int32_value),
    spec("success-codes", STRING, Backend, "200", None, "200,201",
        "Health check success codes: HTTP codes 200-499 (default 200) or GRPC codes 0-99 (default 12).",
        success_codes_value),
    spec("multi-cluster-target-group", Bool, Backend, "false", None, "true",
        "Allow targets registered by other clusters in the target group.",
        bool_value),
    spec("target-control-port.", Int32, Backend, "", None, "3000",
        "target-control-port.${service}.${port}: port of the ALB target control agent (ip targets only).",
        |param, raw| { parse_target_control_key(param)?; ok(parse_target_control_port(raw)) }),
    spec("auth-type", ValueKind::Enum(AuthType::VALUES), Backend, "none", None, "cognito",
        "Authentication on HTTPS listeners: none, oidc or cognito.",
        |_, raw| ok(parse_enum::<AuthType>(raw))),
    spec("auth-idp-cognito", Json, Backend, "", None, r#"{"userPoolARN":"arn:aws:cognito-idp:us-west-2:123456789012:userpool/x","userPoolClientID":"abc","userPoolDomain":"auth"}"#,
        "Cognito IdP: {userPoolARN, userPoolClientID, userPoolDomain, authenticationRequestExtraParams}.",
        |_, raw| ok(parse_cognito(raw))),
    spec("auth-idp-oidc", Json, Backend, "", None, r#"{"issuer":"https://idp","authorizationEndpoint":"https://idp/auth","tokenEndpoint":"https://idp/token","userInfoEndpoint":"https://idp/user","secretName":"oidc"}"#,
        "OIDC IdP: {issuer, authorizationEndpoint, tokenEndpoint, userInfoEndpoint, secretName, authenticationRequestExtraParams}.",
        |_, raw| ok(parse_oidc(raw))),
    spec("auth-on-unauthenticated-request", ValueKind::Enum(OnUnauthenticatedRequest::VALUES), Backend, "authenticate", None, "deny",
        "What to do with unauthenticated requests.",
        |_, raw| ok(parse_enum::<OnUnauthenticatedRequest>(raw))),
    spec("auth-scope", STRING, Backend, "openid", None, "openid email",
        "Scopes requested from the IdP.",
        none),
    spec("auth-session-cookie", STRING, Backend, "AWSELBAuthSessionCookie", None, "my-cookie",
        "Name of the session cookie.",
        none),
    spec("auth-session-timeout", Int64, Backend, "604800", None, "86400",
        "Session lifetime in seconds.",
        |_, raw| ok(parse_i64(raw))),
    spec("dry-run-plan", STRING, Output, "", None, "{}",
        "Written by the controller: the planned stack as JSON (feature gate IngressPlanAnnotation).",
        none),
];
