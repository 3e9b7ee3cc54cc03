//! When a deploy may use its part of the snapshot: never after a deploy of its stack ran, even
//! partly, once the snapshot's reads began; never after it expired or the leadership changed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types as elbv2;
use tokio::sync::watch;

use model::stack::StackKind;

use super::{Prefetch, Snapshot};
use crate::discover::{Found, Owned};

const TTL: Duration = Duration::from_secs(300);

fn owned_lb(arn: &str) -> Owned {
    Owned {
        load_balancers: vec![Found {
            item: elbv2::LoadBalancer::builder()
                .load_balancer_arn(arn)
                .build(),
            arn: arn.to_owned(),
            tags: Default::default(),
        }],
        ..Owned::default()
    }
}

/// A snapshot begun at `started` holding a load balancer for the Ingress stack `ns/a`.
fn install(prefetch: &Prefetch, started: Instant, leadership: Option<watch::Receiver<bool>>) {
    let stacks = HashMap::from([((StackKind::Ingress, "ns/a".to_owned()), owned_lb("arn:a"))]);
    prefetch.lock().snapshot = Some(Snapshot {
        started,
        leadership,
        stacks,
    });
}

async fn lbs(prefetch: &Prefetch, kind: StackKind, id: &str) -> Option<Vec<String>> {
    let (owned, _running) = prefetch.take(kind, id, TTL).await;
    owned.map(|o| o.load_balancers.into_iter().map(|f| f.arn).collect())
}

#[tokio::test]
async fn each_stack_takes_its_part_once_and_a_stack_seen_without_resources_owns_nothing() {
    let prefetch = Prefetch::default();
    install(&prefetch, Instant::now(), None);
    assert_eq!(
        lbs(&prefetch, StackKind::Ingress, "ns/a").await,
        Some(vec!["arn:a".to_owned()])
    );
    // The same ID of the other kind is another stack, which owned nothing.
    assert_eq!(
        lbs(&prefetch, StackKind::Service, "ns/a").await,
        Some(vec![])
    );
    assert_eq!(
        lbs(&prefetch, StackKind::Ingress, "ns/new").await,
        Some(vec![])
    );
    // Deployed since the snapshot began: it reads again.
    assert_eq!(lbs(&prefetch, StackKind::Ingress, "ns/a").await, None);
}

#[tokio::test]
async fn a_deploy_that_ran_after_the_reads_began_makes_its_stack_read_again() {
    let prefetch = Prefetch::default();
    let started = Instant::now();
    // A deploy of ns/a ends after the snapshot began (it started before and wrote meanwhile).
    drop(prefetch.take(StackKind::Ingress, "ns/a", TTL).await);
    install(&prefetch, started, None);
    assert_eq!(lbs(&prefetch, StackKind::Ingress, "ns/a").await, None);
}

#[tokio::test]
async fn a_deploy_still_running_makes_its_stack_read_again() {
    let prefetch = Prefetch::default();
    let (_, running) = prefetch.take(StackKind::Ingress, "ns/a", TTL).await;
    install(&prefetch, Instant::now(), None);
    assert_eq!(lbs(&prefetch, StackKind::Ingress, "ns/a").await, None);
    drop(running);
}

#[tokio::test]
async fn a_deploy_that_ended_before_the_reads_began_does_not() {
    let prefetch = Prefetch::default();
    drop(prefetch.take(StackKind::Ingress, "ns/a", TTL).await);
    tokio::time::sleep(Duration::from_millis(2)).await;
    install(&prefetch, Instant::now(), None);
    assert_eq!(
        lbs(&prefetch, StackKind::Ingress, "ns/a").await,
        Some(vec!["arn:a".to_owned()])
    );
}

#[tokio::test]
async fn an_expired_snapshot_is_not_used() {
    let prefetch = Prefetch::default();
    install(&prefetch, Instant::now(), None);
    let (owned, _running) = prefetch
        .take(StackKind::Ingress, "ns/a", Duration::ZERO)
        .await;
    assert!(owned.is_none());
}

#[tokio::test]
async fn a_leadership_change_since_the_reads_voids_the_snapshot() {
    let (tx, rx) = watch::channel(true);
    let prefetch = Prefetch::default();
    let mut seen = rx.clone();
    seen.borrow_and_update();
    install(&prefetch, Instant::now(), Some(seen));
    // Lost and regained: another replica may have written meanwhile.
    tx.send_replace(false);
    tx.send_replace(true);
    assert_eq!(lbs(&prefetch, StackKind::Ingress, "ns/a").await, None);
    drop(rx);
}

#[tokio::test]
async fn a_builder_sees_the_stacks_load_balancer_without_taking_the_stacks_part() {
    let prefetch = Prefetch::default();
    let tagged = |arn: &str, id: &str| Found {
        item: elbv2::LoadBalancer::builder()
            .load_balancer_arn(arn)
            .build(),
        arn: arn.to_owned(),
        tags: [(StackKind::Ingress.resource_tag().to_owned(), id.to_owned())]
            .into_iter()
            .collect(),
    };
    let owned = Owned {
        // The frontend NLB sorts first; the builder wants the ALB.
        load_balancers: vec![
            tagged("arn:nlb", "FrontendNlb"),
            tagged("arn:alb", "LoadBalancer"),
        ],
        ..Owned::default()
    };
    prefetch.lock().snapshot = Some(Snapshot {
        started: Instant::now(),
        leadership: None,
        stacks: HashMap::from([((StackKind::Ingress, "ns/a".to_owned()), owned)]),
    });
    let arn = |lb: Option<Option<elbv2::LoadBalancer>>| {
        lb.map(|lb| lb.and_then(|lb| lb.load_balancer_arn().map(str::to_owned)))
    };
    let seen = prefetch
        .load_balancer(StackKind::Ingress, "ns/a", TTL)
        .await;
    assert_eq!(arn(seen), Some(Some("arn:alb".to_owned())));
    let none = prefetch
        .load_balancer(StackKind::Ingress, "ns/none", TTL)
        .await;
    assert_eq!(arn(none), Some(None), "seen, with no load balancer");
    // The deploy that follows still gets the whole part.
    assert_eq!(
        lbs(&prefetch, StackKind::Ingress, "ns/a").await,
        Some(vec!["arn:nlb".to_owned(), "arn:alb".to_owned()])
    );
    // After that deploy the snapshot no longer speaks for the stack.
    let after = prefetch
        .load_balancer(StackKind::Ingress, "ns/a", TTL)
        .await;
    assert_eq!(arn(after), None);
}
