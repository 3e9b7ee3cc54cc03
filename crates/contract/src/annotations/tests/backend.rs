use super::{ann, backend, backend_error};
use crate::annotations::{
    Annotations, AuthConfig, AuthIdp, AuthIdpCognito, AuthType, BackendAnnotations,
    HealthCheckPort, JwtValidation, OnUnauthenticatedRequest, Protocol, ProtocolVersion,
    ServicePortKey, TargetType, check_jwt_and_auth,
};

#[test]
fn target_group_settings() {
    let got = backend(
        &[],
        &[
            ("target-type", "ip"),
            ("target-node-labels", "label1=value1, label2=value2"),
            ("backend-protocol", "HTTPS"),
            ("backend-protocol-version", "GRPC"),
            (
                "target-group-attributes",
                "stickiness.enabled=true,stickiness.lb_cookie.duration_seconds=60",
            ),
            ("healthcheck-port", "my-port"),
            ("healthcheck-protocol", "HTTPS"),
            ("healthcheck-path", "/package.service/method"),
            ("healthcheck-interval-seconds", "10"),
            ("healthcheck-timeout-seconds", "8"),
            ("healthy-threshold-count", "2"),
            ("unhealthy-threshold-count", "3"),
            ("success-codes", "0-99"),
            ("multi-cluster-target-group", "true"),
            ("target-control-port.my-svc.80", "3000"),
        ],
    );
    assert_eq!(got.target_type, Some(TargetType::Ip));
    assert_eq!(got.target_node_labels.as_ref().map(|l| l.len()), Some(2));
    assert_eq!(got.backend_protocol, Some(Protocol::Https));
    assert_eq!(got.backend_protocol_version, Some(ProtocolVersion::Grpc));
    assert_eq!(
        got.target_group_attributes.as_ref().map(|l| l.len()),
        Some(2)
    );
    assert_eq!(
        got.healthcheck_port,
        Some(HealthCheckPort::Named("my-port".to_owned()))
    );
    assert_eq!(got.healthcheck_protocol, Some(Protocol::Https));
    assert_eq!(
        got.healthcheck_path.as_deref(),
        Some("/package.service/method")
    );
    assert_eq!(
        (
            got.healthcheck_interval_seconds,
            got.healthcheck_timeout_seconds,
            got.healthy_threshold_count,
            got.unhealthy_threshold_count
        ),
        (Some(10), Some(8), Some(2), Some(3))
    );
    assert_eq!(got.success_codes.as_deref(), Some("0-99"));
    assert_eq!(got.multi_cluster_target_group, Some(true));
    assert_eq!(got.target_control_port("my-svc", 80), Some(3000));
    assert_eq!(got.target_control_port("my-svc", 81), None);
    let json = serde_json::to_value(&got).expect("ser");
    assert_eq!(json["targetControlPorts"]["my-svc.80"], 3000);
    assert_eq!(json["healthcheckPort"], "my-port");
}

#[test]
fn service_wins_per_key() {
    let got = backend(
        &[
            ("target-type", "ip"),
            ("healthcheck-path", "/svc"),
            ("auth-type", "none"),
        ],
        &[
            ("target-type", "instance"),
            ("healthcheck-path", "/ing"),
            ("backend-protocol", "HTTPS"),
            ("auth-type", "cognito"),
        ],
    );
    assert_eq!(got.target_type, Some(TargetType::Ip));
    assert_eq!(got.healthcheck_path.as_deref(), Some("/svc"));
    assert_eq!(got.backend_protocol, Some(Protocol::Https));
    assert_eq!(got.auth_type, Some(AuthType::None));

    // a bad Ingress value hidden by the Service's value is not an error...
    let hidden = BackendAnnotations::parse(
        &ann(&[("target-type", "ip")]),
        &ann(&[("target-type", "pod")]),
    );
    assert_eq!(hidden.map(|b| b.target_type), Ok(Some(TargetType::Ip)));
    // ...but a bad Service value is, even when the Ingress's is fine
    let errors = BackendAnnotations::parse(
        &ann(&[("target-type", "pod")]),
        &ann(&[("target-type", "ip")]),
    )
    .expect_err("invalid");
    assert_eq!(
        errors[0].to_string(),
        "alb.ingress.kubernetes.io/target-type: unknown targetType \"pod\", want instance or ip"
    );
    // Service keys outside the prefix do not leak in; Ingress-level keys are not read here
    let svc: Annotations = [("other/target-type".to_owned(), "x".to_owned())].into();
    assert_eq!(
        BackendAnnotations::parse(&svc, &ann(&[("scheme", "bogus")])),
        Ok(BackendAnnotations::default())
    );
}

