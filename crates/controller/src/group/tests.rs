use std::collections::{BTreeMap, BTreeSet};

use contract::cluster::StaticCluster;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::fakes::{FakeBuilder, FakeDeployer, IngressBuilder, Journal, RecordingOps};

struct Rig {
    journal: Journal,
    builder: Arc<FakeBuilder>,
    deployer: Arc<FakeDeployer>,
    ops: Arc<RecordingOps>,
    reconciler: GroupReconciler,
    view: StaticCluster,
}

fn service(ns: &str, name: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Service::default()
    }
}

fn rig() -> Rig {
    let journal = Journal::default();
    let builder = Arc::new(FakeBuilder::new(journal.clone()));
    let deployer = Arc::new(FakeDeployer::new(journal.clone()));
    let ops = Arc::new(RecordingOps::new(journal.clone()));
    let view = StaticCluster {
        ingress_classes: vec![Arc::new(IngressClass {
            metadata: ObjectMeta {
                name: Some("alb".into()),
                ..ObjectMeta::default()
            },
            spec: Some(IngressClassSpec {
                controller: Some("ingress.k8s.aws/alb".into()),
                parameters: None,
            }),
        })],
        namespaces: BTreeMap::from([("ns".to_string(), BTreeMap::new())]),
        ..StaticCluster::default()
    };
    let reconciler = GroupReconciler {
        index: Arc::new(RwLock::new(GroupIndex::new("alb"))),
        services: Cache::from_objects([service("ns", "web"), service("ns", "api")]),
        bindings: Cache::new(),
        builder: builder.clone(),
        deployer: deployer.clone(),
        ops: ops.clone(),
        metrics: ControllerMetrics::default(),
        backend_security_group: None,
        service_selection: None,
    };
    Rig {
        journal,
        builder,
        deployer,
        ops,
        reconciler,
        view,
    }
}

impl Rig {
    fn put(&self, ingress: k8s_openapi::api::networking::v1::Ingress) {
        self.reconciler
            .index
            .write()
            .expect("lock")
            .apply(Arc::new(ingress), &self.view);
    }

    fn pos(&self, prefix: &str) -> usize {
        self.journal
            .position(prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} in {:#?}", self.journal.entries()))
    }
}

fn explicit(name: &str) -> GroupId {
    GroupId::explicit(name).expect("valid")
}

#[tokio::test]
async fn first_reconcile_adds_finalizer_before_deploying_then_writes_status_and_event() {
    let rig = rig();
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .group("g")
            .backend("web", 80)
            .build(),
    );
    rig.put(
        IngressBuilder::new("ns", "b")
            .class("alb")
            .group("g")
            .backend("api", 80)
            .build(),
    );

    let outcome = rig
        .reconciler
        .reconcile(&explicit("g"))
        .await
        .expect("reconciles");
    let dns = FakeDeployer::dns_name("g");
    assert_eq!(
        outcome,
        Outcome::Deployed {
            dns_name: Some(dns.clone())
        }
    );

    let deploy = rig.pos("deploy g");
    assert!(rig.pos("add-finalizer ns/a group.ingress.k8s.aws/g") < deploy);
    assert!(rig.pos("add-finalizer ns/b group.ingress.k8s.aws/g") < deploy);
    assert!(rig.pos("build g") < deploy);
    let bindings = rig.journal.matching("apply-binding");
    assert_eq!(bindings.len(), 2, "{bindings:?}");
    assert!(
        bindings
            .iter()
            .all(|b| b.contains("arn:aws:elasticloadbalancing"))
    );
    assert!(deploy < rig.pos("apply-binding"));
    assert!(rig.pos("apply-binding") < rig.pos("status ns/a"));
    assert_eq!(
        rig.journal.matching("status"),
        [format!("status ns/a {dns}"), format!("status ns/b {dns}")]
    );
    let events = rig.journal.matching("event");
    assert_eq!(
        events,
        [
            "event ns/a Normal SuccessfullyReconciled Successfully reconciled",
            "event ns/b Normal SuccessfullyReconciled Successfully reconciled",
        ]
    );
    assert!(rig.pos("status ns/b") < rig.pos("event ns/a"));
    assert!(rig.deployer.stacks().contains_key("g"));
}

