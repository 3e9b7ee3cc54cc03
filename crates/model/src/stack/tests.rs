use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::*;

const TG_ID: &str = "ns-1/ing-1-svc-1:http";

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A small stack like the builder will produce for one Ingress with one rule.
fn sample_stack() -> Stack {
    let mut stack = Stack::new("ns-1/ing-1");
    let sg = stack
        .add_security_group(
            resource_id::MANAGED_SECURITY_GROUP,
            SecurityGroupSpec {
                group_name: "k8s-ns1-ing1-bd83176788".into(),
                description: MANAGED_SECURITY_GROUP_DESCRIPTION.into(),
                tags: tags(&[("team", "a")]),
                ingress: vec![IpPermission {
                    ip_ranges: vec![IpRange {
                        cidr_ip: "0.0.0.0/0".into(),
                        description: String::new(),
                    }],
                    ..IpPermission::tcp_port(80)
                }],
            },
        )
        .expect("first security group");
    let lb = stack
        .add_load_balancer(LoadBalancerSpec {
            name: "k8s-ns1-ing1-b7e914000d".into(),
            load_balancer_type: LoadBalancerType::Application,
            scheme: Scheme::Internal,
            ip_address_type: IpAddressType::Ipv4,
            subnet_mappings: vec![
                SubnetMapping {
                    subnet_id: "subnet-a".into(),
                    allocation_id: None,
                    private_ipv4_address: None,
                    ipv6_address: None,
                    source_nat_ipv6_prefix: None,
                },
                SubnetMapping {
                    subnet_id: "subnet-b".into(),
                    allocation_id: None,
                    private_ipv4_address: None,
                    ipv6_address: None,
                    source_nat_ipv6_prefix: None,
                },
            ],
            security_groups: vec![sg.clone().into(), "sg-backend".into()],
            customer_owned_ipv4_pool: None,
            ipam_configuration: None,
            minimum_load_balancer_capacity: None,
            enable_prefix_for_ipv6_source_nat: None,
            security_groups_inbound_rules_on_private_link: None,
            load_balancer_attributes: vec![Attribute {
                key: "idle_timeout.timeout_seconds".into(),
                value: "60".into(),
            }],
            tags: tags(&[("team", "a")]),
        })
        .expect("first load balancer");
    let listener = stack
        .add_listener(ListenerSpec {
            load_balancer_arn: lb.into(),
            port: 80,
            protocol: Protocol::Http,
            default_actions: vec![Action::fixed_response(FixedResponseConfig {
                content_type: Some("text/plain".into()),
                message_body: None,
                status_code: "404".into(),
            })],
            certificates: vec![],
            ssl_policy: None,
            alpn_policy: vec![],
            mutual_authentication: None,
            listener_attributes: vec![],
            tags: BTreeMap::new(),
        })
        .expect("first listener");
    let tg = stack
        .add_target_group(
            TG_ID,
            TargetGroupSpec {
                name: "k8s-ns1-svc1-9889425938".into(),
                target_type: TargetType::Instance,
                port: 32768,
                protocol: Protocol::Http,
                protocol_version: Some(ProtocolVersion::Http1),
                ip_address_type: Some(TargetGroupIpAddressType::Ipv4),
                health_check_config: Some(HealthCheckConfig {
                    port: Some(IntOrString::String("traffic-port".into())),
                    protocol: Some(Protocol::Http),
                    path: Some("/".into()),
                    matcher: Some(HealthCheckMatcher {
                        http_code: Some("200".into()),
                        grpc_code: None,
                    }),
                    interval_seconds: Some(15),
                    timeout_seconds: Some(5),
                    healthy_threshold_count: Some(2),
                    unhealthy_threshold_count: Some(2),
                }),
                target_group_attributes: vec![],
                target_control_port: None,
                alb_targets: Vec::new(),
                tags: BTreeMap::new(),
            },
        )
        .expect("first target group");
    stack
        .add_listener_rule(
            80,
            ListenerRuleSpec {
                listener_arn: listener.into(),
                priority: 1,
                actions: vec![Action::forward_to(tg.clone())],
                conditions: vec![
                    RuleCondition::host_header(ValuesConfig::values(["example.com"])),
                    RuleCondition::path_pattern(ValuesConfig::values(["/api", "/api/*"])),
                ],
                transforms: vec![],
                tags: BTreeMap::new(),
            },
        )
        .expect("first rule");
    stack
        .add_target_group_binding(
            TG_ID,
            TargetGroupBindingResourceSpec {
                template: TargetGroupBindingTemplate {
                    metadata: TargetGroupBindingMetadata {
                        namespace: "ns-1".into(),
                        name: "k8s-ns1-svc1-9889425938".into(),
                        labels: tags(&[
                            ("ingress.k8s.aws/stack-name", "ing-1"),
                            ("ingress.k8s.aws/stack-namespace", "ns-1"),
                        ]),
                        annotations: BTreeMap::new(),
                    },
                    spec: TargetGroupBindingSpec {
                        target_group_arn: tg.into(),
                        target_type: TargetType::Instance,
                        service_ref: ServiceReference {
                            name: "svc-1".into(),
                            port: IntOrString::String("http".into()),
                        },
                        networking: Some(TargetGroupBindingNetworking {
                            ingress: vec![NetworkingIngressRule {
                                from: vec![NetworkingPeer {
                                    ip_block: None,
                                    security_group: Some(SecurityGroupPeer {
                                        group_id: sg.into(),
                                    }),
                                }],
                                ports: vec![NetworkingPort {
                                    protocol: Some("TCP".into()),
                                    port: None,
                                }],
                            }],
                        }),
                        node_selector: None,
                        ip_address_type: Some(TargetGroupIpAddressType::Ipv4),
                        vpc_id: Some("vpc-1".into()),
                        multi_cluster_target_group: false,
                        target_group_protocol: Some(Protocol::Http),
                    },
                },
            },
        )
        .expect("first binding");
    stack
}

