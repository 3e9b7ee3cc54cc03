use super::{ann, ingress, ingress_error, ingress_errors};
use crate::annotations::{
    FrontendNlb, FrontendNlbHealthCheck, HealthCheckPort, IngressAnnotations, IpAddressType,
    PREFIX, Protocol, Scheme, WafSetting,
};
use std::collections::BTreeMap;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn absent_means_none() {
    let got = ingress(&[("unrelated", "x")]);
    assert_eq!(got, IngressAnnotations::default());
    let other_prefix = IngressAnnotations::parse(&BTreeMap::from([(
        "service.beta.kubernetes.io/aws-load-balancer-scheme".to_owned(),
        "bogus".to_owned(),
    )]));
    assert_eq!(other_prefix, Ok(IngressAnnotations::default()));
}

#[test]
fn load_balancer_level_examples() {
    let got = ingress(&[
        ("load-balancer-name", "custom-name"),
        ("group.name", "my-team.awesome-group"),
        ("group.order", "10"),
        ("tags", "Environment=dev,Team=test"),
        ("ip-address-type", "dualstack"),
        ("scheme", "internet-facing"),
        ("subnets", "subnet-xxxx, mySubnet"),
        ("security-groups", "sg-xxxx, nameOfSg1, nameOfSg2"),
        ("manage-backend-security-group-rules", "true"),
        ("customer-owned-ipv4-pool", "ipv4pool-coip-xxxxxxxx"),
        (
            "load-balancer-attributes",
            "routing.http2.enabled=true,idle_timeout.timeout_seconds=600",
        ),
        ("shield-advanced-protection", "true"),
        ("ssl-redirect", "443"),
        ("security-group-prefix-lists", "pl-00000000, pl-1111111"),
        (
            "certificate-arn",
            "arn:aws:acm:us-west-2:xxxxx:certificate/cert1,arn:aws:acm:us-west-2:xxxxx:certificate/cert2",
        ),
        ("ssl-policy", "ELBSecurityPolicy-TLS-1-1-2017-01"),
        ("minimum-load-balancer-capacity", "CapacityUnits=1000"),
        ("ipam-ipv4-pool-id", "ipam-pool-1234567"),
        ("use-regex-path-match", "true"),
        ("create-acm-cert", "false"),
        (
            "acm-pca-arn",
            "arn:aws:acm-pca:region:account:certificate-authority/id",
        ),
    ]);
    assert_eq!(got.load_balancer_name.as_deref(), Some("custom-name"));
    assert_eq!(got.group_name.as_deref(), Some("my-team.awesome-group"));
    assert_eq!(got.group_order, Some(10));
    assert_eq!(
        got.tags,
        Some(map(&[("Environment", "dev"), ("Team", "test")]))
    );
    assert_eq!(got.ip_address_type, Some(IpAddressType::Dualstack));
    assert_eq!(got.scheme, Some(Scheme::InternetFacing));
    assert_eq!(
        got.subnets,
        Some(vec!["subnet-xxxx".to_owned(), "mySubnet".to_owned()])
    );
    assert_eq!(got.security_groups.as_ref().map(Vec::len), Some(3));
    assert_eq!(got.manage_backend_security_group_rules, Some(true));
    assert_eq!(
        got.customer_owned_ipv4_pool.as_deref(),
        Some("ipv4pool-coip-xxxxxxxx")
    );
    assert_eq!(
        got.load_balancer_attributes,
        Some(map(&[
            ("routing.http2.enabled", "true"),
            ("idle_timeout.timeout_seconds", "600")
        ]))
    );
    assert_eq!(got.shield_advanced_protection, Some(true));
    assert_eq!(got.ssl_redirect, Some(443));
    assert_eq!(
        got.security_group_prefix_lists.as_ref().map(Vec::len),
        Some(2)
    );
    assert_eq!(got.certificate_arn.as_ref().map(Vec::len), Some(2));
    assert_eq!(
        got.ssl_policy.as_deref(),
        Some("ELBSecurityPolicy-TLS-1-1-2017-01")
    );
    assert_eq!(got.minimum_load_balancer_capacity, Some(1000));
    assert_eq!(got.ipam_ipv4_pool_id.as_deref(), Some("ipam-pool-1234567"));
    assert_eq!(got.use_regex_path_match, Some(true));
    assert_eq!(got.create_acm_cert, Some(false));
    assert!(got.acm_pca_arn.is_some());
    assert_eq!(got.frontend_nlb, None);
}

