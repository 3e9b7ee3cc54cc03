//! Upstream's own cases (pkg/service/*_test.go: cluster `my-cluster`, VPC `vpc-xxx`): the names
//! and hashes here are the ones upstream's fixtures expect.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use contract::service::Selection;

use super::*;
use crate::builder::ExistingLoadBalancer;
use crate::stack::{Protocol, Scheme, StringToken};
use crate::subnets::Subnet;

const P: &str = "service.beta.kubernetes.io/";

fn subnet(id: &str, az: &str, cidr: &str, role: &str) -> Subnet {
    Subnet {
        id: id.into(),
        az: az.into(),
        az_id: None,
        vpc_id: "vpc-xxx".into(),
        available_ips: 100,
        tags: BTreeMap::from([(role.to_owned(), "1".to_owned())]),
        ipv6_cidrs: vec![format!("2600:1f13:{}::/64", &id[id.len() - 1..])],
        cidr: Some(cidr.into()),
        locale: Default::default(),
    }
}

fn facts(sg: bool) -> ClusterFacts {
    let mut facts = ClusterFacts::new("my-cluster", "vpc-xxx");
    facts.features.nlb_security_group = sg;
    facts.subnets = vec![
        subnet(
            "subnet-1",
            "us-west-2a",
            "192.168.0.0/19",
            "kubernetes.io/role/internal-elb",
        ),
        subnet(
            "subnet-2",
            "us-west-2b",
            "192.168.32.0/19",
            "kubernetes.io/role/internal-elb",
        ),
        subnet(
            "subnet-3",
            "us-west-2a",
            "192.168.64.0/19",
            "kubernetes.io/role/elb",
        ),
    ];
    facts.vpc_cidrs = vec!["192.168.0.0/16".into()];
    facts.enable_backend_security_group = false;
    facts
}

struct Port {
    name: Option<&'static str>,
    protocol: &'static str,
    port: i32,
    target: i32,
    node: Option<i32>,
}

fn tcp(port: i32, target: i32) -> Port {
    Port {
        name: None,
        protocol: "TCP",
        port,
        target,
        node: None,
    }
}

fn service(
    ns: &str,
    name: &str,
    uid: &str,
    type_: &str,
    annotations: &[(&str, &str)],
    ports: Vec<Port>,
) -> Service {
    let mut svc = Service::default();
    svc.metadata.namespace = Some(ns.into());
    svc.metadata.name = Some(name.into());
    svc.metadata.uid = (!uid.is_empty()).then(|| uid.to_owned());
    svc.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (format!("{P}{k}"), (*v).to_owned()))
            .collect(),
    );
    svc.spec = Some(ServiceSpec {
        type_: Some(type_.into()),
        ports: Some(
            ports
                .into_iter()
                .map(|p| ServicePort {
                    name: p.name.map(str::to_owned),
                    protocol: Some(p.protocol.into()),
                    port: p.port,
                    target_port: Some(IntOrString::Int(p.target)),
                    node_port: p.node,
                    ..ServicePort::default()
                })
                .collect(),
        ),
        ..ServiceSpec::default()
    });
    svc
}

fn build(svc: &Service, facts: &ClusterFacts) -> Result<Stack, ServiceBuildError> {
    build_with(svc, facts, None)
}

fn build_with(
    svc: &Service,
    facts: &ClusterFacts,
    existing: Option<&ExistingLoadBalancer>,
) -> Result<Stack, ServiceBuildError> {
    build_service(&ServiceInputs {
        service: svc,
        facts,
        selection: &Selection::default(),
        existing_lb: existing,
    })
}

fn resource_count(stack: &Stack) -> usize {
    crate::stack::ResourceType::ALL
        .iter()
        .map(|t| stack.ids(*t).len())
        .sum()
}

fn rules_json(stack: &Stack, id: &str) -> serde_json::Value {
    serde_json::to_value(
        &stack.resources.target_group_bindings[id]
            .spec
            .template
            .spec
            .networking,
    )
    .unwrap()
}

const UID_TLS: &str = "bdca2bd0-bfc6-449a-88a3-03451f05f18c";