#[tokio::test]
async fn nothing_is_rewritten_when_already_converged() {
    let rig = rig();
    let first = rig
        .reconciler
        .deployer
        .deploy(&model::stack::Stack::new("ns/a"))
        .await;
    assert!(first.is_ok());
    let desired = synth::desired_status(
        &FakeDeployer::dns_name("ns/a"),
        &FakeBuilder::stack_for(&BuildRequest {
            members: &GroupMembers {
                id: GroupId::implicit("ns", "a"),
                active: Vec::new(),
                inactive: Vec::new(),
                services: BTreeSet::new(),
                secrets: BTreeSet::new(),
            },
            services: &ObjectMap::new(),
            secrets: &ObjectMap::new(),
        })
        .expect("stack"),
    );
    // Status with the same hostname and the listener port 80.
    let mut status = desired.clone();
    if let Some(entry) = status.ingress.as_mut().and_then(|i| i.first_mut()) {
        entry.ports = Some(vec![k8s_openapi::api::networking::v1::IngressPortStatus {
            port: 80,
            protocol: "TCP".into(),
            error: None,
        }]);
    }
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .finalizer("ingress.k8s.aws/resources")
            .status(status)
            .build(),
    );
    rig.journal.clear();
    rig.reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect("reconciles");
    assert!(rig.journal.matching("add-finalizer").is_empty());
    assert!(
        rig.journal.matching("status").is_empty(),
        "{:?}",
        rig.journal.entries()
    );
}

#[tokio::test]
async fn build_failure_warns_every_member_and_counts_the_category() {
    let rig = rig();
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .group("g")
            .build(),
    );
    rig.put(
        IngressBuilder::new("ns", "b")
            .class("alb")
            .group("g")
            .build(),
    );
    rig.builder.fail_next(BackendError::new(
        "conflict",
        "conflicting scheme: internal | internet-facing",
    ));
    let error = rig
        .reconciler
        .reconcile(&explicit("g"))
        .await
        .expect_err("fails");
    assert_eq!(error.reason(), Some("FailedBuildModel"));
    assert!(
        rig.journal.matching("deploy").is_empty(),
        "no deploy after a build failure"
    );
    assert_eq!(
        rig.journal.matching("event"),
        [
            "event ns/a Warning FailedBuildModel Failed build model due to conflicting scheme: internal | internet-facing",
            "event ns/b Warning FailedBuildModel Failed build model due to conflicting scheme: internal | internet-facing",
        ]
    );
    assert_eq!(
        rig.reconciler.metrics.error_count(CONTROLLER, "conflict"),
        1
    );
    // The finalizers went on before the build (upstream order).
    assert_eq!(rig.journal.matching("add-finalizer").len(), 2);
}

#[tokio::test]
async fn deploy_failure_is_a_failed_deploy_model_warning() {
    let rig = rig();
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .backend("web", 80)
            .build(),
    );
    rig.deployer
        .fail_next(BackendError::new("throttled", "Throttling: Rate exceeded"));
    let error = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect_err("fails");
    assert_eq!(error.category(), "throttled");
    assert_eq!(
        rig.journal.matching("event"),
        [
            "event ns/a Warning FailedDeployModel Failed deploy model due to Throttling: Rate exceeded"
        ]
    );
    assert!(rig.journal.matching("status").is_empty());
    assert!(rig.journal.matching("apply-binding").is_empty());
}

#[tokio::test]
async fn a_deploy_refused_by_the_write_gate_is_lost_leadership_not_a_failure() {
    let rig = rig();
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .backend("web", 80)
            .build(),
    );
    rig.deployer.fail_next(BackendError::new(
        crate::backends::NOT_LEADER,
        "CreateLoadBalancer not sent: this replica is not the leader",
    ));
    let error = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect_err("stops");
    assert!(matches!(error, ReconcileError::NotLeader), "{error:?}");
    assert!(
        rig.journal.matching("event").is_empty(),
        "no Warning: the new leader carries on"
    );
    assert!(rig.journal.matching("status").is_empty());
}

#[tokio::test]
async fn deleting_the_last_member_deletes_the_stack_then_removes_the_finalizer() {
    let rig = rig();
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .backend("web", 80)
            .build(),
    );
    rig.reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect("deploys");
    // The binding the first reconcile applied now exists in the cache.
    let stack = rig
        .deployer
        .stacks()
        .get("ns/a")
        .cloned()
        .expect("deployed");
    let report = crate::backends::DeployReport {
        target_group_arns: stack
            .resources
            .target_groups
            .iter()
            .map(|(id, tg)| (id.clone(), FakeDeployer::target_group_arn(&tg.spec.name)))
            .collect(),
        ..Default::default()
    };
    for binding in synth::desired_bindings(&stack, &report).expect("bindings") {
        rig.reconciler.bindings.insert(Arc::new(binding));
    }
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .backend("web", 80)
            .finalizer("ingress.k8s.aws/resources")
            .deleting()
            .build(),
    );
    rig.journal.clear();
    let outcome = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect("deletes");
    assert_eq!(outcome, Outcome::Deleted);
    let delete = rig.pos("delete ns/a");
    assert!(delete < rig.pos("delete-binding ns/"));
    assert!(
        rig.pos("delete-binding ns/") < rig.pos("remove-finalizer ns/a ingress.k8s.aws/resources")
    );
    assert!(
        rig.journal.matching("event").is_empty(),
        "{:?}",
        rig.journal.entries()
    );
    assert!(rig.deployer.stacks().is_empty());
}

