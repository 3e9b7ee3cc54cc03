use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;

fn service(type_: &str, class: Option<&str>, annotations: &[(&str, &str)]) -> Service {
    let mut svc = Service::default();
    svc.metadata.name = Some("svc".into());
    svc.metadata.namespace = Some("default".into());
    svc.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    svc.spec = Some(ServiceSpec {
        type_: Some(type_.into()),
        load_balancer_class: class.map(str::to_owned),
        ..ServiceSpec::default()
    });
    svc
}

#[test]
fn selection_follows_upstream_rules() {
    let sel = Selection::default();
    let cases: &[(&str, Service, bool)] = &[
        (
            "nlb-ip",
            service("LoadBalancer", None, &[(TYPE_ANNOTATION, "nlb-ip")]),
            true,
        ),
        (
            "external alone",
            service("LoadBalancer", None, &[(TYPE_ANNOTATION, "external")]),
            false,
        ),
        (
            "external + ip",
            service(
                "LoadBalancer",
                None,
                &[
                    (TYPE_ANNOTATION, "external"),
                    (TARGET_TYPE_ANNOTATION, "ip"),
                ],
            ),
            true,
        ),
        (
            "external + instance",
            service(
                "NodePort",
                None,
                &[
                    (TYPE_ANNOTATION, "external"),
                    (TARGET_TYPE_ANNOTATION, "instance"),
                ],
            ),
            true,
        ),
        (
            "external + IP (case)",
            service(
                "LoadBalancer",
                None,
                &[
                    (TYPE_ANNOTATION, "external"),
                    (TARGET_TYPE_ANNOTATION, "IP"),
                ],
            ),
            false,
        ),
        (
            "nlb-ddd + instance",
            service(
                "LoadBalancer",
                None,
                &[
                    (TYPE_ANNOTATION, "nlb-ddd"),
                    (TARGET_TYPE_ANNOTATION, "instance"),
                ],
            ),
            false,
        ),
        (
            "in-tree nlb",
            service("LoadBalancer", None, &[(TYPE_ANNOTATION, "nlb")]),
            false,
        ),
        ("nothing", service("LoadBalancer", None, &[]), false),
        (
            "our class",
            service("LoadBalancer", Some(DEFAULT_LOAD_BALANCER_CLASS), &[]),
            true,
        ),
        (
            "another class beats annotations",
            service(
                "LoadBalancer",
                Some("other"),
                &[(TYPE_ANNOTATION, "nlb-ip")],
            ),
            false,
        ),
    ];
    for (name, svc, want) in cases {
        assert_eq!(sel.is_supported(svc), *want, "{name}");
    }
    let mut deleting = service("LoadBalancer", None, &[(TYPE_ANNOTATION, "nlb-ip")]);
    deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    assert!(!sel.is_supported(&deleting));
    assert!(sel.claims(&deleting));

    let gated = Selection {
        load_balancer_type_only: true,
        ..Selection::default()
    };
    let cluster_ip = service("ClusterIP", None, &[(TYPE_ANNOTATION, "nlb-ip")]);
    assert!(!gated.is_supported(&cluster_ip));
    assert!(sel.is_supported(&cluster_ip));
    assert!(is_supported(
        &service("LoadBalancer", Some("custom/x"), &[]),
        "custom/x"
    ));
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (format!("{SERVICE_PREFIX}{k}"), (*v).to_owned()))
        .collect()
}