#[test]
fn case_1_ip_target_legacy_mode() {
    let svc = service(
        "default",
        "nlb-ip-svc-tls",
        UID_TLS,
        "LoadBalancer",
        &[("aws-load-balancer-type", "nlb-ip")],
        vec![tcp(80, 80)],
    );
    let mut f = facts(false);
    f.subnets.truncate(1);
    let stack = build(&svc, &f).unwrap();
    assert_eq!(stack.kind, StackKind::Service);
    assert_eq!(stack.id, "default/nlb-ip-svc-tls");
    assert_eq!(resource_count(&stack), 4);
    let lb = &stack.resources.load_balancers["LoadBalancer"].spec;
    assert_eq!(lb.name, "k8s-default-nlbipsvc-6b0ba8ff70");
    assert_eq!(lb.scheme, Scheme::Internal);
    assert!(lb.security_groups.is_empty());
    assert_eq!(lb.enable_prefix_for_ipv6_source_nat.as_deref(), Some("off"));
    assert_eq!(lb.tags["service.k8s.aws/stack"], "default/nlb-ip-svc-tls");
    assert_eq!(lb.tags["service.k8s.aws/resource"], "LoadBalancer");
    assert_eq!(lb.tags["elbv2.k8s.aws/cluster"], "my-cluster");
    let tg = &stack.resources.target_groups["default/nlb-ip-svc-tls:80"].spec;
    assert_eq!(tg.name, "k8s-default-nlbipsvc-d4818dcd51");
    assert_eq!(
        (tg.port, tg.protocol, tg.target_type),
        (80, Protocol::Tcp, TargetType::Ip)
    );
    let hc = serde_json::to_value(&tg.health_check_config).unwrap();
    assert_eq!(
        hc,
        serde_json::json!({"port": "traffic-port", "protocol": "TCP", "intervalSeconds": 10,
            "timeoutSeconds": 10, "healthyThresholdCount": 3, "unhealthyThresholdCount": 3})
    );
    assert_eq!(
        serde_json::to_value(&tg.target_group_attributes).unwrap(),
        serde_json::json!([{"key": "proxy_protocol_v2.enabled", "value": "false"}])
    );
    let binding = &stack.resources.target_group_bindings["default/nlb-ip-svc-tls:80"]
        .spec
        .template;
    assert_eq!(binding.metadata.name, "k8s-default-nlbipsvc-d4818dcd51");
    assert_eq!(
        binding.metadata.labels["service.k8s.aws/stack-name"],
        "nlb-ip-svc-tls"
    );
    assert_eq!(binding.spec.service_ref.port, IntOrString::Int(80));
    assert_eq!(
        rules_json(&stack, "default/nlb-ip-svc-tls:80"),
        serde_json::json!({"ingress": [{"from": [{"ipBlock": {"cidr": "192.168.0.0/19"}}],
            "ports": [{"protocol": "TCP", "port": 80}]}]})
    );
    let listener = &stack.resources.listeners["80"].spec;
    assert_eq!(listener.protocol, Protocol::Tcp);
    assert!(listener.certificates.is_empty());
}

#[test]
fn case_2_dualstack_internet_facing_renames_the_nlb_only() {
    let svc = service(
        "default",
        "nlb-ip-svc-tls",
        UID_TLS,
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "nlb-ip"),
            ("aws-load-balancer-ip-address-type", "dualstack"),
            ("aws-load-balancer-scheme", "internet-facing"),
        ],
        vec![tcp(80, 80)],
    );
    let stack = build(&svc, &facts(false)).unwrap();
    let lb = &stack.resources.load_balancers["LoadBalancer"].spec;
    assert_eq!(lb.name, "k8s-default-nlbipsvc-4d831c6ca6");
    assert_eq!(lb.subnet_mappings.len(), 1);
    assert_eq!(lb.subnet_mappings[0].subnet_id, "subnet-3");
    assert_eq!(
        stack.resources.target_groups["default/nlb-ip-svc-tls:80"]
            .spec
            .name,
        "k8s-default-nlbipsvc-d4818dcd51"
    );
}

