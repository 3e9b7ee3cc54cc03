//! Unit tests of what the golden cases cannot reach through `plan` (existing load balancers,
//! Secrets, facts without a backend security group) and of robustness on odd input.

use std::collections::BTreeMap;

use contract::crd::IngressClassParamsSpec;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;

use super::*;
use crate::subnets::Subnet;

fn ingress(yaml: &str) -> Ingress {
    serde_yaml::from_str(yaml).expect("valid Ingress yaml")
}

fn service(namespace: &str, name: &str, node_port: i32) -> Service {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]}
    }))
    .expect("valid Service")
}

fn subnet(id: &str, az: &str, role: &str) -> Subnet {
    Subnet {
        id: id.to_owned(),
        az: az.to_owned(),
        az_id: None,
        vpc_id: "vpc-1".to_owned(),
        available_ips: 100,
        tags: BTreeMap::from([(role.to_owned(), "1".to_owned())]),
        ipv6_cidrs: Vec::new(),
        cidr: None,
        locale: Default::default(),
    }
}

fn facts() -> ClusterFacts {
    let mut facts = ClusterFacts::new("c", "vpc-1");
    facts.backend_security_group = Some("sg-backend".to_owned());
    facts.subnets = vec![
        subnet("subnet-i1", "az-1", "kubernetes.io/role/internal-elb"),
        subnet("subnet-i2", "az-2", "kubernetes.io/role/internal-elb"),
        subnet("subnet-p1", "az-1", "kubernetes.io/role/elb"),
        subnet("subnet-p2", "az-2", "kubernetes.io/role/elb"),
    ];
    facts
}

const WEB: &str = r#"
metadata: {name: web, namespace: shop}
spec:
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#;

struct Fixture {
    facts: ClusterFacts,
    services: ObjectMap<Service>,
    secrets: ObjectMap<Secret>,
}

impl Fixture {
    fn new() -> Self {
        let mut services = ObjectMap::new();
        services.insert(
            ("shop".to_owned(), "web".to_owned()),
            service("shop", "web", 30080),
        );
        Self {
            facts: facts(),
            services,
            secrets: ObjectMap::new(),
        }
    }

