//! The offline admission path (`check`, `make run`) over the bundled examples: the same verdicts
//! the webhook gives.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use aws_load_balancer_controller::admit::admit_all;
use aws_load_balancer_controller::cli::{Cli, Command};
use clap::Parser as _;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn controller_args() -> aws_load_balancer_controller::cli::ControllerArgs {
    let cli = Cli::try_parse_from(["alb", "check", "-f", "x"]).unwrap();
    match cli.command {
        Command::Check(args) => args.controller,
        _ => unreachable!("parsed a check command"),
    }
}

#[tokio::test]
async fn examples_pass_and_the_bad_one_is_refused_with_every_reason() {
    let manifests = aws_load_balancer_controller::manifests::load(&[examples()]).unwrap();
    assert_eq!(manifests.ingresses.len(), 3);
    let verdicts = admit_all(&manifests, &controller_args()).await;
    for (name, verdict) in &verdicts {
        if name == "Ingress shop/broken" {
            assert!(!verdict.allowed);
            let message = verdict.message.as_deref().unwrap();
            assert!(message.starts_with("Ingress shop/broken: "), "{message}");
            for needle in [
                "alb.ingress.kubernetes.io/scheme: unknown scheme \"public\"",
                "listen port must be within [1, 65535]: 70000",
                "missing RedirectConfig",
            ] {
                assert!(message.contains(needle), "{needle} missing from {message}");
            }
            assert!(
                verdict
                    .warnings
                    .iter()
                    .any(|w| w.contains("healthcheck-interval-secs")),
                "{:?}",
                verdict.warnings
            );
        } else {
            assert!(verdict.allowed, "{name}: {:?}", verdict.message);
        }
    }
    assert!(verdicts.iter().any(|(n, _)| n == "IngressClassParams alb"));
}

#[tokio::test]
async fn nothing_derived_is_written_into_the_object_offline() {
    let manifests = aws_load_balancer_controller::manifests::load(&[examples()]).unwrap();
    let verdicts = admit_all(&manifests, &controller_args()).await;
    let (_, storefront) = verdicts
        .iter()
        .find(|(n, _)| n == "Ingress shop/storefront")
        .unwrap();
    let annotations = &storefront.object["metadata"]["annotations"];
    // Explicit target-type kept; listen-ports, which the controller derives at every build
    // (HTTPS:443 once a certificate is added), is not frozen into the object.
    assert_eq!(
        annotations["alb.ingress.kubernetes.io/target-type"],
        "instance"
    );
    assert!(
        annotations
            .get("alb.ingress.kubernetes.io/listen-ports")
            .is_none(),
        "{annotations}"
    );
}

#[tokio::test]
async fn namespace_selector_is_enforced_offline() {
    let mut manifests = aws_load_balancer_controller::manifests::load(&[examples()]).unwrap();
    // The ICP selects namespaces labelled elbv2.k8s.aws/ingress=enabled; move one Ingress out.
    manifests.ingresses[0].metadata.namespace = Some("elsewhere".to_string());
    let verdicts = admit_all(&manifests, &controller_args()).await;
    let denied: Vec<_> = verdicts
        .iter()
        .filter(|(n, _)| n.starts_with("Ingress elsewhere/"))
        .collect();
    assert_eq!(denied.len(), 1);
    assert!(
        denied[0]
            .1
            .message
            .as_deref()
            .unwrap()
            .contains("namespaceSelector of IngressClassParams alb mismatch")
    );
}