#[test]
fn case_3_managed_security_group_with_backend_group() {
    let svc = service(
        "default",
        "nlb-ip-svc-tls",
        UID_TLS,
        "LoadBalancer",
        &[("aws-load-balancer-type", "nlb-ip")],
        vec![tcp(80, 80)],
    );
    let mut f = facts(true);
    f.enable_backend_security_group = true;
    f.backend_security_group = Some("sg-backend".into());
    f.disable_restricted_sg_rules = true;
    let stack = build(&svc, &f).unwrap();
    assert_eq!(resource_count(&stack), 5);
    let sg = &stack.resources.security_groups["ManagedLBSecurityGroup"].spec;
    assert_eq!(sg.group_name, "k8s-default-nlbipsvc-1da4b78715");
    assert_eq!(
        serde_json::to_value(&sg.ingress).unwrap(),
        serde_json::json!([{"ipProtocol": "tcp", "fromPort": 80, "toPort": 80,
            "ipRanges": [{"cidrIP": "0.0.0.0/0"}]}])
    );
    let lb = &stack.resources.load_balancers["LoadBalancer"].spec;
    assert_eq!(lb.security_groups.len(), 2);
    assert!(
        matches!(&lb.security_groups[0], StringToken::Ref(r) if r.id == "ManagedLBSecurityGroup")
    );
    assert_eq!(
        lb.security_groups[1],
        StringToken::Literal("sg-backend".into())
    );
    assert_eq!(
        rules_json(&stack, "default/nlb-ip-svc-tls:80"),
        serde_json::json!({"ingress": [{"from": [{"securityGroup": {"groupID": "sg-backend"}}],
            "ports": [{"protocol": "TCP"}]}]})
    );
}

#[test]
fn case_4_http_health_check_on_another_port() {
    let svc = service(
        "default",
        "nlb-ip-svc",
        "7ab4be33-11c2-4a7b-b655-7add8affab36",
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "nlb-ip"),
            ("aws-load-balancer-scheme", "internal"),
            ("aws-load-balancer-healthcheck-protocol", "HTTP"),
            ("aws-load-balancer-healthcheck-port", "8888"),
            ("aws-load-balancer-healthcheck-path", "/healthz"),
            ("aws-load-balancer-healthcheck-interval", "10"),
            ("aws-load-balancer-healthcheck-timeout", "30"),
            ("aws-load-balancer-healthcheck-healthy-threshold", "2"),
            ("aws-load-balancer-healthcheck-unhealthy-threshold", "2"),
        ],
        vec![
            Port {
                name: Some("http"),
                ..tcp(80, 80)
            },
            Port {
                name: Some("alt2"),
                ..tcp(83, 80)
            },
        ],
    );
    let stack = build(&svc, &facts(false)).unwrap();
    let lb = &stack.resources.load_balancers["LoadBalancer"].spec;
    assert_eq!(lb.name, "k8s-default-nlbipsvc-518cdfc227");
    assert_eq!(lb.subnet_mappings.len(), 2);
    let tg80 = &stack.resources.target_groups["default/nlb-ip-svc:80"].spec;
    let tg83 = &stack.resources.target_groups["default/nlb-ip-svc:83"].spec;
    assert_eq!(tg80.name, "k8s-default-nlbipsvc-62f81639fc");
    assert_eq!(tg83.name, "k8s-default-nlbipsvc-3ede6b28b6");
    assert_eq!(tg83.port, 80);
    assert_eq!(
        serde_json::to_value(&tg80.health_check_config).unwrap(),
        serde_json::json!({"port": 8888, "protocol": "HTTP", "path": "/healthz",
            "matcher": {"httpCode": "200-399"}, "intervalSeconds": 10, "timeoutSeconds": 30,
            "healthyThresholdCount": 2, "unhealthyThresholdCount": 2})
    );
    let subnets = serde_json::json!([{"ipBlock": {"cidr": "192.168.0.0/19"}},
        {"ipBlock": {"cidr": "192.168.32.0/19"}}]);
    assert_eq!(
        rules_json(&stack, "default/nlb-ip-svc:80"),
        serde_json::json!({"ingress": [
            {"from": subnets, "ports": [{"protocol": "TCP", "port": 80}]},
            {"from": subnets, "ports": [{"protocol": "TCP", "port": 8888}]}]})
    );
}

