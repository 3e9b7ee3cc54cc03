//! Unit tests of the conversions to and from the SDK's shapes, the normal form, and the target
//! group drift checks.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types as sdk;

use super::convert::{
    model_actions, model_conditions, model_transforms, sdk_actions, sdk_conditions, sdk_transforms,
};
use super::error::{ErrorCategory, ResourceRef};
use super::normal::{changed_attributes, normalize_actions, normalize_conditions};
use model::stack::*;
use model::tags::Tags;

fn tuple(arn: &str, weight: Option<i32>) -> TargetGroupTuple {
    TargetGroupTuple {
        target_group_arn: arn.into(),
        weight,
    }
}

#[test]
fn normal_form_fills_what_aws_fills() {
    // One target group: weight is meaningless; stickiness off equals none.
    let bare = Action::forward_to("arn:a");
    let as_described = Action::forward(ForwardConfig {
        target_groups: vec![tuple("arn:a", Some(1))],
        target_group_stickiness_config: Some(TargetGroupStickinessConfig {
            enabled: Some(false),
            duration_seconds: Some(3600),
        }),
    });
    assert_eq!(
        normalize_actions(&[bare]),
        normalize_actions(&[as_described])
    );

    // Weighted: order does not matter, a missing weight is 1.
    let one = Action::forward(ForwardConfig {
        target_groups: vec![tuple("arn:b", None), tuple("arn:a", Some(3))],
        target_group_stickiness_config: None,
    });
    let two = Action::forward(ForwardConfig {
        target_groups: vec![tuple("arn:a", Some(3)), tuple("arn:b", Some(1))],
        target_group_stickiness_config: None,
    });
    assert_eq!(
        normalize_actions(&[one]),
        normalize_actions(std::slice::from_ref(&two))
    );
    let heavier = Action::forward(ForwardConfig {
        target_groups: vec![tuple("arn:a", Some(4)), tuple("arn:b", Some(1))],
        target_group_stickiness_config: None,
    });
    assert_ne!(normalize_actions(&[two]), normalize_actions(&[heavier]));

    // Redirect placeholders.
    let short = Action::redirect(RedirectConfig {
        host: None,
        path: None,
        port: Some("443".into()),
        protocol: Some("HTTPS".into()),
        query: None,
        status_code: "HTTP_301".into(),
    });
    let full = Action::redirect(RedirectConfig {
        host: Some("#{host}".into()),
        path: Some("/#{path}".into()),
        port: Some("443".into()),
        protocol: Some("HTTPS".into()),
        query: Some("#{query}".into()),
        status_code: "HTTP_301".into(),
    });
    assert_eq!(normalize_actions(&[short]), normalize_actions(&[full]));

    // Condition values and conditions have no order.
    let c1 = [
        RuleCondition::path_pattern(ValuesConfig::values(["/b", "/a"])),
        RuleCondition::host_header(ValuesConfig::values(["x.example.com"])),
    ];
    let c2 = [
        RuleCondition::host_header(ValuesConfig::values(["x.example.com"])),
        RuleCondition::path_pattern(ValuesConfig::values(["/a", "/b"])),
    ];
    assert_eq!(normalize_conditions(&c1), normalize_conditions(&c2));
}

fn oidc(secret: &str) -> Action {
    Action::authenticate_oidc(AuthenticateOidcConfig {
        issuer: "https://idp".into(),
        authorization_endpoint: "https://idp/auth".into(),
        token_endpoint: "https://idp/token".into(),
        user_info_endpoint: "https://idp/userinfo".into(),
        client_id: "client".into(),
        client_secret: secret.into(),
        authentication_request_extra_params: BTreeMap::from([("a".to_owned(), "b".to_owned())]),
        on_unauthenticated_request: None,
        scope: None,
        session_cookie_name: None,
        session_timeout: None,
    })
}