    fn inputs<'a>(&'a self, members: &[&'a Ingress], group: GroupId) -> GroupInputs<'a> {
        GroupInputs {
            group,
            members: members
                .iter()
                .map(|ingress| Member {
                    ingress,
                    params: None,
                })
                .collect(),
            inactive_members: Vec::new(),
            services: &self.services,
            secrets: &self.secrets,
            facts: &self.facts,
            existing_lb: None,
        }
    }

    fn build(&self, yaml: &str) -> Result<Stack, BuildError> {
        let ing = ingress(yaml);
        build(&self.inputs(&[&ing], GroupId::implicit("shop", "web")))
    }
}

fn subnet_ids(stack: &Stack) -> Vec<String> {
    stack
        .resources
        .load_balancers
        .values()
        .flat_map(|lb| lb.spec.subnet_mappings.iter().map(|m| m.subnet_id.clone()))
        .collect()
}

#[test]
fn existing_load_balancer_subnets_are_kept_while_the_scheme_is_unchanged() {
    let fixture = Fixture::new();
    let ing = ingress(WEB);
    let mut inputs = fixture.inputs(&[&ing], GroupId::implicit("shop", "web"));
    inputs.existing_lb = Some(ExistingLoadBalancer {
        scheme: Scheme::Internal,
        subnet_ids: vec!["subnet-old2".to_owned(), "subnet-old1".to_owned()],
        security_groups: Vec::new(),
    });
    let stack = build(&inputs).expect("builds");
    assert_eq!(subnet_ids(&stack), ["subnet-old1", "subnet-old2"]);

    inputs.existing_lb = Some(ExistingLoadBalancer {
        scheme: Scheme::InternetFacing,
        subnet_ids: vec!["subnet-old1".to_owned()],
        security_groups: Vec::new(),
    });
    let stack = build(&inputs).expect("builds");
    assert_eq!(subnet_ids(&stack), ["subnet-i1", "subnet-i2"]);
}

#[test]
fn member_order_does_not_depend_on_input_order() {
    let fixture = Fixture::new();
    let a = ingress(
        r#"
metadata:
  name: a
  namespace: shop
  annotations: {alb.ingress.kubernetes.io/group.order: "2"}
spec:
  rules: [{http: {paths: [{path: /a, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}]}}]
"#,
    );
    let b = ingress(
        r#"
metadata: {name: b, namespace: shop}
spec:
  rules: [{http: {paths: [{path: /b, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}]}}]
"#,
    );
    let group = GroupId::explicit("g").expect("valid name");
    let forward = build(&fixture.inputs(&[&a, &b], group.clone())).expect("builds");
    let backward = build(&fixture.inputs(&[&b, &a], group)).expect("builds");
    assert_eq!(forward, backward);
    let first = forward
        .resources
        .listener_rules
        .get("80:1")
        .expect("first rule");
    let path = first
        .spec
        .conditions
        .first()
        .and_then(|c| c.path_pattern_config.clone());
    assert_eq!(path.map(|p| p.values), Some(vec!["/b".to_owned()]));
}

#[test]
fn no_members_means_an_empty_stack() {
    let fixture = Fixture::new();
    let stack = build(&fixture.inputs(&[], GroupId::implicit("shop", "web"))).expect("builds");
    assert!(stack.is_empty());
    assert_eq!(stack.id, "shop/web");
}

#[test]
fn unknown_backend_security_group_is_an_error() {
    let mut fixture = Fixture::new();
    fixture.facts.backend_security_group = None;
    let err = fixture.build(WEB).expect_err("no backend SG id");
    assert_eq!(err.category(), "security_group");
    assert!(err.to_string().contains("k8s-traffic-c-"), "{err}");
}

#[test]
fn bad_service_annotations_name_the_service_and_key() {
    let mut fixture = Fixture::new();
    let mut svc = service("shop", "web", 30080);
    svc.metadata.annotations = Some(BTreeMap::from([(
        "alb.ingress.kubernetes.io/backend-protocol".to_owned(),
        "TCP".to_owned(),
    )]));
    fixture
        .services
        .insert(("shop".to_owned(), "web".to_owned()), svc);
    let err = fixture
        .build(WEB)
        .expect_err("TCP is no ALB backend protocol");
    assert_eq!(err.category(), "annotation");
    assert_eq!(
        err.to_string(),
        "Ingress shop/web: Service shop/web: alb.ingress.kubernetes.io/backend-protocol: backend protocol must be within [HTTP, HTTPS]: TCP"
    );
}

const OIDC: &str = r#"
metadata:
  name: web
  namespace: shop
  annotations:
    alb.ingress.kubernetes.io/listen-ports: '[{"HTTPS": 443}]'
    alb.ingress.kubernetes.io/certificate-arn: arn:cert
    alb.ingress.kubernetes.io/auth-type: oidc
    alb.ingress.kubernetes.io/auth-idp-oidc: '{"issuer":"https://idp","authorizationEndpoint":"https://idp/auth","tokenEndpoint":"https://idp/token","userInfoEndpoint":"https://idp/user","secretName":"oidc"}'
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
"#;

#[test]
fn oidc_reads_the_secret_and_never_prints_it() {
    let mut fixture = Fixture::new();
    let err = fixture.build(OIDC).expect_err("no secret yet");
    assert_eq!(err.category(), "auth");
    assert!(
        err.to_string().contains("secrets \"oidc\" not found"),
        "{err}"
    );

    let secret = Secret {
        data: Some(BTreeMap::from([
            ("clientId".to_owned(), ByteString(b"my-client\n".to_vec())),
            ("clientSecret".to_owned(), ByteString(b"s3cr3t".to_vec())),
        ])),
        ..Secret::default()
    };
    fixture
        .secrets
        .insert(("shop".to_owned(), "oidc".to_owned()), secret);
    let stack = fixture.build(OIDC).expect("builds");
    let listener = stack
        .resources
        .listeners
        .get("443")
        .expect("HTTPS listener");
    let auth = listener
        .spec
        .default_actions
        .first()
        .and_then(|a| a.authenticate_oidc_config.clone())
        .expect("authenticate first");
    assert_eq!(auth.client_id, "my-client");
    assert_eq!(auth.client_secret, "s3cr3t");
    let json = stack.to_json_pretty().expect("serialises");
    assert!(
        !json.contains("s3cr3t") && !json.contains("my-client"),
        "{json}"
    );
}

#[test]
fn odd_ingresses_yield_errors_not_panics() {
    let fixture = Fixture::new();
    let cases = [
        ("metadata: {}\n", None),
        ("metadata: {name: web}\nspec: {}\n", None),
        (
            "metadata: {name: web, namespace: shop}\nspec:\n  defaultBackend: {resource: {kind: Bucket, name: b}}\n",
            Some("rule"),
        ),
        (
            "metadata: {name: web, namespace: shop}\nspec:\n  rules: [{http: {paths: [{pathType: Wild, backend: {service: {name: web}}}]}}]\n",
            Some("rule"),
        ),
        (
            "metadata: {name: web, namespace: shop}\nspec:\n  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web}}}]}}]\n",
            Some("service"),
        ),
        (
            "metadata: {name: web, namespace: shop}\nspec:\n  rules: [{host: '', http: {paths: []}}]\n",
            None,
        ),
    ];
    for (yaml, want) in cases {
        match (fixture.build(yaml), want) {
            (Ok(_), None) => {}
            (Err(e), Some(category)) => assert_eq!(e.category(), category, "{yaml}: {e}"),
            (got, want) => panic!("{yaml}: got {got:?}, want error category {want:?}"),
        }
    }
}

#[test]
fn non_integer_ssl_redirect_in_params_disables_the_redirect() {
    let fixture = Fixture::new();
    let ing = ingress(
        r#"
metadata:
  name: web
  namespace: shop
  annotations:
    alb.ingress.kubernetes.io/listen-ports: '[{"HTTP": 80}, {"HTTPS": 443}]'
    alb.ingress.kubernetes.io/certificate-arn: arn:cert
    alb.ingress.kubernetes.io/ssl-redirect: "443"
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
"#,
    );
    let params = IngressClassParamsSpec {
        ssl_redirect_port: Some("https".to_owned()),
        ..IngressClassParamsSpec::default()
    };
    let mut inputs = fixture.inputs(&[&ing], GroupId::implicit("shop", "web"));
    let default_action = |stack: &Stack| {
        stack
            .resources
            .listeners
            .get("80")
            .and_then(|l| l.spec.default_actions.first())
            .map(|a| a.action_type)
    };
    let redirected = build(&inputs).expect("builds");
    assert_eq!(
        default_action(&redirected),
        Some(crate::stack::ActionType::Redirect)
    );
    inputs.members = vec![Member {
        ingress: &ing,
        params: Some(&params),
    }];
    let stack = build(&inputs).expect("builds");
    assert_eq!(
        default_action(&stack),
        Some(crate::stack::ActionType::Forward)
    );
}

#[test]
fn target_group_names_need_aws() {
    let fixture = Fixture::new();
    let err = fixture
        .build(
            r#"
metadata:
  name: web
  namespace: shop
  annotations:
    alb.ingress.kubernetes.io/actions.tg: '{"type":"forward","targetGroupName":"legacy"}'
spec:
  defaultBackend: {service: {name: tg, port: {name: use-annotation}}}
"#,
        )
        .expect_err("names need a lookup");
    assert_eq!(err.category(), "rule");
    assert!(err.to_string().contains("targetGroupName legacy"), "{err}");
}

#[test]
fn optimizer_keeps_rules_behind_redirects_with_other_conditions() {
    use super::rules::{Rule, optimize};
    use crate::stack::{Action, RedirectConfig, RuleCondition, ValuesConfig};
    let redirect = Action::redirect(RedirectConfig {
        host: Some("new.example.com".to_owned()),
        path: None,
        port: None,
        protocol: None,
        query: None,
        status_code: "HTTP_302".to_owned(),
    });
    let rule = |conditions: Vec<RuleCondition>, action: Action| Rule {
        conditions,
        actions: vec![action],
        transforms: Vec::new(),
        tags: None,
    };
    let all = || RuleCondition::path_pattern(ValuesConfig::values(["/*"]));
    let by_method = RuleCondition::http_request_method(ValuesConfig::values(["POST"]));
    let fixed = Action::fixed_response(crate::stack::FixedResponseConfig {
        content_type: None,
        message_body: None,
        status_code: "200".to_owned(),
    });
    // A redirect with a method condition does not cover the next rule.
    let kept = optimize(
        80,
        crate::stack::Protocol::Http,
        vec![
            rule(vec![by_method, all()], redirect.clone()),
            rule(vec![all()], fixed.clone()),
        ],
    );
    assert_eq!(kept.len(), 2);
    // A redirect on /* covers every later rule.
    let kept = optimize(
        80,
        crate::stack::Protocol::Http,
        vec![rule(vec![all()], redirect), rule(vec![all()], fixed)],
    );
    assert_eq!(kept.len(), 1);
}

/// `web` with extra annotations and an HTTP listener on 80 and 8080.
fn web_with(annotations: &[(&str, &str)]) -> String {
    let mut yaml = String::from(
        "metadata:\n  name: web\n  namespace: shop\n  annotations:\n    alb.ingress.kubernetes.io/listen-ports: '[{\"HTTP\": 80}, {\"HTTP\": 8080}]'\n",
    );
    for (key, value) in annotations {
        yaml.push_str(&format!("    alb.ingress.kubernetes.io/{key}: '{value}'\n"));
    }
    yaml.push_str(
        "spec:\n  rules:\n    - http:\n        paths:\n          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n",
    );
    yaml
}

#[test]
fn the_frontend_nlb_fronts_every_alb_listener_with_an_alb_target_group() {
    let fixture = Fixture::new();
    let stack = fixture
        .build(&web_with(&[
            ("enable-frontend-nlb", "true"),
            ("frontend-nlb-scheme", "internet-facing"),
        ]))
        .unwrap();
    let alb = &stack.resources.load_balancers["LoadBalancer"].spec;
    let nlb = &stack.resources.load_balancers["FrontendNlb"].spec;
    assert_eq!(nlb.name, format!("{}-nlb", alb.name));
    assert_eq!(
        nlb.load_balancer_type,
        crate::stack::LoadBalancerType::Network
    );
    assert_eq!(nlb.scheme, crate::stack::Scheme::InternetFacing);
    // Its own scheme's subnets (the ALB stays internal), the ALB's security groups.
    let subnets: Vec<&str> = nlb
        .subnet_mappings
        .iter()
        .map(|m| m.subnet_id.as_str())
        .collect();
    assert_eq!(subnets, ["subnet-p1", "subnet-p2"]);
    assert_eq!(alb.scheme, crate::stack::Scheme::Internal);
    assert_eq!(nlb.security_groups, alb.security_groups);
    assert_eq!(nlb.tags["ingress.k8s.aws/resource"], "FrontendNlb");
    for port in [80_u16, 8080] {
        let listener = &stack.resources.listeners[&format!("FrontendNlb-ls-TCP-{port}")].spec;
        assert_eq!(
            (listener.port, listener.protocol),
            (port, crate::stack::Protocol::Tcp)
        );
        assert_eq!(
            listener.load_balancer_arn,
            StringToken::from(crate::stack::Ref::frontend_nlb_arn())
        );
        let tg = &stack.resources.target_groups[&format!("FrontendNlb-tg-TCP-{port}")].spec;
        assert_eq!(tg.target_type, crate::stack::TargetType::Alb);
        assert_eq!(
            (tg.port, tg.protocol),
            (i32::from(port), crate::stack::Protocol::Tcp)
        );
        assert_eq!(
            tg.alb_targets,
            [crate::stack::AlbTarget {
                load_balancer_arn: crate::stack::Ref::load_balancer_arn().into(),
                port
            }]
        );
        assert_eq!(
            serde_json::to_value(&tg.health_check_config).unwrap(),
            serde_json::json!({"port": "traffic-port", "protocol": "HTTP", "path": "/",
                "matcher": {"httpCode": "200"}, "intervalSeconds": 15, "timeoutSeconds": 5,
                "healthyThresholdCount": 2, "unhealthyThresholdCount": 2})
        );
        // The ALB's own listener on the same port is untouched.
        assert_eq!(
            stack.resources.listeners[&port.to_string()].spec.protocol,
            crate::stack::Protocol::Http
        );
    }
    assert!(stack.dangling_refs().unwrap().is_empty());
}

#[test]
fn the_frontend_nlb_port_mapping_health_check_and_conflicts() {
    let fixture = Fixture::new();
    let stack = fixture
        .build(&web_with(&[
            ("enable-frontend-nlb", "true"),
            ("frontend-nlb-listener-port-mapping", "9090=8080"),
            ("frontend-nlb-healthcheck-protocol", "HTTPS"),
            ("frontend-nlb-healthcheck-port", "8443"),
            ("frontend-nlb-healthcheck-success-codes", "200-299"),
        ]))
        .unwrap();
    let nlb_listeners: Vec<&str> = stack
        .resources
        .listeners
        .keys()
        .filter(|id| id.starts_with("FrontendNlb"))
        .map(String::as_str)
        .collect();
    assert_eq!(nlb_listeners, ["FrontendNlb-ls-TCP-9090"]);
    let tg = &stack.resources.target_groups["FrontendNlb-tg-TCP-9090"].spec;
    assert_eq!(tg.alb_targets[0].port, 8080);
    let hc = tg.health_check_config.as_ref().unwrap();
    assert_eq!(hc.protocol, Some(crate::stack::Protocol::Https));
    assert_eq!(
        hc.port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8443))
    );

    // Off, or absent: no NLB.
    let off = fixture
        .build(&web_with(&[("enable-frontend-nlb", "false")]))
        .unwrap();
    assert!(!off.resources.load_balancers.contains_key("FrontendNlb"));

    // Two members disagreeing.
    let a = ingress(&web_with(&[
        ("enable-frontend-nlb", "true"),
        ("group.name", "g"),
    ]));
    let mut b = ingress(&web_with(&[
        ("enable-frontend-nlb", "false"),
        ("group.name", "g"),
    ]));
    b.metadata.name = Some("other".into());
    let err = build(&fixture.inputs(&[&a, &b], GroupId::explicit("g").unwrap())).unwrap_err();
    assert!(
        err.to_string()
            .contains("conflicting enable frontend NLB values"),
        "{err}"
    );

    // EIPs on an internal NLB.
    let err = fixture
        .build(&web_with(&[
            ("enable-frontend-nlb", "true"),
            ("frontend-nlb-eip-allocations", "eipalloc-1,eipalloc-2"),
        ]))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("EIP allocations can only be set for internet facing load balancers"),
        "{err}"
    );
}