const UID_INSTANCE: &str = "2dc098f0-ae33-4378-af7b-83e2a0424495";

#[test]
fn case_6_instance_mode_with_node_ports() {
    let svc = service(
        "default",
        "instance-mode",
        UID_INSTANCE,
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "external"),
            ("aws-load-balancer-nlb-target-type", "instance"),
        ],
        vec![
            Port {
                node: Some(31223),
                ..tcp(80, 80)
            },
            Port {
                node: Some(32323),
                ..tcp(83, 8883)
            },
        ],
    );
    let stack = build(&svc, &facts(false)).unwrap();
    assert_eq!(
        stack.resources.load_balancers["LoadBalancer"].spec.name,
        "k8s-default-instance-7ca1de7e6c"
    );
    let tg80 = &stack.resources.target_groups["default/instance-mode:80"].spec;
    assert_eq!(
        (tg80.name.as_str(), tg80.port),
        ("k8s-default-instance-0c68c79423", 31223)
    );
    assert_eq!(
        stack.resources.target_groups["default/instance-mode:83"]
            .spec
            .name,
        "k8s-default-instance-c200165858"
    );
    // Instance targets preserve the client IP; no range given on an internal NLB: the VPC.
    assert_eq!(
        rules_json(&stack, "default/instance-mode:80"),
        serde_json::json!({"ingress": [{"from": [{"ipBlock": {"cidr": "192.168.0.0/16"}}],
            "ports": [{"protocol": "TCP", "port": 31223}]}]})
    );
}

#[test]
fn case_8_tcp_udp_merged_listener_and_managed_group() {
    let svc = service(
        "app",
        "tcpudp-protocol",
        UID_INSTANCE,
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "external"),
            ("aws-load-balancer-nlb-target-type", "instance"),
            ("aws-load-balancer-scheme", "internet-facing"),
            ("aws-load-balancer-enable-tcp-udp-listener", "true"),
        ],
        vec![
            Port {
                node: Some(31223),
                ..tcp(80, 80)
            },
            Port {
                protocol: "UDP",
                node: Some(31223),
                ..tcp(80, 80)
            },
            Port {
                node: Some(32323),
                ..tcp(83, 8883)
            },
        ],
    );
    let stack = build(&svc, &facts(true)).unwrap();
    assert_eq!(resource_count(&stack), 8);
    let sg = &stack.resources.security_groups["ManagedLBSecurityGroup"].spec;
    assert_eq!(sg.group_name, "k8s-app-tcpudppr-06a9156bf8");
    let rules: Vec<(String, Option<i32>)> = sg
        .ingress
        .iter()
        .map(|r| (r.ip_protocol.clone(), r.from_port))
        .collect();
    assert_eq!(
        rules,
        [
            ("tcp".into(), Some(80)),
            ("udp".into(), Some(80)),
            ("tcp".into(), Some(83))
        ]
    );
    assert_eq!(
        stack.resources.load_balancers["LoadBalancer"].spec.name,
        "k8s-app-tcpudppr-2af705447d"
    );
    assert_eq!(
        stack.resources.listeners["80"].spec.protocol,
        Protocol::TcpUdp
    );
    let tg80 = &stack.resources.target_groups["app/tcpudp-protocol:80"].spec;
    assert_eq!(
        (tg80.name.as_str(), tg80.protocol),
        ("k8s-app-tcpudppr-2213a0d759", Protocol::TcpUdp)
    );
    assert_eq!(
        stack.resources.target_groups["app/tcpudp-protocol:83"]
            .spec
            .name,
        "k8s-app-tcpudppr-c200165858"
    );
    assert_eq!(
        rules_json(&stack, "app/tcpudp-protocol:80"),
        serde_json::json!({"ingress": [{"from": [{"securityGroup": {"groupID":
            {"$ref": "#/resources/AWS::EC2::SecurityGroup/ManagedLBSecurityGroup/status/groupID"}}}],
            "ports": [{"protocol": "UDP", "port": 31223}, {"protocol": "TCP", "port": 31223}]}]})
    );
}