#[test]
fn actions_survive_the_round_trip_through_the_sdk() {
    let user = ResourceRef::new(ResourceType::ListenerRule, "443:1");
    let actions = vec![
        oidc("s3cret"),
        Action::forward(ForwardConfig {
            target_groups: vec![tuple("arn:a", Some(80)), tuple("arn:b", Some(20))],
            target_group_stickiness_config: Some(TargetGroupStickinessConfig {
                enabled: Some(true),
                duration_seconds: Some(60),
            }),
        }),
    ];
    let sdk_form = sdk_actions(&actions, &user).expect("resolved");
    assert_eq!(sdk_form[0].order(), Some(1));
    assert_eq!(sdk_form[1].order(), Some(2));
    assert_eq!(
        sdk_form[0]
            .authenticate_oidc_config()
            .and_then(|c| c.client_secret()),
        Some("s3cret"),
        "the real secret is sent"
    );
    // AWS returns actions in any order, with their order numbers, and without the secret.
    let described: Vec<sdk::Action> = sdk_form.iter().rev().cloned().collect();
    let back = model_actions(&described).expect("expressible");
    assert_eq!(normalize_actions(&back), normalize_actions(&actions));
    assert_eq!(
        normalize_actions(&[oidc("a")]),
        normalize_actions(&[oidc("b")])
    );

    let fixed = vec![Action::fixed_response(FixedResponseConfig {
        content_type: Some("text/plain".into()),
        message_body: Some("gone".into()),
        status_code: "410".into(),
    })];
    let back = model_actions(&sdk_actions(&fixed, &user).expect("literal")).expect("expressible");
    assert_eq!(back, fixed);

    let unresolved = vec![Action::forward_to(Ref::target_group_arn("ns/ing-svc:80"))];
    let err = sdk_actions(&unresolved, &user).expect_err("a reference is not an ARN");
    assert_eq!(err.category(), ErrorCategory::InvalidStack);
}

#[test]
fn conditions_and_transforms_survive_the_round_trip() {
    let conditions = vec![
        RuleCondition::host_header(ValuesConfig::values(["a.example.com"])),
        RuleCondition::http_header(HttpHeaderConfig {
            http_header_name: "X-Env".into(),
            values: vec!["prod".into()],
            regex_values: vec![],
        }),
        RuleCondition::query_string(QueryStringConfig {
            values: vec![QueryStringKeyValue {
                key: Some("v".into()),
                value: "2".into(),
            }],
        }),
        RuleCondition::source_ip(ValuesConfig::values(["10.0.0.0/8"])),
        RuleCondition::http_request_method(ValuesConfig::values(["GET"])),
    ];
    let back = model_conditions(&sdk_conditions(&conditions)).expect("expressible");
    assert_eq!(
        normalize_conditions(&back),
        normalize_conditions(&conditions)
    );

    // The legacy `Values` form reads the same as the config form.
    let legacy = sdk::RuleCondition::builder()
        .field("path-pattern")
        .values("/x")
        .build();
    assert_eq!(
        model_conditions(&[legacy]).expect("expressible"),
        [RuleCondition::path_pattern(ValuesConfig::values(["/x"]))]
    );

    let transforms = vec![Transform {
        transform_type: TransformType::UrlRewrite,
        host_header_rewrite_config: None,
        url_rewrite_config: Some(RewriteConfig {
            rewrites: vec![Rewrite {
                regex: "^/old/(.*)$".into(),
                replace: "/new/$1".into(),
            }],
        }),
    }];
    assert_eq!(
        model_transforms(&sdk_transforms(&transforms)).expect("expressible"),
        transforms
    );
}

#[test]
fn only_changed_attributes_are_sent() {
    let desired = [
        Attribute {
            key: "idle_timeout.timeout_seconds".into(),
            value: "60".into(),
        },
        Attribute {
            key: "routing.http2.enabled".into(),
            value: "true".into(),
        },
    ];
    let actual = BTreeMap::from([
        ("idle_timeout.timeout_seconds".to_owned(), "60".to_owned()),
        ("deletion_protection.enabled".to_owned(), "true".to_owned()),
    ]);
    assert_eq!(
        changed_attributes(&desired, &actual),
        [Attribute {
            key: "routing.http2.enabled".into(),
            value: "true".into()
        }]
    );
}