#[test]
fn json_round_trips() {
    let stack = sample_stack();
    let text = stack.to_json_pretty().expect("serialisable");
    let back: Stack = serde_json::from_str(&text).expect("deserialisable");
    assert_eq!(back, stack);
    assert_eq!(back.to_json_pretty().expect("serialisable"), text);
}

#[test]
fn json_layout_follows_upstream() {
    let value = serde_json::to_value(sample_stack()).expect("serialisable");
    assert_eq!(value["id"], "ns-1/ing-1");
    let resources = value["resources"].as_object().expect("resources object");
    let types: Vec<&str> = resources.keys().map(String::as_str).collect();
    assert_eq!(
        types,
        [
            "AWS::EC2::SecurityGroup",
            "AWS::ElasticLoadBalancingV2::Listener",
            "AWS::ElasticLoadBalancingV2::ListenerRule",
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            "K8S::ElasticLoadBalancingV2::TargetGroupBinding",
        ]
    );
    let lb = &resources["AWS::ElasticLoadBalancingV2::LoadBalancer"]["LoadBalancer"]["spec"];
    assert_eq!(
        lb["securityGroups"],
        json!([
            {"$ref": "#/resources/AWS::EC2::SecurityGroup/ManagedLBSecurityGroup/status/groupID"},
            "sg-backend"
        ])
    );
    assert_eq!(lb["type"], "application");
    assert_eq!(lb["scheme"], "internal");
    assert_eq!(lb["ipAddressType"], "ipv4");
    assert_eq!(lb["subnetMapping"][0], json!({"subnetID": "subnet-a"}));
    assert!(
        lb.get("customerOwnedIPv4Pool").is_none(),
        "unset fields are omitted"
    );

    let rule = &resources["AWS::ElasticLoadBalancingV2::ListenerRule"]["80:1"]["spec"];
    assert_eq!(
        rule["listenerARN"],
        json!({"$ref": "#/resources/AWS::ElasticLoadBalancingV2::Listener/80/status/listenerARN"})
    );
    assert_eq!(
        rule["actions"],
        json!([{"type": "forward", "forwardConfig": {"targetGroups": [{"targetGroupARN": {
            "$ref": "#/resources/AWS::ElasticLoadBalancingV2::TargetGroup/ns-1/ing-1-svc-1:http/status/targetGroupARN"
        }}]}}])
    );
    assert_eq!(
        rule["conditions"][0],
        json!({"field": "host-header", "hostHeaderConfig": {"values": ["example.com"]}})
    );

    let listener = &resources["AWS::ElasticLoadBalancingV2::Listener"]["80"]["spec"];
    assert_eq!(
        listener["defaultActions"],
        json!([{"type": "fixed-response", "fixedResponseConfig": {"contentType": "text/plain", "statusCode": "404"}}])
    );

    let tg = &resources["AWS::ElasticLoadBalancingV2::TargetGroup"][TG_ID]["spec"];
    assert_eq!(tg["healthCheckConfig"]["port"], "traffic-port");
    assert_eq!(tg["protocolVersion"], "HTTP1");

    let tgb =
        &resources["K8S::ElasticLoadBalancingV2::TargetGroupBinding"][TG_ID]["spec"]["template"];
    assert_eq!(tgb["metadata"]["namespace"], "ns-1");
    assert_eq!(
        tgb["spec"]["serviceRef"],
        json!({"name": "svc-1", "port": "http"})
    );
    assert_eq!(tgb["spec"]["vpcID"], "vpc-1");
    assert!(tgb["spec"].get("multiClusterTargetGroup").is_none());

    let sg = &resources["AWS::EC2::SecurityGroup"]["ManagedLBSecurityGroup"]["spec"];
    assert_eq!(
        sg["ingress"],
        json!([{"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "ipRanges": [{"cidrIP": "0.0.0.0/0"}]}])
    );
}

#[test]
fn empty_stack_json() {
    let stack = Stack::new("g");
    assert!(stack.is_empty());
    assert_eq!(
        serde_json::to_value(&stack).expect("serialisable"),
        json!({"id": "g", "resources": {}})
    );
    let back: Stack = serde_json::from_str(r#"{"id": "g"}"#).expect("resources default");
    assert_eq!(back, stack);
}

#[test]
fn refs_are_collected_and_checked() {
    let mut stack = sample_stack();
    assert!(!stack.is_empty());
    let refs = stack.refs().expect("serialisable");
    assert_eq!(
        refs,
        [
            Ref::security_group_id(resource_id::MANAGED_SECURITY_GROUP),
            Ref::load_balancer_arn(),
            Ref::listener_arn(80),
            Ref::target_group_arn(TG_ID),
        ]
    );
    assert_eq!(stack.dangling_refs().expect("serialisable"), []);

    stack.resources.target_groups.clear();
    assert_eq!(
        stack.dangling_refs().expect("serialisable"),
        [Ref::target_group_arn(TG_ID)]
    );
}

#[test]
fn duplicate_resources_are_refused() {
    let mut stack = sample_stack();
    let listener = stack.resources.listeners["80"].spec.clone();
    let err = stack.add_listener(listener).expect_err("port 80 exists");
    assert_eq!(
        err.to_string(),
        "duplicate resource AWS::ElasticLoadBalancingV2::Listener 80"
    );
    let rule = stack.resources.listener_rules["80:1"].spec.clone();
    assert!(stack.add_listener_rule(80, rule.clone()).is_err());
    assert!(stack.add_listener_rule(443, rule).is_ok());
    assert_eq!(stack.ids(ResourceType::ListenerRule), ["443:1", "80:1"]);
}

#[test]
fn ref_pointers_parse_and_reject() {
    let cases: &[(&str, Option<Ref>)] = &[
        (
            "#/resources/AWS::ElasticLoadBalancingV2::TargetGroup/ns/ing-svc:80/status/targetGroupARN",
            Some(Ref::target_group_arn("ns/ing-svc:80")),
        ),
        (
            "#/resources/AWS::ElasticLoadBalancingV2::LoadBalancer/LoadBalancer/status/dnsName",
            Some(Ref::load_balancer_dns_name()),
        ),
        ("#/resources/AWS::Unknown::Thing/x/status/y", None),
        ("#/resources/AWS::EC2::SecurityGroup/x/spec/y", None),
        ("#/resources/AWS::EC2::SecurityGroup//status/groupID", None),
        ("#/resources/AWS::EC2::SecurityGroup/x/status/", None),
        ("resources/AWS::EC2::SecurityGroup/x/status/groupID", None),
        ("", None),
    ];
    for (pointer, want) in cases {
        let got = Ref::parse_pointer(pointer).ok();
        assert_eq!(&got, want, "{pointer}");
        if let Some(r) = want {
            assert_eq!(r.pointer(), *pointer);
        }
    }
    let err: Result<Ref, _> = serde_json::from_value(json!({"$ref": "nope"}));
    assert!(err.is_err());
}

#[test]
fn string_tokens_are_literal_or_ref() {
    let literal: StringToken = serde_json::from_value(json!("sg-1")).expect("literal");
    assert_eq!(literal, StringToken::Literal("sg-1".into()));
    let reference: StringToken = serde_json::from_value(json!({
        "$ref": "#/resources/AWS::EC2::SecurityGroup/ManagedLBSecurityGroup/status/groupID"
    }))
    .expect("reference");
    assert_eq!(
        reference,
        StringToken::Ref(Ref::security_group_id("ManagedLBSecurityGroup"))
    );
}

#[test]
fn resource_ids_follow_upstream() {
    assert_eq!(resource_id::listener(443), "443");
    assert_eq!(resource_id::listener_rule(80, 12), "80:12");
    assert_eq!(
        resource_id::target_group("ns-1", "ing-1", "svc-1", &IntOrString::Int(8080)),
        "ns-1/ing-1-svc-1:8080"
    );
    assert_eq!(
        resource_id::target_group(
            "ns-1",
            "ing-1",
            "svc-1",
            &IntOrString::String("http".into())
        ),
        "ns-1/ing-1-svc-1:http"
    );
    for t in ResourceType::ALL {
        assert_eq!(ResourceType::from_name(t.as_str()), Some(t));
    }
}

#[test]
fn oidc_credentials_redact() {
    let config = AuthenticateOidcConfig {
        issuer: "https://idp".into(),
        authorization_endpoint: "https://idp/auth".into(),
        token_endpoint: "https://idp/token".into(),
        user_info_endpoint: "https://idp/userinfo".into(),
        client_id: "id".into(),
        client_secret: "secret".into(),
        authentication_request_extra_params: BTreeMap::new(),
        on_unauthenticated_request: Some(OnUnauthenticatedRequest::Authenticate),
        scope: Some("openid".into()),
        session_cookie_name: None,
        session_timeout: Some(604800),
    };
    let redacted = config.redacted();
    assert_eq!(redacted.client_id, "[REDACTED]");
    assert_eq!(redacted.client_secret, "[REDACTED]");
    assert_eq!(redacted.issuer, config.issuer);
    let value =
        serde_json::to_value(Action::authenticate_oidc(config.clone())).expect("serialisable");
    // Deserialising keeps what the JSON says; serialising never shows the credentials.
    let back: AuthenticateOidcConfig =
        serde_json::from_value(value["authenticateOIDCConfig"].clone()).expect("deserialisable");
    assert_eq!(back, redacted);
    assert_eq!(value["type"], "authenticate-oidc");
    assert_eq!(value["authenticateOIDCConfig"]["clientID"], "[REDACTED]");
    assert_eq!(
        value["authenticateOIDCConfig"]["clientSecret"],
        "[REDACTED]"
    );
    assert_eq!(value["authenticateOIDCConfig"]["issuer"], "https://idp");
    assert_eq!(
        value["authenticateOIDCConfig"]["onUnauthenticatedRequest"],
        "authenticate"
    );
}

#[test]
fn enums_use_aws_spelling() {
    let cases = [
        (
            serde_json::to_value(Scheme::InternetFacing),
            "internet-facing",
        ),
        (
            serde_json::to_value(IpAddressType::DualstackWithoutPublicIpv4),
            "dualstack-without-public-ipv4",
        ),
        (serde_json::to_value(Protocol::TcpUdp), "TCP_UDP"),
        (serde_json::to_value(ProtocolVersion::Grpc), "GRPC"),
        (
            serde_json::to_value(ActionType::JwtValidation),
            "jwt-validation",
        ),
        (
            serde_json::to_value(RuleConditionField::SourceIp),
            "source-ip",
        ),
    ];
    for (value, want) in cases {
        assert_eq!(value.expect("serialisable"), json!(want));
    }
    assert_eq!(Scheme::Internal.to_string(), "internal");
    let parsed: TargetType = serde_json::from_value(json!("ip")).expect("known");
    assert_eq!(parsed, TargetType::Ip);
    assert!(serde_json::from_value::<TargetType>(json!("lambda")).is_err());
}