#[test]
fn tags_for_target_groups() {
    let got = backend(&[("tags", "Team=svc")], &[("tags", "Team=ing,Env=dev")]);
    assert_eq!(got.tags.as_ref().map(|t| t.len()), Some(1));
    assert_eq!(
        backend_error("tags", "elbv2.k8s.aws/cluster=x"),
        "tag key \"elbv2.k8s.aws/cluster\" is reserved for the controller"
    );
}

#[test]
fn auth_settings() {
    let got = backend(
        &[],
        &[
            ("auth-type", "cognito"),
            (
                "auth-idp-cognito",
                r#"{"userPoolARN":"arn:aws:cognito-idp:us-west-2:xxx:userpool/xxx","userPoolClientID":"my-clientID","userPoolDomain":"my-domain"}"#,
            ),
            (
                "auth-idp-oidc",
                r#"{"Issuer":"https://example.com","AuthorizationEndpoint":"https://authorization.example.com","TokenEndpoint":"https://token.example.com","UserInfoEndpoint":"https://userinfo.example.com","SecretName":"my-k8s-secret","authenticationRequestExtraParams":{"Display":"page"}}"#,
            ),
            ("auth-on-unauthenticated-request", "authenticate"),
            ("auth-scope", "email openid"),
            ("auth-session-cookie", "custom-cookie"),
            ("auth-session-timeout", "86400"),
        ],
    );
    assert_eq!(got.auth_type, Some(AuthType::Cognito));
    assert_eq!(
        got.auth_idp_cognito,
        Some(AuthIdpCognito {
            user_pool_arn: "arn:aws:cognito-idp:us-west-2:xxx:userpool/xxx".to_owned(),
            user_pool_client_id: "my-clientID".to_owned(),
            user_pool_domain: "my-domain".to_owned(),
            authentication_request_extra_params: None,
        })
    );
    let oidc = got.auth_idp_oidc.as_ref().expect("oidc");
    assert_eq!(oidc.secret_name, "my-k8s-secret");
    assert_eq!(
        oidc.authentication_request_extra_params
            .as_ref()
            .and_then(|p| p.get("Display"))
            .map(String::as_str),
        Some("page")
    );
    assert_eq!(
        got.auth_on_unauthenticated_request,
        Some(OnUnauthenticatedRequest::Authenticate)
    );
    assert_eq!(got.auth_scope.as_deref(), Some("email openid"));
    assert_eq!(got.auth_session_cookie.as_deref(), Some("custom-cookie"));
    assert_eq!(got.auth_session_timeout, Some(86400));
    assert_eq!(
        serde_json::to_value(&got).expect("ser")["authIdpCognito"]["userPoolClientID"],
        "my-clientID"
    );
}