#[test]
fn target_group_drift_and_replacement() {
    use super::diff::FieldChange;
    use super::fields::health_check_changes;
    use super::target_group::{replacement, replacement_reason};
    let spec = TargetGroupSpec {
        name: "k8s-ns-svc-1".into(),
        target_type: TargetType::Ip,
        port: 8080,
        protocol: Protocol::Http,
        protocol_version: Some(ProtocolVersion::Http1),
        ip_address_type: None,
        health_check_config: None,
        target_group_attributes: vec![],
        target_control_port: None,
        alb_targets: Vec::new(),
        tags: Tags::new(),
    };
    let actual = sdk::TargetGroup::builder()
        .target_group_name("k8s-ns-svc-1")
        .target_type(sdk::TargetTypeEnum::Ip)
        .port(8080)
        .protocol(sdk::ProtocolEnum::Http)
        .vpc_id("vpc-1")
        .health_check_path("/")
        .health_check_port("traffic-port")
        .health_check_interval_seconds(15)
        .build();
    let ingress = StackKind::Ingress;
    assert_eq!(replacement_reason(ingress, &spec, &actual, "vpc-1"), None);
    assert_eq!(
        replacement_reason(
            ingress,
            &TargetGroupSpec {
                port: 9090,
                ..spec.clone()
            },
            &actual,
            "vpc-1"
        ),
        Some("port")
    );
    assert_eq!(
        replacement_reason(
            ingress,
            &TargetGroupSpec {
                target_type: TargetType::Instance,
                ..spec.clone()
            },
            &actual,
            "vpc-1"
        ),
        Some("targetType")
    );
    assert_eq!(
        replacement_reason(
            ingress,
            &TargetGroupSpec {
                protocol_version: Some(ProtocolVersion::Grpc),
                ..spec.clone()
            },
            &actual,
            "vpc-1"
        ),
        Some("protocolVersion")
    );
    assert_eq!(
        replacement(
            ingress,
            &TargetGroupSpec {
                port: 9090,
                ..spec.clone()
            },
            &actual,
            "vpc-1"
        )
        .map(|r| r.change()),
        Some(FieldChange::values("port", "8080", "9090"))
    );
    // A Service's target group keeps its first name and port (upstream's NLB rule): only the
    // target type, protocol, VPC and address family replace it.
    let service = StackKind::Service;
    let renamed = TargetGroupSpec {
        name: "k8s-ns-svc-2".into(),
        port: 9090,
        ..spec.clone()
    };
    assert_eq!(
        replacement_reason(ingress, &renamed, &actual, "vpc-1"),
        Some("name")
    );
    assert_eq!(
        replacement_reason(service, &renamed, &actual, "vpc-1"),
        None
    );
    assert_eq!(
        replacement_reason(
            service,
            &TargetGroupSpec {
                protocol: Protocol::Tcp,
                ..renamed.clone()
            },
            &actual,
            "vpc-1"
        ),
        Some("protocol")
    );
    assert_eq!(
        replacement_reason(
            service,
            &TargetGroupSpec {
                target_type: TargetType::Instance,
                ..renamed
            },
            &actual,
            "vpc-1"
        ),
        Some("targetType")
    );

    let hc = HealthCheckConfig {
        port: Some(
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                "traffic-port".into(),
            ),
        ),
        protocol: None,
        path: Some("/".into()),
        matcher: None,
        interval_seconds: Some(15),
        timeout_seconds: None,
        healthy_threshold_count: None,
        unhealthy_threshold_count: None,
    };
    assert_eq!(
        health_check_changes(&hc, &actual),
        [],
        "unset fields are not compared"
    );
    assert_eq!(
        health_check_changes(
            &HealthCheckConfig {
                path: Some("/healthz".into()),
                ..hc.clone()
            },
            &actual
        ),
        [FieldChange::values("healthCheckPath", "/", "/healthz")]
    );
    assert_eq!(
        health_check_changes(
            &HealthCheckConfig {
                matcher: Some(HealthCheckMatcher {
                    http_code: Some("200-299".into()),
                    grpc_code: None
                }),
                interval_seconds: Some(30),
                ..hc
            },
            &actual
        ),
        [
            FieldChange::values("healthCheckIntervalSeconds", "15", "30"),
            FieldChange::new("matcher.httpCode", None, Some("200-299".into())),
        ]
    );
}