#[test]
fn the_examples_plan_one_alb_for_the_shop_group_and_one_nlb_for_echo() {
    let manifests = aws_load_balancer_controller::manifests::load(&[examples()]).unwrap();
    let mut good = manifests.clone();
    good.ingresses
        .retain(|i| i.metadata.name.as_deref() != Some("broken"));
    let base = model::ClusterFacts::new("", "");
    let facts = model::facts::overlay(&base, &manifests.cluster_facts).unwrap();
    let stacks = model::plan::plan(&good, &facts).unwrap();
    assert_eq!(stacks.len(), 2);
    assert_eq!(stacks[0].id, "shop");
    assert_eq!(
        (stacks[1].kind, stacks[1].id.as_str()),
        (model::stack::StackKind::Service, "shop/echo")
    );
    let table = aws_load_balancer_controller::plan_output::table(&stacks);
    assert!(
        table.starts_with("IngressGroup shop (9 resources)\n"),
        "{table}"
    );
    // The api Ingress has group.order 5, so its rule comes first.
    let rules: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("ListenerRule"))
        .collect();
    assert_eq!(rules.len(), 2);
    assert!(
        rules[0].contains("priority 1") && rules[0].contains("/api"),
        "{table}"
    );
    assert!(
        table.contains("internet-facing"),
        "the IngressClassParams scheme applies: {table}"
    );
    let nlb = table
        .split("\n\n")
        .find(|block| block.starts_with("Service shop/echo (5 resources)"))
        .unwrap_or_else(|| panic!("no NLB block: {table}"));
    assert!(nlb.contains("network internet-facing"), "{nlb}");
    assert!(nlb.contains("TCP 80 default: forward"), "{nlb}");
    assert!(nlb.contains("ip TCP:8080"), "{nlb}");
}

/// An Ingress on HTTPS:443 authenticating with OIDC (Secret `shop/oidc-client`), its class and
/// Service, and the cluster facts the build needs (subnets; the certificate is explicit).
const OIDC_INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: alb}
spec: {controller: ingress.k8s.aws/alb}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  ports: [{port: 80, nodePort: 30080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  annotations:
    alb.ingress.kubernetes.io/listen-ports: '[{"HTTPS": 443}]'
    alb.ingress.kubernetes.io/certificate-arn: arn:aws:acm:us-west-2:111122223333:certificate/one
    alb.ingress.kubernetes.io/auth-type: oidc
    alb.ingress.kubernetes.io/auth-idp-oidc: '{"issuer":"https://idp.example.com","authorizationEndpoint":"https://idp.example.com/auth","tokenEndpoint":"https://idp.example.com/token","userInfoEndpoint":"https://idp.example.com/userinfo","secretName":"oidc-client"}'
spec:
  ingressClassName: alb
  rules:
    - host: app.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: plan.elbv2.k8s.aws/v1
kind: ClusterFacts
clusterName: demo
vpcId: vpc-0demo
backendSecurityGroup: sg-0backend
subnets:
  - {id: subnet-0prv1a, az: us-west-2a, vpcId: vpc-0demo, availableIps: 4000,
     tags: {kubernetes.io/role/internal-elb: "1"}}
  - {id: subnet-0prv1b, az: us-west-2b, vpcId: vpc-0demo, availableIps: 4000,
     tags: {kubernetes.io/role/internal-elb: "1"}}
"#;

/// The OIDC client credentials: the ID as base64 `data` (`oidc-client-id-1234`), the secret as
/// `stringData`.
const OIDC_SECRET: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: oidc-client, namespace: shop}
data:
  clientID: b2lkYy1jbGllbnQtaWQtMTIzNA==
stringData:
  clientSecret: very-s3cr3t-client-value
"#;

/// `plan` of the given files (written to a fresh directory) with the real binary.
fn plan_files(files: &[(&str, &str)], output: &str) -> std::process::Output {
    plan_files_with(files, output, &[])
}

fn plan_files_with(files: &[(&str, &str)], output: &str, flags: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write manifest");
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_aws-load-balancer-controller"))
        .args(["plan", "-o", output])
        .args(flags)
        .arg("-f")
        .arg(dir.path())
        .env_remove("AWS_REGION")
        .output()
        .expect("run the binary")
}

#[test]
fn plan_reads_the_oidc_secret_from_the_manifests_and_never_prints_it() {
    let files = [("ingress.yaml", OIDC_INGRESS), ("secret.yaml", OIDC_SECRET)];
    let out = plan_files(&files, "json");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let stacks: serde_json::Value = serde_json::from_str(&stdout).expect("JSON stacks");
    let oidc: Vec<&serde_json::Value> = stacks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("resources")?.as_object())
        .flat_map(|by_kind| by_kind.values())
        .filter_map(serde_json::Value::as_object)
        .flat_map(|by_id| by_id.values())
        .filter_map(|r| r.get("spec"))
        .flat_map(|spec| {
            ["defaultActions", "actions"]
                .into_iter()
                .filter_map(|k| spec.get(k)?.as_array())
                .flatten()
        })
        .filter(|a| a["type"] == "authenticate-oidc")
        .collect();
    assert!(!oidc.is_empty(), "no authenticate-oidc action in {stdout}");
    for action in &oidc {
        let config = &action["authenticateOIDCConfig"];
        assert_eq!(config["issuer"], "https://idp.example.com", "{action}");
        assert_eq!(config["clientSecret"], "[REDACTED]", "{action}");
        assert_eq!(config["clientID"], "[REDACTED]", "{action}");
    }

    let table = plan_files(&files, "table");
    let table_out = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    assert!(table_out.contains("authenticate-oidc"), "{table_out}");
    for printed in [&stdout, &stderr, &table_out] {
        for value in [
            "very-s3cr3t-client-value",
            "oidc-client-id-1234",
            "b2lkYy1jbGllbnQtaWQtMTIzNA",
        ] {
            assert!(!printed.contains(value), "{value} printed: {printed}");
        }
    }
}

