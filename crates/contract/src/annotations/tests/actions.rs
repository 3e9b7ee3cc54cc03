use super::{ingress, ingress_error};
use crate::annotations::{
    Action, FixedResponseConfig, ForwardConfig, IntOrString, JwtClaim, JwtClaimFormat,
    JwtValidation, RedirectConfig, RewriteConfig, RewriteConfigObject, TargetGroupStickinessConfig,
    TargetGroupTuple, Transform,
};
use serde_json::json;

fn action(raw: &str) -> Action {
    ingress(&[("actions.svc", raw)])
        .actions
        .remove("svc")
        .expect("action present")
}

#[test]
fn documented_actions() {
    // YAML folded scalars (`>`) leave a trailing newline.
    let fixed = action(
        "{\"type\":\"fixed-response\",\"fixedResponseConfig\":{\"contentType\":\"text/plain\",\"statusCode\":\"503\",\"messageBody\":\"503 error text\"}}\n",
    );
    assert_eq!(
        fixed,
        Action::FixedResponse(FixedResponseConfig {
            content_type: Some("text/plain".to_owned()),
            message_body: Some("503 error text".to_owned()),
            status_code: "503".to_owned(),
        })
    );

    let redirect = action(
        r#"{"type":"redirect","redirectConfig":{"host":"aws.amazon.com","path":"/eks/","port":"443","protocol":"HTTPS","query":"k=v","statusCode":"HTTP_302"}}"#,
    );
    assert_eq!(
        redirect,
        Action::Redirect(RedirectConfig {
            host: Some("aws.amazon.com".to_owned()),
            path: Some("/eks/".to_owned()),
            port: Some("443".to_owned()),
            protocol: Some("HTTPS".to_owned()),
            query: Some("k=v".to_owned()),
            status_code: "HTTP_302".to_owned(),
        })
    );

    let single = action(r#"{"type":"forward","targetGroupARN": "arn-of-your-target-group"}"#);
    assert_eq!(
        single,
        Action::Forward(ForwardConfig {
            target_groups: vec![TargetGroupTuple {
                target_group_arn: Some("arn-of-your-target-group".to_owned()),
                ..TargetGroupTuple::default()
            }],
            target_group_stickiness_config: None,
        })
    );

    let multiple = action(
        r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"service-1","servicePort":"http","weight":20},{"serviceName":"service-2","servicePort":80,"weight":20},{"targetGroupARN":"arn-of-your-non-k8s-target-group","weight":60}],"targetGroupStickinessConfig":{"enabled":true,"durationSeconds":200}}}"#,
    );
    let Action::Forward(config) = multiple else {
        panic!("forward expected")
    };
    assert_eq!(config.target_groups.len(), 3);
    assert_eq!(
        config.target_groups[0].service_port,
        Some(IntOrString::String("http".to_owned()))
    );
    assert_eq!(
        config.target_groups[1].service_port,
        Some(IntOrString::Int(80))
    );
    assert_eq!(config.target_groups[2].weight, Some(60));
    assert_eq!(
        config.target_group_stickiness_config,
        Some(TargetGroupStickinessConfig {
            enabled: Some(true),
            duration_seconds: Some(200)
        })
    );
}

#[test]
fn legacy_capitalised_ssl_redirect_action() {
    let got = action(
        r#"{"Type": "redirect", "RedirectConfig": { "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}"#,
    );
    assert_eq!(
        got,
        Action::Redirect(RedirectConfig {
            protocol: Some("HTTPS".to_owned()),
            port: Some("443".to_owned()),
            status_code: "HTTP_301".to_owned(),
            ..RedirectConfig::default()
        })
    );
}

#[test]
fn numeric_service_port_strings_are_normalised() {
    let got = action(
        r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"s","servicePort":"8080"}]}}"#,
    );
    let Action::Forward(config) = got else {
        panic!("forward expected")
    };
    assert_eq!(
        config.target_groups[0].service_port,
        Some(IntOrString::Int(8080))
    );
}