#[tokio::test]
async fn deletion_failure_keeps_the_finalizer_and_warns_the_leaving_member() {
    let rig = rig();
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .finalizer("ingress.k8s.aws/resources")
            .deleting()
            .build(),
    );
    rig.deployer
        .fail_next(BackendError::new("dependency_violation", "resource in use"));
    let error = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect_err("fails");
    assert_eq!(error.reason(), Some("FailedDeployModel"));
    assert!(rig.journal.matching("remove-finalizer").is_empty());
    assert_eq!(
        rig.journal
            .matching("event ns/a Warning FailedDeployModel")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_member_that_moves_away_leaves_after_the_redeploy() {
    let rig = rig();
    rig.put(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .group("g")
            .backend("web", 80)
            .build(),
    );
    rig.put(
        IngressBuilder::new("ns", "b")
            .class("alb")
            .group("other")
            .backend("api", 80)
            .finalizer("group.ingress.k8s.aws/g")
            .build(),
    );
    rig.reconciler
        .reconcile(&explicit("g"))
        .await
        .expect("reconciles");
    let stack = rig.deployer.stacks().get("g").cloned().expect("deployed");
    assert_eq!(stack.resources.target_groups.len(), 1, "only a's Service");
    assert!(rig.pos("deploy g") < rig.pos("remove-finalizer ns/b group.ingress.k8s.aws/g"));
    assert!(rig.journal.matching("event ns/b").is_empty());
}

#[tokio::test]
async fn a_replica_that_is_not_leader_writes_nothing() {
    let rig = rig();
    rig.ops.set_leader(false);
    rig.put(IngressBuilder::new("ns", "a").class("alb").build());
    let error = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect_err("not leader");
    assert!(matches!(error, ReconcileError::NotLeader));
    assert!(rig.journal.matching("deploy").is_empty());
    assert!(rig.journal.matching("build").is_empty());
    assert!(rig.journal.matching("event").is_empty());
}

#[tokio::test]
async fn status_write_failure_is_reported() {
    let rig = rig();
    rig.put(IngressBuilder::new("ns", "a").class("alb").build());
    rig.ops.fail_next("status", "etcd timeout");
    let error = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect_err("status fails");
    assert_eq!(error.reason(), Some("FailedUpdateStatus"));
    assert_eq!(
        rig.journal
            .matching("event ns/a Warning FailedUpdateStatus")
            .len(),
        1
    );
}

#[tokio::test]
async fn unloadable_group_warns_the_broken_ingress() {
    let rig = rig();
    rig.put(
        IngressBuilder::new("ns", "x")
            .class("missing")
            .finalizer("group.ingress.k8s.aws/g")
            .build(),
    );
    let error = rig
        .reconciler
        .reconcile(&explicit("g"))
        .await
        .expect_err("blocked");
    assert_eq!(error.reason(), Some("FailedLoadGroupID"));
    assert!(rig.journal.matching("deploy").is_empty());
    let events = rig.journal.matching("event ns/x Warning FailedLoadGroupID");
    assert_eq!(events.len(), 1);
    assert!(
        events[0].contains("\\\"missing\\\" not found")
            || events[0].contains("\"missing\" not found"),
        "{events:?}"
    );
}

#[tokio::test]
async fn unknown_group_is_idle() {
    let rig = rig();
    let outcome = rig
        .reconciler
        .reconcile(&explicit("nobody"))
        .await
        .expect("idle");
    assert_eq!(outcome, Outcome::Idle);
    assert!(rig.journal.entries().is_empty());
}

/// An EC2 with one tagged backend group that journals its deletes; `fail` makes them fail.
struct JournaledBackendSg {
    journal: Journal,
    fail: bool,
}

impl crate::backend_sg::BackendSecurityGroupApi for JournaledBackendSg {
    fn ensure(
        &self,
    ) -> crate::backends::BoxFuture<'_, Result<crate::backend_sg::Obtained, BackendError>> {
        let id = "sg-backend".to_owned();
        Box::pin(std::future::ready(Ok(crate::backend_sg::Obtained::Found(
            id,
        ))))
    }

    fn find(&self) -> crate::backends::BoxFuture<'_, Result<Option<String>, BackendError>> {
        Box::pin(std::future::ready(Ok(Some("sg-backend".to_owned()))))
    }

    fn delete<'a>(
        &'a self,
        id: &'a str,
    ) -> crate::backends::BoxFuture<'a, Result<crate::backend_sg::Deletion, BackendError>> {
        self.journal.push(format!("delete-backend-sg {id}"));
        let answer = if self.fail {
            Err(BackendError::new("throttled", "RequestLimitExceeded"))
        } else {
            Ok(crate::backend_sg::Deletion::Deleted)
        };
        Box::pin(std::future::ready(answer))
    }
}

