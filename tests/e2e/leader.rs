//! Leader election with two replicas on a real Lease: the leader is killed with SIGKILL in the
//! middle of a deploy, the other replica takes over within the lease's timing and finishes the
//! deploy, and AWS never receives a write from a replica that did not hold the Lease.
//!
//! Each replica signs its AWS calls with its own access key, and a recording proxy in front of
//! moto notes who sent what and when.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::World;
use crate::support::aws_recorder::Recorder;
use crate::support::e2e::{
    ControllerProcess, Launch, MANAGER, STACK_TAG, apply_class, eventually, eventually_every,
    ingress, owned_elbv2, owned_security_groups, service, webhook_bind,
};
use crate::support::process::free_port;

/// client-go's timings, which the controller uses: lease 15 s, retry 2 s.
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RETRY_PERIOD: Duration = Duration::from_secs(2);

#[tokio::test]
async fn leader_killed_mid_deploy_hands_over_without_foreign_writes() {
    let (world, recorder) = World::recorded().await;
    world.run(scenario(&world, &recorder)).await;
}

async fn scenario(world: &World, recorder: &Recorder) {
    let setup = &world.setup;
    let client = &world.client;
    let ns = setup.namespace.as_str();
    let stack = format!("{ns}/web");
    let lease_name = format!("lbc-e2e-{}", setup.id);
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let holder = |lease: &Lease| {
        lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default()
    };
    let replica = |identity: &'static str, key: &'static str| {
        ControllerProcess::launch(
            setup,
            Launch {
                identity,
                args: setup.serve_args(),
                kubeconfig: &setup.kubeconfig,
                access_key: key,
                env: vec![("POD_NAMESPACE".to_owned(), ns.to_owned())],
                webhook_port: free_port(webhook_bind()),
            },
        )
    };

    apply_class(client, &setup.class, "ip").await;
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &service("web"))
        .await
        .unwrap();

    // A leads; B waits with warm caches.
    let mut a = replica("replica-a", "AKIAREPLICAAAAAAAAAA");
    a.wait_ready().await;
    eventually("replica-a to hold the Lease", || async {
        let lease = leases.get_opt(&lease_name).await.ok()??;
        (holder(&lease) == "replica-a").then_some(())
    })
    .await;
    let mut b = replica("replica-b", "AKIAREPLICABBBBBBBBBB");
    b.wait_ready().await;

    // The deploy starts; A is killed as soon as its first AWS write is out.
    Api::<Ingress>::namespaced(client.clone(), ns)
        .patch(
            "web",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ingress(&setup.class, "/", json!({}))),
        )
        .await
        .unwrap();
    eventually_every(
        "replica-a's first AWS write",
        Duration::from_millis(20),
        || async {
            recorder
                .calls()
                .iter()
                .any(|c| c.access_key == "AKIAREPLICAAAAAAAAAA" && c.is_mutating())
                .then_some(())
        },
    )
    .await;
    let last_renew_by_a: SystemTime = leases
        .get(&lease_name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.renew_time)
        .map(|t| t.0.into())
        .expect("a renew time");
    a.kill();
    let killed_at = SystemTime::now();

    // B takes over and finishes the deploy.
    let acquired_by_b: SystemTime = eventually("replica-b to take the Lease", || async {
        let lease = leases.get_opt(&lease_name).await.ok()??;
        if holder(&lease) != "replica-b" {
            return None;
        }
        lease.spec?.acquire_time.map(|t| t.0.into())
    })
    .await;
    let handover = acquired_by_b
        .duration_since(last_renew_by_a)
        .unwrap_or_default();
    eprintln!(
        "e2e leader: replica-b acquired the Lease {handover:?} after replica-a's last renewal"
    );
    assert!(
        handover <= LEASE_DURATION + 2 * RETRY_PERIOD + Duration::from_secs(5),
        "replica-b took {handover:?} after the last renewal (lease {LEASE_DURATION:?})"
    );
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    eventually(
        "the hostname in the status (deployed by replica-b)",
        || async {
            let ing = ingresses.get("web").await.ok()?;
            ing.status?
                .load_balancer?
                .ingress?
                .first()?
                .hostname
                .clone()
        },
    )
    .await;
    // Let B's re-syncs settle, then count.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (lbs, tgs) = owned_elbv2(&world.clients, STACK_TAG, &stack).await;
    let sgs = owned_security_groups(&world.clients, &stack).await;
    assert_eq!(lbs.len(), 1, "exactly one ALB: {lbs:?}");
    assert_eq!(tgs.len(), 1, "exactly one target group: {tgs:?}");
    assert!(
        sgs.len() <= 1,
        "at most one managed security group: {sgs:?}"
    );

    // Who wrote what, when.
    let calls = recorder.calls();
    let writes: Vec<_> = calls.iter().filter(|c| c.is_mutating()).collect();
    let by_a = writes
        .iter()
        .filter(|c| c.access_key == "AKIAREPLICAAAAAAAAAA")
        .count();
    let by_b = writes
        .iter()
        .filter(|c| c.access_key == "AKIAREPLICABBBBBBBBBB")
        .count();
    eprintln!(
        "e2e leader: {} AWS calls, {by_a} writes by replica-a (killed), {by_b} by replica-b",
        calls.len()
    );
    assert!(by_b > 0, "replica-b finished the deploy");
    for call in &writes {
        match call.access_key.as_str() {
            "AKIAREPLICAAAAAAAAAA" => assert!(
                call.at <= killed_at,
                "replica-a wrote after it was killed: {}",
                call.operation
            ),
            "AKIAREPLICABBBBBBBBBB" => assert!(
                call.at >= acquired_by_b,
                "replica-b wrote ({}) before it held the Lease",
                call.operation
            ),
            other => panic!("a write from an unknown key {other}: {}", call.operation),
        }
    }

    // B cleans up on deletion.
    ingresses
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the Ingress to be gone", || async {
        ingresses.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
    let (lbs, tgs) = owned_elbv2(&world.clients, STACK_TAG, &stack).await;
    assert!(
        lbs.is_empty() && tgs.is_empty(),
        "left behind: {lbs:?} {tgs:?}"
    );
    b.stop();
}