#[test]
fn case_10_class_only_instance_service() {
    let mut svc = service(
        "awesome",
        "lb-with-class",
        "",
        "LoadBalancer",
        &[],
        vec![Port {
            node: Some(32110),
            ..tcp(80, 8080)
        }],
    );
    if let Some(spec) = svc.spec.as_mut() {
        spec.load_balancer_class = Some("service.k8s.aws/nlb".into());
    }
    let stack = build(&svc, &facts(false)).unwrap();
    assert_eq!(
        stack.resources.load_balancers["LoadBalancer"].spec.name,
        "k8s-awesome-lbwithcl-6652458428"
    );
    let tg = &stack.resources.target_groups["awesome/lb-with-class:80"].spec;
    assert_eq!(
        (tg.name.as_str(), tg.port, tg.target_type),
        (
            "k8s-awesome-lbwithcl-081c7df2ca",
            32110,
            TargetType::Instance
        )
    );
    let with_sg = build(&svc, &facts(true)).unwrap();
    assert_eq!(
        with_sg.resources.security_groups["ManagedLBSecurityGroup"]
            .spec
            .group_name,
        "k8s-awesome-lbwithcl-1054401dd7"
    );
}

#[test]
fn case_16_names() {
    assert_eq!(
        crate::naming::nlb_name("", "foo", "bar", "", Scheme::InternetFacing),
        "k8s-foo-bar-e053368fb2"
    );
    let svc = service(
        "foo",
        "bar",
        "",
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "nlb-ip"),
            ("aws-load-balancer-name", "baz"),
        ],
        vec![tcp(80, 80)],
    );
    let stack = build(&svc, &facts(true)).unwrap();
    assert_eq!(
        stack.resources.load_balancers["LoadBalancer"].spec.name,
        "baz"
    );
}

#[test]
fn not_ours_or_deleting_yields_an_empty_service_stack() {
    let svc = service("ns", "plain", "", "LoadBalancer", &[], vec![tcp(80, 80)]);
    let stack = build(&svc, &facts(true)).unwrap();
    assert!(stack.is_empty());
    assert_eq!(
        (stack.kind, stack.id.as_str()),
        (StackKind::Service, "ns/plain")
    );

    let mut protected = service(
        "ns",
        "keep",
        "",
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "nlb-ip"),
            (
                "aws-load-balancer-attributes",
                "deletion_protection.enabled=true",
            ),
        ],
        vec![tcp(80, 80)],
    );
    protected.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    assert_eq!(
        build(&protected, &facts(true)).unwrap_err().to_string(),
        "deletion_protection is enabled, cannot delete the service: keep"
    );
}

#[test]
fn tls_listeners_from_certificates_and_ssl_ports() {
    let svc = service(
        "default",
        "nlb-ip-svc",
        "7ab4be33-11c2-4a7b-b655-7add8affab36",
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "nlb-ip"),
            ("aws-load-balancer-internal", "false"),
            ("aws-load-balancer-healthcheck-protocol", "HTTP"),
            ("aws-load-balancer-healthcheck-port", "80"),
            ("aws-load-balancer-ssl-ports", "83"),
            ("aws-load-balancer-ssl-cert", "certArn1,certArn2"),
            ("aws-load-balancer-alpn-policy", "HTTP2Preferred"),
            ("aws-load-balancer-access-log-enabled", "true"),
            ("aws-load-balancer-access-log-s3-bucket-name", "nlb-bucket"),
            ("aws-load-balancer-access-log-s3-bucket-prefix", "bkt-pfx"),
            (
                "aws-load-balancer-cross-zone-load-balancing-enabled",
                "true",
            ),
        ],
        vec![
            Port {
                name: Some("http"),
                ..tcp(80, 80)
            },
            Port {
                name: Some("alt2"),
                ..tcp(83, 8883)
            },
        ],
    );
    let mut f = facts(false);
    f.subnets.iter_mut().for_each(|s| {
        s.tags.insert("kubernetes.io/role/elb".into(), "1".into());
    });
    f.subnets.truncate(2);
    let stack = build(&svc, &f).unwrap();
    let lb = &stack.resources.load_balancers["LoadBalancer"].spec;
    assert_eq!(lb.name, "k8s-default-nlbipsvc-33e41aa671");
    assert_eq!(lb.scheme, Scheme::InternetFacing);
    let attributes: Vec<(&str, &str)> = lb
        .load_balancer_attributes
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(
        attributes,
        [
            ("access_logs.s3.bucket", "nlb-bucket"),
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.prefix", "bkt-pfx"),
            ("load_balancing.cross_zone.enabled", "true")
        ]
    );
    assert_eq!(stack.resources.listeners["80"].spec.protocol, Protocol::Tcp);
    let tls = &stack.resources.listeners["83"].spec;
    assert_eq!(tls.protocol, Protocol::Tls);
    assert_eq!(tls.ssl_policy.as_deref(), Some("ELBSecurityPolicy-2016-08"));
    assert_eq!(tls.certificates.len(), 2);
    assert_eq!(tls.alpn_policy, ["HTTP2Preferred"]);
    let tg = &stack.resources.target_groups["default/nlb-ip-svc:83"].spec;
    assert_eq!(
        (tg.name.as_str(), tg.port, tg.protocol),
        ("k8s-default-nlbipsvc-77ea0c7734", 8883, Protocol::Tcp)
    );
}

