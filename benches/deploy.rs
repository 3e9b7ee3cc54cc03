//! Deployer benchmark against moto: 100 stacks (one ALB, SG, listener, two rules, two target
//! groups each) are created, then re-synced unchanged. Prints wall times and the AWS calls per
//! stack, by operation. `STACKS=<n>` changes the number of stacks.
//!
//! Run with `cargo bench --bench deploy` (needs `make venv` for moto).

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_io::{CallSnapshot, DeployReport, Deployer};
use futures::{StreamExt, TryStreamExt};
use model::stack::Stack;
use support::moto::Account;
use support::{CLUSTER, deploy_config, network, sample_stack};

/// Stacks deployed at once, like the controller's concurrent reconciles.
const CONCURRENCY: usize = 3;

fn main() {
    let stacks: usize = std::env::var("STACKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(stacks));
}

async fn deploy_all(deployer: &Deployer, stacks: &[Stack]) -> (Vec<DeployReport>, Duration) {
    let started = Instant::now();
    let reports = futures::stream::iter(stacks)
        .map(|stack| deployer.deploy(stack))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await
        .expect("deploy");
    (reports, started.elapsed())
}

fn summarize(phase: &str, reports: &[DeployReport], wall: Duration) {
    let n = reports.len().max(1) as f64;
    let mut by_op: BTreeMap<String, u64> = BTreeMap::new();
    let totals: Vec<u64> = reports
        .iter()
        .map(|r| r.calls_by_operation.total())
        .collect();
    let mutating: u64 = reports
        .iter()
        .map(|r| r.calls_by_operation.mutating_total())
        .sum();
    for report in reports {
        let calls: &CallSnapshot = &report.calls_by_operation;
        for (service, op, count) in calls.iter() {
            *by_op.entry(format!("{service}:{op}")).or_default() += count;
        }
    }
    let sum: u64 = totals.iter().sum();
    println!(
        "{phase}: {} stacks in {:.2?} ({:.1} ms/stack); calls per stack: avg {:.2}, min {}, max {}; mutating calls in total: {mutating}",
        reports.len(),
        wall,
        wall.as_secs_f64() * 1000.0 / n,
        sum as f64 / n,
        totals.iter().min().copied().unwrap_or(0),
        totals.iter().max().copied().unwrap_or(0),
    );
    for (op, count) in by_op {
        println!("  {op:<45} {:>6.2} per stack", count as f64 / n);
    }
}

async fn run(count: usize) {
    let account = Account::new().await;
    let net = network(&account.clients).await;
    let deployer = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    let stacks: Vec<Stack> = (0..count)
        .map(|i| sample_stack(&net, &format!("bench/ing-{i}"), &format!("b{i}")))
        .collect();

    let (created, wall) = deploy_all(&deployer, &stacks).await;
    summarize("create", &created, wall);
    let (resynced, wall) = deploy_all(&deployer, &stacks).await;
    summarize("re-sync (unchanged)", &resynced, wall);
    assert!(
        resynced
            .iter()
            .all(|r| r.calls_by_operation.mutating_total() == 0),
        "an unchanged re-sync must not mutate"
    );
    // The controller's resync: one read of the cluster first, then every stack.
    let fresh = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    let before = account.clients.calls().snapshot();
    let started = Instant::now();
    let covered = fresh.prefetch().await.expect("prefetch");
    let read = account.clients.calls().snapshot().since(&before);
    println!(
        "prefetch: {} stacks in {:.2?}, {} calls ({})",
        covered.unwrap_or(0),
        started.elapsed(),
        read.total(),
        read
    );
    let (resynced, wall) = deploy_all(&fresh, &stacks).await;
    let n = resynced.len().max(1) as f64;
    summarize("re-sync after the prefetch (unchanged)", &resynced, wall);
    let reads: u64 = resynced
        .iter()
        .map(|r| r.calls_by_operation.read_total())
        .sum();
    println!(
        "  amortised with the prefetch: {:.2} reads per stack",
        (reads + read.total()) as f64 / n
    );
    let (deleted, wall) = deploy_all(
        &deployer,
        &stacks
            .iter()
            .map(|s| Stack::new(s.id.clone()))
            .collect::<Vec<_>>(),
    )
    .await;
    summarize("delete", &deleted, wall);
    println!(
        "moto pid {}: all calls {}",
        account.server.pid(),
        account.clients.calls().snapshot().total()
    );
}