#[test]
fn action_errors() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"type":"fixed-response"}"#,
            "missing FixedResponseConfig",
        ),
        (
            r#"{"type":"fixed-response","fixedResponseConfig":{}}"#,
            "invalid FixedResponseConfig: statusCode is required",
        ),
        (
            r#"{"type":"fixed-response","fixedResponseConfig":{"statusCode":"302"}}"#,
            "invalid FixedResponseConfig: statusCode must be a 2XX, 4XX or 5XX code: 302",
        ),
        (r#"{"type":"redirect"}"#, "missing RedirectConfig"),
        (
            r#"{"type":"redirect","redirectConfig":{"host":"x"}}"#,
            "invalid RedirectConfig: statusCode is required",
        ),
        (
            r#"{"type":"redirect","redirectConfig":{"statusCode":"301"}}"#,
            "invalid RedirectConfig: statusCode must be HTTP_301 or HTTP_302: 301",
        ),
        (
            r#"{"type":"forward"}"#,
            "missing ForwardConfig or TargetGroupARN/TargetGroupName",
        ),
        (
            r#"{"type":"forward","targetGroupName":"tg","forwardConfig":{"targetGroups":[{"targetGroupARN":"a"}]}}"#,
            "either ForwardConfig or TargetGroupARN/TargetGroupName can be specified",
        ),
        (
            r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80},{"serviceName":"b","servicePort":80,"weight":1}]}}"#,
            "invalid ForwardConfig: weight must be set when route to multiple target groups",
        ),
        (
            r#"{"type":"forward","forwardConfig":{"targetGroups":[{"weight":1}]}}"#,
            "invalid ForwardConfig: invalid TargetGroupTuple: missing serviceName or targetGroupARN/targetGroupName",
        ),
        (
            r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","targetGroupARN":"b"}]}}"#,
            "invalid ForwardConfig: invalid TargetGroupTuple: either serviceName or targetGroupARN/targetGroupName can be specified",
        ),
        (
            r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a"}]}}"#,
            "invalid ForwardConfig: invalid TargetGroupTuple: missing servicePort",
        ),
        (
            r#"{"type":"forward","forwardConfig":{}}"#,
            "invalid ForwardConfig: targetGroups cannot be empty",
        ),
        (
            r#"{"type":"authenticate-oidc"}"#,
            "unknown action type: authenticate-oidc",
        ),
        ("{}", "unknown action type: "),
        ("null", "unknown action type: "),
    ];
    for (raw, want) in cases {
        assert_eq!(ingress_error("actions.svc", raw), *want, "{raw}");
    }
    assert!(ingress_error("actions.svc", "{not json").starts_with("invalid JSON: "));
    assert!(ingress_error("actions.svc", r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80.5}]}}"#).starts_with("invalid JSON: "));
    assert_eq!(
        ingress_error("actions.", r#"{"type":"redirect"}"#),
        "the annotation key must end with a name after the '.'"
    );
}

