//! What the deployer's moto tests share: a fresh account with the fixture network and a
//! deployer, the same account through a recording proxy, and the checks on the calls a deploy
//! made.

use std::collections::BTreeMap;

use aws_io::{AwsClients, DeployOptions, DeployReport, Deployer, ErrorCategory};
use aws_sdk_ec2::config::SharedInterceptor;
use model::stack::Stack;

use super::aws_recorder::Recorder;
use super::moto::{Account, MotoAccount, sdk_config};
use super::{CLUSTER, Network, deploy_config, network};

/// A fresh account with the fixture network and a deployer for [`CLUSTER`].
pub async fn setup() -> (Account, Network, Deployer) {
    let account = Account::new().await;
    let net = network(&account.clients).await;
    let deployer = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    (account, net, deployer)
}

/// The same account seen through a recording proxy: every request, with its body.
pub async fn recorded(account: &Account, net: &Network) -> (Recorder, Deployer) {
    let recorder = Recorder::start(account.server.endpoint()).await;
    let sdk = sdk_config(&recorder.endpoint).await;
    let clients = AwsClients::new(
        &sdk,
        &[SharedInterceptor::new(MotoAccount(account.id.clone()))],
    );
    let deployer = Deployer::new(clients, deploy_config(CLUSTER, net));
    (recorder, deployer)
}

/// The mutating calls of a deploy, by operation.
pub fn mutating(report: &DeployReport) -> BTreeMap<String, u64> {
    report.calls_by_operation.mutating()
}

/// Calls by operation, written as pairs.
pub fn expect_calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Re-syncing an unchanged stack makes no mutating call and changes nothing.
pub async fn assert_converged(deployer: &Deployer, stack: &Stack) -> DeployReport {
    let report = deployer.deploy(stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        BTreeMap::new(),
        "an unchanged re-sync must not mutate; calls: {}",
        report.calls_by_operation
    );
    assert!(report.created.is_empty() && report.modified.is_empty() && report.deleted.is_empty());
    report
}

/// A deploy stopped after `limit` mutating calls, a second one stopped after one more, then a
/// full deploy: what that last one reports (it must succeed).
pub async fn deploy_after_two_interruptions(
    deployer: &Deployer,
    stack: &Stack,
    limit: usize,
) -> DeployReport {
    let err = deployer
        .deploy_with(
            stack,
            &DeployOptions {
                mutation_limit: Some(limit),
            },
        )
        .await
        .expect_err("stopped");
    assert_eq!(err.category(), ErrorCategory::Aborted, "{err}");
    // A second run is interrupted too, one call later.
    let _ = deployer
        .deploy_with(
            stack,
            &DeployOptions {
                mutation_limit: Some(1),
            },
        )
        .await;
    deployer
        .deploy(stack)
        .await
        .unwrap_or_else(|e| panic!("recovery after {limit} calls: {e}"))
}