#[test]
fn enum_errors_quote_the_value_and_list_the_choices() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "scheme",
            "public",
            "unknown scheme \"public\", want internal or internet-facing",
        ),
        (
            "scheme",
            "Internal",
            "unknown scheme \"Internal\", want internal or internet-facing",
        ),
        (
            "ip-address-type",
            "ipv6",
            "unknown IPAddressType \"ipv6\", want ipv4, dualstack or dualstack-without-public-ipv4",
        ),
        (
            "frontend-nlb-scheme",
            "",
            "unknown scheme \"\", want internal or internet-facing",
        ),
    ];
    for (suffix, raw, want) in cases {
        assert_eq!(ingress_error(suffix, raw), *want, "{suffix}={raw}");
    }
    let full = ingress_errors(&[("scheme", "public")]);
    assert_eq!(
        full,
        [
            "alb.ingress.kubernetes.io/scheme: unknown scheme \"public\", want internal or internet-facing"
        ]
    );
}

#[test]
fn names_and_orders() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "load-balancer-name",
            "a-name-that-is-longer-than-32-chars",
            "load balancer name cannot be longer than 32 characters",
        ),
        (
            "load-balancer-name",
            "",
            "load balancer name cannot be empty",
        ),
        (
            "load-balancer-name",
            "-bad",
            "load balancer name must consist of alphanumeric characters or '-', and must not begin or end with '-': -bad",
        ),
        (
            "load-balancer-name",
            "my_alb",
            "load balancer name must consist of alphanumeric characters or '-', and must not begin or end with '-': my_alb",
        ),
        (
            "load-balancer-name",
            "internal-x",
            "load balancer name must not begin with \"internal-\": internal-x",
        ),
        (
            "group.name",
            "Team",
            "groupName must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ),
        (
            "group.name",
            "",
            "groupName must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ),
        (
            "group.name",
            "a-",
            "groupName must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ),
        (
            "group.order",
            "1001",
            "explicit Ingress group order must be within [-1000:1000], order: 1001",
        ),
        (
            "group.order",
            "-1001",
            "explicit Ingress group order must be within [-1000:1000], order: -1001",
        ),
        (
            "group.order",
            "ten",
            "cannot parse \"ten\" as an int32: invalid syntax",
        ),
        (
            "ssl-redirect",
            "0",
            "ssl-redirect port must be within [1, 65535]: 0",
        ),
        (
            "customer-owned-ipv4-pool",
            "",
            "cannot use empty value for customer-owned-ipv4-pool annotation",
        ),
        (
            "shield-advanced-protection",
            "yes",
            "cannot parse \"yes\" as a bool, want one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False",
        ),
    ];
    for (suffix, raw, want) in cases {
        assert_eq!(ingress_error(suffix, raw), *want, "{suffix}={raw}");
    }
    assert_eq!(
        ingress_error("group.name", &"a".repeat(64)),
        "groupName must be no more than 63 characters"
    );
    assert_eq!(
        ingress(&[("group.name", &"a".repeat(63))])
            .group_name
            .map(|n| n.len()),
        Some(63)
    );
    assert_eq!(
        ingress(&[("group.name", "a")]).group_name.as_deref(),
        Some("a")
    );
    assert_eq!(
        ingress(&[("group.order", "-1000")]).group_order,
        Some(-1000)
    );
    assert_eq!(
        ingress(&[("load-balancer-name", &"a".repeat(32))])
            .load_balancer_name
            .map(|n| n.len()),
        Some(32)
    );
}

#[test]
fn tags_reject_reserved_and_invalid_keys() {
    let cases: &[(&str, &str)] = &[
        (
            "elbv2.k8s.aws/cluster=x",
            "tag key \"elbv2.k8s.aws/cluster\" is reserved for the controller",
        ),
        (
            "a=b,ingress.k8s.aws/stack=x",
            "tag key \"ingress.k8s.aws/stack\" is reserved for the controller",
        ),
        (
            "ingress.k8s.aws/resource=LoadBalancer",
            "tag key \"ingress.k8s.aws/resource\" is reserved for the controller",
        ),
        (
            "aws:cloudformation=x",
            "tag key \"aws:cloudformation\" uses the prefix \"aws:\" reserved by AWS",
        ),
        (
            "a=b;c",
            "tag \"a\"=\"b;c\" may only contain letters, digits, spaces and _ . : / = + - @",
        ),
        (
            "novalue",
            "cannot parse \"novalue\" as key=value pairs: \"novalue\" has no '='",
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(ingress_error("tags", raw), *want, "{raw}");
        assert_eq!(ingress_error("frontend-nlb-tags", raw), *want, "{raw}");
    }
    let long_key = format!("{}=v", "k".repeat(129));
    assert!(ingress_error("tags", &long_key).ends_with("is longer than 128 characters"));
    let long_value = format!("k={}", "v".repeat(257));
    assert_eq!(
        ingress_error("tags", &long_value),
        "tag value of key \"k\" is longer than 256 characters"
    );
    let ok = ingress(&[(
        "tags",
        "Name=my alb,owner=team@example.com,kubernetes.io/x=y",
    )])
    .tags
    .expect("tags");
    assert_eq!(ok.get("Name").map(String::as_str), Some("my alb"));
}

#[test]
fn minimum_capacity() {
    assert_eq!(
        ingress(&[("minimum-load-balancer-capacity", "CapacityUnits=0")])
            .minimum_load_balancer_capacity,
        Some(0)
    );
    assert_eq!(
        ingress(&[("minimum-load-balancer-capacity", "")]).minimum_load_balancer_capacity,
        None
    );
    assert_eq!(
        ingress_error("minimum-load-balancer-capacity", "capacityUnits=100"),
        "invalid key to set the capacity: capacityUnits, Expected key: CapacityUnits"
    );
    assert_eq!(
        ingress_error("minimum-load-balancer-capacity", "CapacityUnits=lots"),
        "invalid value to set the capacity: lots"
    );
    assert_eq!(
        ingress_error("minimum-load-balancer-capacity", "CapacityUnits=-1"),
        "invalid value to set the capacity: -1"
    );
}

#[test]
fn waf_settings_and_deprecated_alias() {
    let got = ingress(&[
        (
            "wafv2-acl-arn",
            "arn:aws:wafv2:us-west-2:xxxxx:regional/webacl/xxxxxxx/3ab78708-85b0-49d3-b4e1-7a9615a6613b",
        ),
        ("wafv2-acl-name", "none"),
        ("web-acl-id", "legacy-id"),
    ]);
    assert!(
        matches!(got.wafv2_acl_arn, Some(WafSetting::Arn(ref a)) if a.starts_with("arn:aws:wafv2"))
    );
    assert_eq!(got.wafv2_acl_name, Some(WafSetting::None));
    assert_eq!(got.waf_acl_id, Some(WafSetting::Id("legacy-id".to_owned())));
    let both = ingress(&[("waf-acl-id", "new-id"), ("web-acl-id", "legacy-id")]);
    assert_eq!(both.waf_acl_id, Some(WafSetting::Id("new-id".to_owned())));
    assert_eq!(
        ingress(&[("wafv2-acl-arn", "")]).wafv2_acl_arn,
        Some(WafSetting::None)
    );
    assert_eq!(serde_json::to_value(WafSetting::None).expect("ser"), "none");
    assert_eq!(
        serde_json::to_value(WafSetting::Name("n".into())).expect("ser")["name"],
        "n"
    );
}

#[test]
fn frontend_nlb() {
    let got = ingress(&[
        ("enable-frontend-nlb", "false"),
        ("frontend-nlb-scheme", "internet-facing"),
        ("frontend-nlb-subnets", "subnet-1,subnet-2"),
        ("frontend-nlb-security-groups", "sg-1"),
        ("frontend-nlb-listener-port-mapping", "80=443, 8080=443"),
        ("frontend-nlb-eip-allocations", "eipalloc-1,eipalloc-2"),
        ("frontend-nlb-healthcheck-port", "traffic-port"),
        ("frontend-nlb-healthcheck-protocol", "HTTPS"),
        ("frontend-nlb-healthcheck-path", "/health"),
        ("frontend-nlb-healthcheck-interval-seconds", "10"),
        ("frontend-nlb-healthcheck-timeout-seconds", "5"),
        ("frontend-nlb-healthcheck-healthy-threshold-count", "3"),
        ("frontend-nlb-healthcheck-unhealthy-threshold-count", "4"),
        ("frontend-nlb-healthcheck-success-codes", "200-299"),
        (
            "frontend-nlb-attributes",
            "deletion_protection.enabled=true",
        ),
        ("frontend-nlb-tags", "Team=web"),
    ]);
    assert_eq!(
        got.frontend_nlb,
        Some(FrontendNlb {
            enabled: Some(false),
            scheme: Some(Scheme::InternetFacing),
            subnets: Some(vec!["subnet-1".to_owned(), "subnet-2".to_owned()]),
            security_groups: Some(vec!["sg-1".to_owned()]),
            listener_port_mapping: Some(BTreeMap::from([(80, 443), (8080, 443)])),
            eip_allocations: Some(vec!["eipalloc-1".to_owned(), "eipalloc-2".to_owned()]),
            health_check: FrontendNlbHealthCheck {
                port: Some(HealthCheckPort::TrafficPort),
                protocol: Some(Protocol::Https),
                path: Some("/health".to_owned()),
                interval_seconds: Some(10),
                timeout_seconds: Some(5),
                healthy_threshold_count: Some(3),
                unhealthy_threshold_count: Some(4),
                success_codes: Some("200-299".to_owned()),
            },
            attributes: Some(map(&[("deletion_protection.enabled", "true")])),
            tags: Some(map(&[("Team", "web")])),
        })
    );
    // any single key makes the section present
    let only_path = ingress(&[("frontend-nlb-healthcheck-path", "/x")])
        .frontend_nlb
        .expect("present");
    assert_eq!(only_path.health_check.path.as_deref(), Some("/x"));
    assert_eq!(only_path.enabled, None);
    let enabled = ingress(&[("enable-frontend-nlb", "true")])
        .frontend_nlb
        .expect("present");
    assert_eq!(enabled.enabled, Some(true));

    let cases: &[(&str, &str, &str)] = &[
        (
            "frontend-nlb-listener-port-mapping",
            "http=443",
            "invalid NLB listener port: http",
        ),
        (
            "frontend-nlb-listener-port-mapping",
            "80=0",
            "invalid ALB listener port: 0",
        ),
        (
            "frontend-nlb-healthcheck-port",
            "http",
            "invalid health check port \"http\", want traffic-port or a port number",
        ),
        (
            "frontend-nlb-healthcheck-port",
            "0",
            "health check port must be within [1, 65535]: 0",
        ),
        (
            "frontend-nlb-healthcheck-protocol",
            "TCP",
            "healthCheckProtocol must be within [HTTP, HTTPS]: TCP",
        ),
        (
            "enable-frontend-nlb",
            "yes",
            "cannot parse \"yes\" as a bool, want one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False",
        ),
        (
            "create-acm-cert",
            "True",
            "\"true\" is not supported yet: this controller does not build ACM certificates (create-acm-cert); remove the annotation or set it to \"false\"",
        ),
        (
            "enable-frontend-nlb",
            "enabled",
            "cannot parse \"enabled\" as a bool, want one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False",
        ),
    ];
    for (suffix, raw, want) in cases {
        assert_eq!(ingress_error(suffix, raw), *want, "{suffix}={raw}");
    }
}

#[test]
fn all_errors_are_collected_in_key_order() {
    let errors = IngressAnnotations::parse(&ann(&[
        ("scheme", "public"),
        ("group.order", "x"),
        ("actions.a", "{}"),
        ("listen-ports", "[]"),
        ("tags", "ok=yes"),
    ]))
    .expect_err("invalid");
    let keys: Vec<&str> = errors
        .iter()
        .map(|e| e.key.strip_prefix(PREFIX).expect("prefixed"))
        .collect();
    assert_eq!(keys, ["actions.a", "group.order", "listen-ports", "scheme"]);
}