fn errors(pairs: &[(&str, &str)]) -> Vec<String> {
    match ServiceAnnotations::parse(&annotations(pairs)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn typed_parse_of_valid_annotations() {
    let parsed = ServiceAnnotations::parse(&annotations(&[
        ("aws-load-balancer-scheme", "internet-facing"),
        ("aws-load-balancer-healthcheck-protocol", "http"),
        ("aws-load-balancer-healthcheck-port", "traffic-port"),
        ("aws-load-balancer-healthcheck-interval", "30"),
        ("aws-load-balancer-ssl-ports", "443, https"),
        (
            "aws-load-balancer-target-group-attributes",
            "deregistration_delay.timeout_seconds=80",
        ),
        (
            "aws-load-balancer-target-group-attributes.3306",
            "deregistration_delay.timeout_seconds=",
        ),
        ("aws-load-balancer-proxy-protocol", "*"),
        (
            "aws-load-balancer-proxy-protocol-per-target-group",
            "80, 443",
        ),
        (
            "aws-load-balancer-minimum-load-balancer-capacity",
            "CapacityUnits=10",
        ),
        ("aws-load-balancer-enable-icmp-for-path-mtu-discovery", "on"),
        ("aws-load-balancer-backend-protocol", "ssl"),
        (
            "aws-load-balancer-listener-attributes.TCP-80",
            "tcp.idle_timeout.seconds=400",
        ),
        ("load-balancer-source-ranges", "10.0.0.0/8, 1.2.3.4/32"),
    ]))
    .expect("valid");
    assert_eq!(
        parsed.scheme,
        Some(crate::annotations::NlbScheme::InternetFacing)
    );
    assert_eq!(
        parsed.health_check_protocol,
        Some(crate::annotations::NlbHealthCheckProtocol::Http)
    );
    assert_eq!(parsed.health_check_interval, Some(30));
    assert_eq!(
        parsed.ssl_ports,
        Some(vec!["443".to_owned(), "https".to_owned()])
    );
    assert_eq!(
        parsed.port_target_group_attributes[&3306]["deregistration_delay.timeout_seconds"],
        ""
    );
    assert!(parsed.proxy_protocol_all);
    assert_eq!(parsed.proxy_protocol_ports, Some(vec![80, 443]));
    assert_eq!(parsed.minimum_capacity_units, Some(10));
    assert!(parsed.icmp_for_path_mtu_discovery);
    assert!(parsed.backend_protocol_ssl);
    assert_eq!(
        parsed.listener_attributes["TCP-80"]["tcp.idle_timeout.seconds"],
        "400"
    );
    assert_eq!(parsed.source_ranges.as_ref().map(Vec::len), Some(2));
}

#[test]
fn bad_values_carry_upstream_messages_and_their_keys() {
    let p = SERVICE_PREFIX;
    let cases: &[(&str, &str, String)] = &[
        (
            "aws-load-balancer-scheme",
            "public",
            format!("{p}aws-load-balancer-scheme: unknown scheme: public"),
        ),
        (
            "aws-load-balancer-ip-address-type",
            "dualstack-without-public-ipv4",
            format!(
                "{p}aws-load-balancer-ip-address-type: unknown IPAddressType: dualstack-without-public-ipv4"
            ),
        ),
        (
            "aws-load-balancer-name",
            "a-name-that-is-longer-than-32-chars",
            format!(
                "{p}aws-load-balancer-name: load balancer name cannot be longer than 32 characters"
            ),
        ),
        (
            "aws-load-balancer-alpn-policy",
            "HTTP3",
            format!(
                "{p}aws-load-balancer-alpn-policy: invalid ALPN policy HTTP3, policy must be one of [None, HTTP1Only, HTTP2Only, HTTP2Optional, HTTP2Preferred]"
            ),
        ),
        (
            "aws-load-balancer-healthcheck-protocol",
            "udp",
            format!(
                "{p}aws-load-balancer-healthcheck-protocol: unsupported health check protocol udp"
            ),
        ),
        (
            "aws-load-balancer-proxy-protocol",
            "v2",
            format!(
                "{p}aws-load-balancer-proxy-protocol: invalid value v2 for Load Balancer proxy protocol v2 annotation, only value currently supported is *"
            ),
        ),
        (
            "aws-load-balancer-proxy-protocol-per-target-group",
            "80, http",
            format!(
                "{p}aws-load-balancer-proxy-protocol-per-target-group: invalid port number in proxy-protocol-per-target-group: http"
            ),
        ),
        (
            "aws-load-balancer-inbound-sg-rules-on-private-link-traffic",
            "yes",
            format!(
                "{p}aws-load-balancer-inbound-sg-rules-on-private-link-traffic: Invalid value for securityGroupsInboundRulesOnPrivateLink status: yes, value must be one of [on, off]"
            ),
        ),
        (
            "aws-load-balancer-enable-prefix-for-ipv6-source-nat",
            "true",
            format!(
                "{p}aws-load-balancer-enable-prefix-for-ipv6-source-nat: Invalid enable-prefix-for-ipv6-source-nat value: true. Valid values are ['on', 'off']."
            ),
        ),
        (
            "aws-load-balancer-source-nat-ipv6-prefixes",
            "2001:db8::/64",
            format!(
                "{p}aws-load-balancer-source-nat-ipv6-prefixes: Invalid value in source-nat-ipv6-prefixes: 2001:db8::/64. Prefix length must be 80, but 64 is specified."
            ),
        ),
        (
            "aws-load-balancer-minimum-load-balancer-capacity",
            "Units=1",
            format!(
                "{p}aws-load-balancer-minimum-load-balancer-capacity: invalid key to set the capacity: Units, Expected key: CapacityUnits"
            ),
        ),
        (
            "aws-load-balancer-minimum-load-balancer-capacity",
            "CapacityUnits=x",
            format!(
                "{p}aws-load-balancer-minimum-load-balancer-capacity: invalid value to set the capacity: x"
            ),
        ),
        (
            "aws-load-balancer-attributes",
            "dns_record.client_routing_policy=nearest",
            format!(
                "{p}aws-load-balancer-attributes: invalid dns_record.client_routing_policy set in annotation aws-load-balancer-attributes: got 'nearest' expected one of ['any_availability_zone', 'partial_availability_zone_affinity', 'availability_zone_affinity']"
            ),
        ),
    ];
    for (key, value, want) in cases {
        assert_eq!(errors(&[(key, value)]), vec![want.clone()], "{key}");
    }
    for (key, value) in [
        ("aws-load-balancer-access-log-enabled", "FalSe"),
        ("aws-load-balancer-healthcheck-interval", "ten"),
        (
            "aws-load-balancer-target-group-attributes",
            "k1=v1, malformed",
        ),
        (
            "aws-load-balancer-target-group-attributes",
            "preserve_client_ip.enabled= FalSe",
        ),
        ("aws-load-balancer-target-group-attributes.http", "a=b"),
        ("aws-load-balancer-listener-attributes.HTTP-80", "a=b"),
        ("aws-load-balancer-healthcheck-port", "Not_A_Port"),
        ("aws-load-balancer-nlb-target-type", "IP"),
        (
            "aws-load-balancer-private-ipv4-addresses",
            "10.0.0.1, fe80::1",
        ),
        ("load-balancer-source-ranges", "10.0.0.0/33"),
        ("actions.TCP-80", "{}"),
    ] {
        let got = errors(&[(key, value)]);
        assert_eq!(got.len(), 1, "{key}: {got:?}");
        assert!(got[0].starts_with(&format!("{p}{key}: ")), "{got:?}");
    }
    // Every bad key is reported, in key order.
    let got = errors(&[
        ("aws-load-balancer-scheme", "x"),
        ("aws-load-balancer-healthcheck-timeout", "y"),
    ]);
    assert_eq!(got.len(), 2);
    assert!(got[0].contains("healthcheck-timeout"), "{got:?}");
}

#[test]
fn admission_check_reports_the_parse_errors_and_unknown_keys() {
    let mut ann = annotations(&[
        ("aws-load-balancer-healthcheck-intervl", "10"),
        ("aws-load-balancer-scheme", "public"),
        ("aws-load-balancer-connection-idle-timeout", "60"),
        ("aws-load-balancer-something-else-entirely", "1"),
    ]);
    ann.insert(
        "service.beta.kubernetes.io/other-cloud-setting".into(),
        "x".into(),
    );
    ann.insert("example.com/owner".into(), "me".into());
    let report = check_annotations(&ann);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(
        report.errors[0].key,
        format!("{SERVICE_PREFIX}aws-load-balancer-scheme")
    );
    let unknown: Vec<_> = report
        .unknown
        .iter()
        .map(|u| (u.key.as_str(), u.suggestion.as_deref()))
        .collect();
    assert_eq!(
        unknown,
        vec![
            (
                "service.beta.kubernetes.io/aws-load-balancer-healthcheck-intervl",
                Some("service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval")
            ),
            (
                "service.beta.kubernetes.io/aws-load-balancer-something-else-entirely",
                None
            ),
        ]
    );
    assert!(check_annotations(&BTreeMap::new()).is_ok());
}