#[test]
fn listener_drift_compares_only_what_the_spec_sets() {
    use super::listener::listener_changes;
    let fields = |spec: &ListenerSpec, actions: &[Action], actual: &sdk::Listener| -> Vec<String> {
        listener_changes(spec, actions, actual)
            .into_iter()
            .map(|c| c.field)
            .collect()
    };
    let spec = ListenerSpec {
        load_balancer_arn: "arn:lb".into(),
        port: 443,
        protocol: Protocol::Https,
        default_actions: vec![Action::forward_to("arn:tg")],
        certificates: vec![
            Certificate {
                certificate_arn: "arn:cert-default".into(),
            },
            Certificate {
                certificate_arn: "arn:cert-sni".into(),
            },
        ],
        ssl_policy: Some("ELBSecurityPolicy-2016-08".into()),
        alpn_policy: vec![],
        mutual_authentication: None,
        listener_attributes: vec![],
        tags: Tags::new(),
    };
    let user = ResourceRef::new(ResourceType::Listener, "443");
    let actual = sdk::Listener::builder()
        .port(443)
        .protocol(sdk::ProtocolEnum::Https)
        .ssl_policy("ELBSecurityPolicy-2016-08")
        .certificates(
            sdk::Certificate::builder()
                .certificate_arn("arn:cert-default")
                .build(),
        )
        .set_default_actions(Some(
            sdk_actions(&spec.default_actions, &user).expect("literal"),
        ))
        .alpn_policy("None")
        .build();
    assert_eq!(
        fields(&spec, &spec.default_actions, &actual),
        Vec::<String>::new()
    );
    let other_policy = ListenerSpec {
        ssl_policy: Some("ELBSecurityPolicy-TLS13-1-2-2021-06".into()),
        ..spec.clone()
    };
    assert_eq!(
        listener_changes(&other_policy, &spec.default_actions, &actual),
        [super::diff::FieldChange::values(
            "sslPolicy",
            "ELBSecurityPolicy-2016-08",
            "ELBSecurityPolicy-TLS13-1-2-2021-06"
        )]
    );
    let other_cert = ListenerSpec {
        certificates: vec![Certificate {
            certificate_arn: "arn:cert-new".into(),
        }],
        ..spec.clone()
    };
    assert_eq!(
        fields(&other_cert, &spec.default_actions, &actual),
        ["certificates.default"]
    );
    let other_action = [Action::forward_to("arn:other-tg")];
    let changes = listener_changes(&spec, &other_action, &actual);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].field, "defaultActions");
    assert!(
        changes[0]
            .from
            .as_deref()
            .is_some_and(|v| v.contains("arn:tg"))
            && changes[0]
                .to
                .as_deref()
                .is_some_and(|v| v.contains("arn:other-tg")),
        "{changes:?}"
    );
}

#[test]
fn a_tcp_health_check_has_no_path_or_matcher() {
    use super::target_group::effective_health_check;
    let hc = HealthCheckConfig {
        port: Some(
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                "traffic-port".into(),
            ),
        ),
        protocol: Some(Protocol::Tcp),
        path: Some("/".into()),
        matcher: Some(HealthCheckMatcher {
            http_code: Some("200-399".into()),
            grpc_code: None,
        }),
        interval_seconds: Some(10),
        timeout_seconds: Some(10),
        healthy_threshold_count: Some(3),
        unhealthy_threshold_count: Some(3),
    };
    let spec = TargetGroupSpec {
        name: "k8s-ns-svc-1".into(),
        target_type: TargetType::Ip,
        port: 80,
        protocol: Protocol::Udp,
        protocol_version: None,
        ip_address_type: None,
        health_check_config: Some(hc.clone()),
        target_group_attributes: vec![],
        target_control_port: None,
        alb_targets: Vec::new(),
        tags: Tags::new(),
    };
    let tcp = effective_health_check(&spec).unwrap();
    assert_eq!((tcp.path, tcp.matcher), (None, None));
    assert_eq!(tcp.interval_seconds, Some(10));
    // No protocol named: a layer-4 target group's default is TCP too.
    let default = effective_health_check(&TargetGroupSpec {
        health_check_config: Some(HealthCheckConfig {
            protocol: None,
            ..hc.clone()
        }),
        ..spec.clone()
    })
    .unwrap();
    assert_eq!(default.path, None);
    // An HTTP health check of an NLB target group keeps them.
    let http = effective_health_check(&TargetGroupSpec {
        health_check_config: Some(HealthCheckConfig {
            protocol: Some(Protocol::Http),
            ..hc.clone()
        }),
        ..spec.clone()
    })
    .unwrap();
    assert_eq!(http.path.as_deref(), Some("/"));
    assert!(http.matcher.is_some());
    // An HTTP target group's default health check is HTTP.
    let alb = effective_health_check(&TargetGroupSpec {
        protocol: Protocol::Http,
        health_check_config: Some(HealthCheckConfig {
            protocol: None,
            ..hc
        }),
        ..spec
    })
    .unwrap();
    assert_eq!(alb.path.as_deref(), Some("/"));
}