#[test]
fn actions_serialise_like_the_annotation() {
    let got = action(
        r#"{"Type":"redirect","RedirectConfig":{"Protocol":"HTTPS","StatusCode":"HTTP_301"}}"#,
    );
    assert_eq!(
        serde_json::to_value(&got).expect("ser"),
        json!({"type": "redirect", "redirectConfig": {"protocol": "HTTPS", "statusCode": "HTTP_301"}})
    );
    let fwd = action(r#"{"type":"forward","targetGroupName":"tg"}"#);
    assert_eq!(
        serde_json::to_value(&fwd).expect("ser"),
        json!({"type": "forward", "forwardConfig": {"targetGroups": [{"targetGroupName": "tg"}]}})
    );
}

#[test]
fn transforms() {
    let got = ingress(&[(
        "transforms.svc",
        r#"[{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"^/api/(.*)$","replace":"/$1"}]}},{"Type":"host-header-rewrite","HostHeaderRewriteConfig":{"Rewrites":[{"Regex":"a","Replace":"b"}]}}]"#,
    )])
    .transforms
    .remove("svc")
    .expect("present");
    assert_eq!(
        got,
        vec![
            Transform::UrlRewrite(RewriteConfigObject {
                rewrites: vec![RewriteConfig {
                    regex: "^/api/(.*)$".to_owned(),
                    replace: "/$1".to_owned()
                }],
            }),
            Transform::HostHeaderRewrite(RewriteConfigObject {
                rewrites: vec![RewriteConfig {
                    regex: "a".to_owned(),
                    replace: "b".to_owned()
                }],
            }),
        ]
    );
    assert_eq!(
        serde_json::to_value(&got[1]).expect("ser")["type"],
        "host-header-rewrite"
    );
    let cases: &[(&str, &str)] = &[
        (r#"[{"type":"url-rewrite"}]"#, "missing urlRewriteConfig"),
        (
            r#"[{"type":"host-header-rewrite"}]"#,
            "missing hostHeaderRewriteConfig",
        ),
        (
            r#"[{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[]}}]"#,
            "urlRewriteConfig.rewrites cannot be empty",
        ),
        (
            r#"[{"type":"path-rewrite"}]"#,
            "unknown transform type: path-rewrite",
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(ingress_error("transforms.svc", raw), *want, "{raw}");
    }
}

#[test]
fn jwt_validation() {
    let raw = r#"{"jwksEndpoint":"https://example-endpoint.com","issuer":"https://example-issuer.com","additionalClaims":[{"name":"admin","format":"single-string","values":["true"]},{"name":"ver","format":"string-array","values":["6","19"]},{"name":"scope","format":"space-separated-values","values":["read:api","write","email"]}]}"#;
    let got = ingress(&[("jwt-validation", raw)])
        .jwt_validation
        .expect("present");
    assert_eq!(got.jwks_endpoint, "https://example-endpoint.com");
    assert_eq!(got.issuer, "https://example-issuer.com");
    assert_eq!(
        got.additional_claims[1],
        JwtClaim {
            format: JwtClaimFormat::StringArray,
            name: "ver".to_owned(),
            values: vec!["6".to_owned(), "19".to_owned()]
        }
    );
    assert_eq!(
        got.additional_claims[2].format,
        JwtClaimFormat::SpaceSeparatedValues
    );
    let basic = ingress(&[(
        "jwt-validation",
        r#"{"JwksEndpoint":"https://e/jwks","Issuer":"https://e"}"#,
    )]);
    assert_eq!(
        basic.jwt_validation,
        Some(JwtValidation {
            jwks_endpoint: "https://e/jwks".to_owned(),
            issuer: "https://e".to_owned(),
            additional_claims: vec![]
        })
    );
    let cases: &[(&str, &str)] = &[
        (
            r#"{"issuer":"i"}"#,
            "jwksEndpoint is a required field for jwt validation",
        ),
        (
            r#"{"jwksEndpoint":"j"}"#,
            "issuer is a required field for jwt validation",
        ),
        (
            r#"{"jwksEndpoint":"j","issuer":"i","additionalClaims":[{"name":"a","values":["x"]}]}"#,
            "format is a required field for jwt validation additional claims",
        ),
        (
            r#"{"jwksEndpoint":"j","issuer":"i","additionalClaims":[{"format":"single-string","values":["x"]}]}"#,
            "name is a required field for jwt validation additional claims",
        ),
        (
            r#"{"jwksEndpoint":"j","issuer":"i","additionalClaims":[{"name":"a","format":"single-string","values":[]}]}"#,
            "values must not be empty for jwt validation additional claim a",
        ),
        (
            r#"{"jwksEndpoint":"j","issuer":"i","additionalClaims":[{"name":"a","format":"csv","values":["x"]}]}"#,
            "unknown claim format \"csv\", want single-string, string-array or space-separated-values for jwt validation additional claim a",
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(ingress_error("jwt-validation", raw), *want, "{raw}");
    }
    assert!(ingress_error("jwt-validation", "{invalid json}").starts_with("invalid JSON: "));
}