#[test]
fn plan_without_the_oidc_secret_fails_naming_it() {
    let out = plan_files(&[("ingress.yaml", OIDC_INGRESS)], "table");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("secrets \"oidc-client\" not found in namespace shop"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn plan_refuses_a_secret_that_is_not_base64_naming_secret_and_key() {
    let bad = "apiVersion: v1\nkind: Secret\nmetadata: {name: oidc-client, namespace: shop}\ndata: {clientSecret: 'not base64!'}\n";
    let out = plan_files(
        &[("ingress.yaml", OIDC_INGRESS), ("secret.yaml", bad)],
        "table",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Secret shop/oidc-client: data.clientSecret is not valid base64"),
        "{stderr}"
    );
    assert!(!stderr.contains("not base64!"), "{stderr}");
}

/// A plain Ingress (no target-type, no listen-ports) and the facts to plan it.
const PLAIN_INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: alb}
spec: {controller: ingress.k8s.aws/alb}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  ports: [{port: 80, nodePort: 30080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  ingressClassName: alb
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: plan.elbv2.k8s.aws/v1
kind: ClusterFacts
clusterName: demo
vpcId: vpc-0demo
backendSecurityGroup: sg-0backend
subnets:
  - {id: subnet-0prv1a, az: us-west-2a, vpcId: vpc-0demo, availableIps: 4000,
     tags: {kubernetes.io/role/internal-elb: "1"}}
  - {id: subnet-0prv1b, az: us-west-2b, vpcId: vpc-0demo, availableIps: 4000,
     tags: {kubernetes.io/role/internal-elb: "1"}}
"#;

fn target_types(out: &std::process::Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stacks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = stacks.to_string();
    let mut found = Vec::new();
    for (i, _) in text.match_indices("\"targetType\":\"") {
        let rest = &text[i + 14..];
        found.push(rest.split('"').next().unwrap_or_default().to_owned());
    }
    found
}

#[test]
fn plan_takes_the_default_target_type_flag_as_the_controller_does() {
    let default = plan_files(&[("all.yaml", PLAIN_INGRESS)], "json");
    let types = target_types(&default);
    assert!(
        !types.is_empty() && types.iter().all(|t| t == "instance"),
        "{types:?}"
    );
    let ip = plan_files_with(
        &[("all.yaml", PLAIN_INGRESS)],
        "json",
        &["--default-target-type", "ip"],
    );
    let types = target_types(&ip);
    assert!(
        !types.is_empty() && types.iter().all(|t| t == "ip"),
        "{types:?}"
    );
}

#[test]
fn plan_shows_the_frontend_nlb_in_front_of_the_alb() {
    let with_nlb = PLAIN_INGRESS.replace(
        "metadata: {name: web, namespace: shop}\nspec:\n  ingressClassName",
        "metadata:\n  name: web\n  namespace: shop\n  annotations: {alb.ingress.kubernetes.io/enable-frontend-nlb: \"true\"}\nspec:\n  ingressClassName",
    );
    assert_ne!(with_nlb, PLAIN_INGRESS);
    let out = plan_files(&[("all.yaml", &with_nlb)], "table");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nlb = stdout
        .lines()
        .find(|l| l.contains("LoadBalancer") && l.contains("FrontendNlb"))
        .unwrap_or_else(|| panic!("no frontend NLB: {stdout}"));
    assert!(nlb.contains("-nlb network"), "{nlb}");
    assert!(
        stdout.contains("FrontendNlb-ls-TCP-80") && stdout.contains("FrontendNlb-tg-TCP-80"),
        "{stdout}"
    );
}

#[test]
fn plan_takes_feature_gates_and_the_default_ssl_policy() {
    let https = PLAIN_INGRESS.replace(
        "metadata: {name: web, namespace: shop}\nspec:\n  ingressClassName",
        "metadata:\n  name: web\n  namespace: shop\n  annotations:\n    alb.ingress.kubernetes.io/target-type: ip\n    alb.ingress.kubernetes.io/listen-ports: '[{\"HTTPS\": 443}]'\n    alb.ingress.kubernetes.io/certificate-arn: arn:aws:acm:us-west-2:111122223333:certificate/one\nspec:\n  ingressClassName",
    );
    assert_ne!(https, PLAIN_INGRESS);
    let out = plan_files_with(
        &[("all.yaml", &https)],
        "json",
        &[
            "--default-ssl-policy",
            "ELBSecurityPolicy-TLS13-1-2-2021-06",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ELBSecurityPolicy-TLS13-1-2-2021-06"),
        "the HTTPS listener takes --default-ssl-policy"
    );
    let gated = plan_files_with(
        &[("all.yaml", &https)],
        "json",
        &["--feature-gates", "EnableIPTargetType=false"],
    );
    assert!(!gated.status.success());
}

/// Services offline: a classless LoadBalancer Service is claimed (the mutator's class) and its
/// annotations checked; a bad one is refused naming the key; an ordinary Service is not even
/// looked at.
#[tokio::test]
async fn services_are_claimed_checked_or_skipped_offline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("services.yaml");
    std::fs::write(
        &path,
        r#"
apiVersion: v1
kind: Service
metadata: {name: claimed, namespace: shop}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: bad
  namespace: shop
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: nlb-ip
    service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol: udp
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: tls
  namespace: shop
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: nlb-ip
    service.beta.kubernetes.io/aws-load-balancer-ssl-cert: arn:aws:acm:us-west-2:111122223333:certificate/a
    service.beta.kubernetes.io/aws-load-balancer-ssl-ports: https
spec: {type: LoadBalancer, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: shop}
spec: {ports: [{port: 80}]}
"#,
    )
    .unwrap();
    let manifests = aws_load_balancer_controller::manifests::load(&[path]).unwrap();
    let verdicts = admit_all(&manifests, &controller_args()).await;
    let names: Vec<&str> = verdicts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Service shop/claimed",
            "Service shop/bad",
            "Service shop/tls"
        ]
    );
    let claimed = &verdicts[0].1;
    assert!(claimed.allowed);
    assert_eq!(
        claimed.object["spec"]["loadBalancerClass"],
        "service.k8s.aws/nlb"
    );
    let bad = &verdicts[1].1;
    assert!(!bad.allowed);
    assert_eq!(
        bad.message.as_deref(),
        Some(
            "Service shop/bad: service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol: unsupported health check protocol udp"
        )
    );
    // What only the Service's ports show is refused too: the model is built at admission.
    let tls = &verdicts[2].1;
    assert!(!tls.allowed);
    assert_eq!(
        tls.message.as_deref(),
        Some("Service shop/tls: Unused port in ssl-ports annotation [https]")
    );
}
