//! The offline admission path (`check`, `make run`) over the bundled examples: the same verdicts
//! the webhook gives.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use aws_load_balancer_controller::cli::{Cli, Command};
use aws_load_balancer_controller::commands::admit_all;
use aws_load_balancer_controller::manifests::Manifests;
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
    let manifests = Manifests::load(&[examples()]).unwrap();
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
async fn mutation_results_are_visible_offline() {
    let manifests = Manifests::load(&[examples()]).unwrap();
    let verdicts = admit_all(&manifests, &controller_args()).await;
    let (_, storefront) = verdicts
        .iter()
        .find(|(n, _)| n == "Ingress shop/storefront")
        .unwrap();
    let annotations = &storefront.object["metadata"]["annotations"];
    // Explicit target-type kept; listen-ports defaulted.
    assert_eq!(
        annotations["alb.ingress.kubernetes.io/target-type"],
        "instance"
    );
    assert_eq!(
        annotations["alb.ingress.kubernetes.io/listen-ports"],
        r#"[{"HTTP":80}]"#
    );
}

#[tokio::test]
async fn namespace_selector_is_enforced_offline() {
    let mut manifests = Manifests::load(&[examples()]).unwrap();
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
fn the_examples_plan_one_alb_for_the_shop_group() {
    let manifests = Manifests::load(&[examples()]).unwrap();
    let mut good = manifests.clone();
    good.ingresses
        .retain(|i| i.metadata.name.as_deref() != Some("broken"));
    let base = aws_load_balancer_controller::model::ClusterFacts::new("", "");
    let facts =
        aws_load_balancer_controller::facts::overlay(&base, &manifests.cluster_facts).unwrap();
    let stacks = aws_load_balancer_controller::model::plan::plan(&good, &facts).unwrap();
    assert_eq!(stacks.len(), 1);
    assert_eq!(stacks[0].id, "shop");
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
}