#[test]
fn backend_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "target-type",
            "pod",
            "unknown targetType \"pod\", want instance or ip",
        ),
        (
            "backend-protocol",
            "http",
            "backend protocol must be within [HTTP, HTTPS]: http",
        ),
        (
            "backend-protocol-version",
            "HTTP3",
            "backend protocol version must be within [HTTP1, HTTP2, GRPC]: HTTP3",
        ),
        (
            "healthcheck-protocol",
            "TCP",
            "healthCheckProtocol must be within [HTTP, HTTPS]: TCP",
        ),
        (
            "healthcheck-port",
            "0",
            "health check port must be within [1, 65535]: 0",
        ),
        (
            "healthcheck-port",
            "70000",
            "health check port must be within [1, 65535]: 70000",
        ),
        (
            "healthcheck-port",
            "My_Port",
            "invalid health check port \"My_Port\", want traffic-port, a port number or a Service port name",
        ),
        (
            "healthcheck-port",
            "-port",
            "invalid health check port \"-port\", want traffic-port, a port number or a Service port name",
        ),
        (
            "healthcheck-interval-seconds",
            "10s",
            "cannot parse \"10s\" as an int32: invalid syntax",
        ),
        (
            "success-codes",
            "200-",
            "invalid success codes \"200-\", want codes or ranges such as 200, 200,202 or 200-299 (GRPC: 0-99)",
        ),
        (
            "success-codes",
            "299-200",
            "invalid success codes \"299-200\", want codes or ranges such as 200, 200,202 or 200-299 (GRPC: 0-99)",
        ),
        (
            "success-codes",
            "OK",
            "invalid success codes \"OK\", want codes or ranges such as 200, 200,202 or 200-299 (GRPC: 0-99)",
        ),
        (
            "success-codes",
            "",
            "invalid success codes \"\", want codes or ranges such as 200, 200,202 or 200-299 (GRPC: 0-99)",
        ),
        (
            "multi-cluster-target-group",
            "maybe",
            "cannot parse \"maybe\" as a bool, want one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False",
        ),
        (
            "target-control-port.svc.80",
            "0",
            "target control port must be within [1, 65535]: 0",
        ),
        (
            "target-control-port.svc",
            "3000",
            "target control port key must be target-control-port.<service-name>.<port>, got target-control-port.svc",
        ),
        (
            "target-control-port.svc.http",
            "3000",
            "target control port key must be target-control-port.<service-name>.<port>, got target-control-port.svc.http",
        ),
        (
            "target-control-port..80",
            "3000",
            "target control port key must be target-control-port.<service-name>.<port>, got target-control-port..80",
        ),
        (
            "auth-type",
            "saml",
            "unknown authType \"saml\", want none, oidc or cognito",
        ),
        (
            "auth-on-unauthenticated-request",
            "redirect",
            "unknown auth-on-unauthenticated-request \"redirect\", want authenticate, allow or deny",
        ),
        (
            "auth-idp-cognito",
            r#"{"userPoolARN":"a","userPoolDomain":"d"}"#,
            "userPoolClientID is required",
        ),
        (
            "auth-idp-oidc",
            r#"{"issuer":"i","authorizationEndpoint":"a","tokenEndpoint":"t","userInfoEndpoint":"u"}"#,
            "secretName is required",
        ),
        (
            "auth-session-timeout",
            "1d",
            "cannot parse \"1d\" as an int64: invalid syntax",
        ),
    ];
    for (suffix, raw, want) in cases {
        assert_eq!(backend_error(suffix, raw), *want, "{suffix}={raw}");
    }
    for ok in [
        "traffic-port",
        "80",
        "65535",
        "http",
        "h2c-port",
        "a-very-long-port-name",
    ] {
        assert!(
            backend(&[], &[("healthcheck-port", ok)])
                .healthcheck_port
                .is_some(),
            "{ok}"
        );
    }
    for ok in ["200", "200,202", "200-299", "0-99", "12", " 200 , 201-204 "] {
        assert!(
            backend(&[], &[("success-codes", ok)])
                .success_codes
                .is_some(),
            "{ok}"
        );
    }
    assert_eq!(
        ServicePortKey {
            service: "s".to_owned(),
            port: 8
        }
        .to_string(),
        "s.8"
    );
}

#[test]
fn resolved_auth_config() {
    assert_eq!(backend(&[], &[]).auth(), Ok(None));
    assert_eq!(
        backend(&[], &[("auth-type", "none"), ("auth-scope", "x")]).auth(),
        Ok(None)
    );
    let cognito = r#"{"userPoolARN":"arn","userPoolClientID":"id","userPoolDomain":"d"}"#;
    let got = backend(
        &[("auth-session-timeout", "60")],
        &[("auth-type", "cognito"), ("auth-idp-cognito", cognito)],
    )
    .auth()
    .expect("valid")
    .expect("configured");
    assert_eq!(
        got,
        AuthConfig {
            idp: AuthIdp::Cognito(AuthIdpCognito {
                user_pool_arn: "arn".to_owned(),
                user_pool_client_id: "id".to_owned(),
                user_pool_domain: "d".to_owned(),
                authentication_request_extra_params: None,
            }),
            on_unauthenticated_request: OnUnauthenticatedRequest::Authenticate,
            scope: "openid".to_owned(),
            session_cookie: "AWSELBAuthSessionCookie".to_owned(),
            session_timeout: 60,
        }
    );
    let missing = backend(&[], &[("auth-type", "oidc")])
        .auth()
        .expect_err("idp missing");
    assert_eq!(
        missing.to_string(),
        "alb.ingress.kubernetes.io/auth-idp-oidc: required when auth-type is oidc"
    );

    let jwt = JwtValidation {
        jwks_endpoint: "j".to_owned(),
        issuer: "i".to_owned(),
        additional_claims: vec![],
    };
    assert_eq!(check_jwt_and_auth(Some(&jwt), None), Ok(()));
    assert_eq!(check_jwt_and_auth(None, Some(&got)), Ok(()));
    assert_eq!(
        check_jwt_and_auth(Some(&jwt), Some(&got)),
        Err("authentication and jwt validation can't both be configured".to_owned())
    );
}
