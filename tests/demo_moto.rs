//! `make run`'s embedded default, end to end against moto: admission, model, deploy, re-sync.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use aws_load_balancer_controller::cli::{Cli, Command};
use aws_load_balancer_controller::commands::embedded_examples;
use clap::Parser as _;

#[tokio::test]
async fn embedded_default_deploys_the_example_group_and_nlb_and_refuses_the_bad_ingress() {
    let cli = Cli::try_parse_from(["alb", "run"]).unwrap();
    let Command::Run(args) = cli.command else {
        unreachable!("parsed a run command")
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let summary = aws_load_balancer_controller::demo::run(
        repo,
        embedded_examples().unwrap(),
        &args.controller,
    )
    .await
    .unwrap();
    assert_eq!(
        summary.dns_names.len(),
        2,
        "one ALB for the one IngressGroup, one NLB for the LoadBalancer Service: {:?}",
        summary.dns_names
    );
    assert!(
        summary.dns_names[0].starts_with("k8s-shop-"),
        "{:?}",
        summary.dns_names
    );
    assert!(
        summary.dns_names[1].starts_with("k8s-shop-echo-"),
        "{:?}",
        summary.dns_names
    );
    assert_eq!(summary.resync_mutating_calls, 0);
    assert_eq!(summary.refused, vec!["Ingress shop/broken".to_string()]);
}