#[test]
fn errors_name_the_problem() {
    let base = |annotations: &[(&str, &str)], ports: Vec<Port>| {
        let mut all = vec![("aws-load-balancer-type", "nlb-ip")];
        all.extend_from_slice(annotations);
        service("default", "svc", "u", "LoadBalancer", &all, ports)
    };
    let cases: Vec<(Service, &str)> = vec![
        (
            base(
                &[("aws-load-balancer-ssl-ports", "80, 85, 90, arbitrary-name")],
                vec![
                    Port {
                        name: Some("http"),
                        ..tcp(80, 80)
                    },
                    Port {
                        name: Some("alt2"),
                        ..tcp(83, 80)
                    },
                ],
            ),
            "Unused port in ssl-ports annotation [85 90 arbitrary-name]",
        ),
        (
            base(
                &[("aws-load-balancer-healthcheck-port", "missing")],
                vec![tcp(80, 80)],
            ),
            "failed to resolve healthCheckPort: unable to find port missing on service default/svc",
        ),
        (
            base(
                &[("aws-load-balancer-eip-allocations", "eipalloc-1")],
                vec![tcp(80, 80)],
            ),
            "EIP allocations can only be set for internet facing load balancers",
        ),
        (
            base(
                &[("aws-load-balancer-private-ipv4-addresses", "192.168.0.10")],
                vec![tcp(80, 80)],
            ),
            "count of private IPv4 addresses (1) and subnets (2) must match",
        ),
        (
            base(
                &[("load-balancer-source-ranges", "2001:db8::/32")],
                vec![tcp(80, 80)],
            ),
            "unsupported v6 cidr 2001:db8::/32 when lb is not dualstack",
        ),
        (
            base(
                &[("aws-load-balancer-quic-enabled-ports", "80")],
                vec![tcp(80, 80)],
            ),
            "Unsupported QUIC upgrade for protocol TCP",
        ),
        (
            base(&[("aws-load-balancer-scheme", "public")], vec![tcp(80, 80)]),
            "service.beta.kubernetes.io/aws-load-balancer-scheme: unknown scheme: public",
        ),
    ];
    for (svc, want) in cases {
        assert_eq!(build(&svc, &facts(true)).unwrap_err().to_string(), want);
    }
    let mut cluster_ip = service(
        "default",
        "svc",
        "u",
        "ClusterIP",
        &[
            ("aws-load-balancer-type", "external"),
            ("aws-load-balancer-nlb-target-type", "instance"),
        ],
        vec![tcp(80, 80)],
    );
    assert_eq!(
        build(&cluster_ip, &facts(true)).unwrap_err().to_string(),
        "unsupported service type \"ClusterIP\" for load balancer target type \"instance\""
    );
    if let Some(spec) = cluster_ip.spec.as_mut() {
        spec.type_ = Some("NodePort".into());
    }
    assert!(
        build(&cluster_ip, &facts(true))
            .unwrap_err()
            .to_string()
            .starts_with("TargetGroup port is empty")
    );
}