fn with_backend_sg(mut rig: Rig, fail: bool) -> Rig {
    rig.reconciler.backend_security_group = Some(BackendSecurityGroup::managed(Arc::new(
        JournaledBackendSg {
            journal: rig.journal.clone(),
            fail,
        },
    )));
    rig
}

async fn deploy_then_delete(rig: &Rig, name: &str) -> Result<Outcome, ReconcileError> {
    rig.put(
        IngressBuilder::new("ns", name)
            .class("alb")
            .backend("web", 80)
            .build(),
    );
    let group = GroupId::implicit("ns", name);
    rig.reconciler.reconcile(&group).await.expect("deploys");
    rig.put(
        IngressBuilder::new("ns", name)
            .class("alb")
            .backend("web", 80)
            .finalizer("ingress.k8s.aws/resources")
            .deleting()
            .build(),
    );
    rig.reconciler.reconcile(&group).await
}

#[tokio::test]
async fn the_backend_security_group_is_released_after_the_last_group_is_deleted() {
    let rig = with_backend_sg(rig(), false);
    rig.put(
        IngressBuilder::new("ns", "stays")
            .class("alb")
            .backend("api", 80)
            .build(),
    );
    let outcome = deploy_then_delete(&rig, "goes").await.expect("deletes");
    assert_eq!(outcome, Outcome::Deleted);
    assert!(
        rig.journal.matching("delete-backend-sg").is_empty(),
        "ns/stays still has an active member: {:?}",
        rig.journal.entries()
    );

    rig.put(
        IngressBuilder::new("ns", "stays")
            .class("alb")
            .backend("api", 80)
            .finalizer("ingress.k8s.aws/resources")
            .deleting()
            .build(),
    );
    let outcome = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "stays"))
        .await
        .expect("deletes");
    assert_eq!(outcome, Outcome::Deleted);
    assert_eq!(
        rig.journal.matching("delete-backend-sg"),
        ["delete-backend-sg sg-backend"]
    );
    assert!(rig.pos("remove-finalizer ns/stays") < rig.pos("delete-backend-sg"));
}

#[tokio::test]
async fn a_failed_release_does_not_fail_the_deletion() {
    let rig = with_backend_sg(rig(), true);
    let outcome = deploy_then_delete(&rig, "a").await.expect("deletes");
    assert_eq!(outcome, Outcome::Deleted);
    assert_eq!(rig.journal.matching("delete-backend-sg").len(), 1);
    assert!(
        rig.journal
            .matching("event")
            .iter()
            .all(|e| !e.contains("Warning"))
    );
}

#[tokio::test]
async fn an_nlb_service_keeps_the_backend_security_group() {
    let mut rig = with_backend_sg(rig(), false);
    rig.reconciler.service_selection = Some(contract::service::Selection::default());
    let mut nlb = service("ns", "echo");
    nlb.spec = Some(k8s_openapi::api::core::v1::ServiceSpec {
        type_: Some("LoadBalancer".into()),
        load_balancer_class: Some(contract::service::DEFAULT_LOAD_BALANCER_CLASS.into()),
        ..Default::default()
    });
    rig.reconciler.services.insert(Arc::new(nlb));
    let outcome = deploy_then_delete(&rig, "goes").await.expect("deletes");
    assert_eq!(outcome, Outcome::Deleted);
    assert!(
        rig.journal.matching("delete-backend-sg").is_empty(),
        "the NLB of ns/echo may use it: {:?}",
        rig.journal.entries()
    );
    // Right after its cleanup the cache may still show the Service: it does not count then.
    rig.reconciler
        .release_backend_security_group_after(Some(&crate::keys::ObjKey::new("ns", "other")))
        .await;
    assert!(rig.journal.matching("delete-backend-sg").is_empty());
    rig.reconciler
        .release_backend_security_group_after(Some(&crate::keys::ObjKey::new("ns", "echo")))
        .await;
    assert_eq!(
        rig.journal.matching("delete-backend-sg"),
        ["delete-backend-sg sg-backend"]
    );
}