#[test]
fn private_addresses_land_in_their_subnets() {
    let svc = service(
        "default",
        "svc",
        "u",
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "nlb-ip"),
            (
                "aws-load-balancer-private-ipv4-addresses",
                "192.168.40.5, 192.168.1.9",
            ),
        ],
        vec![tcp(80, 80)],
    );
    let stack = build(&svc, &facts(true)).unwrap();
    let mappings: Vec<(&str, Option<&str>)> = stack.resources.load_balancers["LoadBalancer"]
        .spec
        .subnet_mappings
        .iter()
        .map(|m| (m.subnet_id.as_str(), m.private_ipv4_address.as_deref()))
        .collect();
    assert_eq!(
        mappings,
        [
            ("subnet-1", Some("192.168.1.9")),
            ("subnet-2", Some("192.168.40.5"))
        ]
    );
}

#[test]
fn an_existing_nlb_keeps_its_scheme_subnets_and_lack_of_groups() {
    let svc = service(
        "app",
        "traffic-local",
        UID_INSTANCE,
        "LoadBalancer",
        &[("aws-load-balancer-type", "nlb-ip")],
        vec![tcp(80, 80)],
    );
    let existing = ExistingLoadBalancer {
        scheme: Scheme::InternetFacing,
        subnet_ids: vec!["subnet-9".into()],
        security_groups: Vec::new(),
    };
    let stack = build_with(&svc, &facts(true), Some(&existing)).unwrap();
    let lb = &stack.resources.load_balancers["LoadBalancer"].spec;
    assert_eq!(lb.scheme, Scheme::InternetFacing);
    assert_eq!(lb.subnet_mappings[0].subnet_id, "subnet-9");
    assert!(lb.security_groups.is_empty());
    assert!(stack.resources.security_groups.is_empty());

    let mut off = facts(false);
    off.features.nlb_security_group = false;
    let with_groups = ExistingLoadBalancer {
        security_groups: vec!["sg-lb".into()],
        ..existing
    };
    assert_eq!(
        build_with(&svc, &off, Some(&with_groups))
            .unwrap_err()
            .to_string(),
        "conflicting security groups configuration"
    );
}

#[test]
fn target_group_attributes_follow_upstream_precedence() {
    let port = |annotations: &[(&str, &str)]| {
        let mut all = vec![("aws-load-balancer-type", "nlb-ip")];
        all.extend_from_slice(annotations);
        let svc = service(
            "d",
            "s",
            "u",
            "LoadBalancer",
            &all,
            vec![tcp(3306, 3306), tcp(80, 80)],
        );
        let stack = build(&svc, &facts(true)).unwrap();
        let attrs = |id: &str| -> Vec<(String, String)> {
            stack.resources.target_groups[id]
                .spec
                .target_group_attributes
                .iter()
                .map(|a| (a.key.clone(), a.value.clone()))
                .collect()
        };
        (attrs("d/s:3306"), attrs("d/s:80"))
    };
    let kv = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let (db, _) = port(&[
        (
            "aws-load-balancer-target-group-attributes",
            "deregistration_delay.timeout_seconds=80",
        ),
        (
            "aws-load-balancer-target-group-attributes.3306",
            "deregistration_delay.timeout_seconds=",
        ),
    ]);
    assert_eq!(
        db,
        [
            kv("deregistration_delay.timeout_seconds", "80"),
            kv("proxy_protocol_v2.enabled", "false")
        ]
    );
    let (db, web) = port(&[
        (
            "aws-load-balancer-target-group-attributes",
            "deregistration_delay.timeout_seconds=60",
        ),
        (
            "aws-load-balancer-target-group-attributes.80",
            "deregistration_delay.timeout_seconds=30",
        ),
        (
            "aws-load-balancer-target-group-attributes.3306",
            "deregistration_delay.timeout_seconds=120",
        ),
    ]);
    assert_eq!(db[0], kv("deregistration_delay.timeout_seconds", "120"));
    assert_eq!(web[0], kv("deregistration_delay.timeout_seconds", "30"));
    let (db, web) = port(&[("aws-load-balancer-proxy-protocol-per-target-group", "80")]);
    assert_eq!(db, [kv("proxy_protocol_v2.enabled", "false")]);
    assert_eq!(web, [kv("proxy_protocol_v2.enabled", "true")]);
    let (db, _) = port(&[
        ("aws-load-balancer-proxy-protocol-per-target-group", "80"),
        ("aws-load-balancer-proxy-protocol", "*"),
    ]);
    assert_eq!(db, [kv("proxy_protocol_v2.enabled", "true")]);
}

#[test]
fn local_traffic_instance_health_check() {
    let mut svc = service(
        "app",
        "traffic-local",
        UID_INSTANCE,
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "external"),
            ("aws-load-balancer-nlb-target-type", "instance"),
        ],
        vec![Port {
            node: Some(31223),
            ..tcp(80, 80)
        }],
    );
    if let Some(spec) = svc.spec.as_mut() {
        spec.external_traffic_policy = Some("Local".into());
        spec.health_check_node_port = Some(29123);
    }
    let stack = build(&svc, &facts(true)).unwrap();
    let tg = &stack.resources.target_groups["app/traffic-local:80"].spec;
    assert_eq!(
        serde_json::to_value(&tg.health_check_config).unwrap(),
        serde_json::json!({"port": 29123, "protocol": "HTTP", "path": "/healthz",
            "matcher": {"httpCode": "200-399"}, "intervalSeconds": 10, "timeoutSeconds": 6,
            "healthyThresholdCount": 2, "unhealthyThresholdCount": 2})
    );
}

#[test]
fn admission_check_refuses_spec_errors_and_warns_on_live_facts() {
    use crate::group_check::check_service;
    let bad_ports = service(
        "default",
        "svc",
        "u",
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "nlb-ip"),
            ("aws-load-balancer-ssl-cert", "arn:cert"),
            ("aws-load-balancer-ssl-ports", "https"),
        ],
        vec![tcp(80, 80)],
    );
    let findings = check_service(&facts(true), &bad_ports, None);
    assert_eq!(findings.refusals.len(), 1, "{findings:?}");
    assert_eq!(findings.refusals[0].category, "service_spec");
    assert_eq!(
        findings.refusals[0].message,
        "Unused port in ssl-ports annotation [https]"
    );
    // Already broken the same way before the change: a warning, so it can be repaired.
    let again = check_service(&facts(true), &bad_ports, Some(&bad_ports));
    assert!(
        again.refusals.is_empty() && again.warnings.len() == 1,
        "{again:?}"
    );
    // Subnets AWS does not know (a live fact): a warning only.
    let named_subnet = service(
        "default",
        "svc",
        "u",
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "nlb-ip"),
            ("aws-load-balancer-subnets", "subnet-none"),
        ],
        vec![tcp(80, 80)],
    );
    let findings = check_service(&facts(true), &named_subnet, None);
    assert!(findings.refusals.is_empty(), "{findings:?}");
    assert!(
        findings.warnings[0].contains("checked again with live AWS facts"),
        "{findings:?}"
    );
    // Annotation errors are the validator's, and Services that build say nothing.
    let fine = service(
        "default",
        "svc",
        "u",
        "LoadBalancer",
        &[("aws-load-balancer-type", "nlb-ip")],
        vec![tcp(80, 80)],
    );
    assert_eq!(check_service(&facts(true), &fine, None), Default::default());
}

#[test]
fn instance_services_without_node_ports_yet_pass_admission() {
    use crate::group_check::check_service;
    // At admission the API server has not allocated the NodePorts yet.
    let mut fresh = service(
        "default",
        "svc",
        "u",
        "LoadBalancer",
        &[
            ("aws-load-balancer-type", "external"),
            ("aws-load-balancer-nlb-target-type", "instance"),
        ],
        vec![tcp(80, 8080)],
    );
    assert!(
        check_service(&facts(true), &fresh, None)
            .refusals
            .is_empty()
    );
    if let Some(spec) = fresh.spec.as_mut() {
        spec.allocate_load_balancer_node_ports = Some(false);
    }
    let findings = check_service(&facts(true), &fresh, None);
    assert_eq!(
        findings.refusals[0].message,
        "unable to support instance target type with an unallocated NodePort"
    );
}
