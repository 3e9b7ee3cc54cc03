use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec, ServiceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::fakes::{FakeDeployer, Journal, PureServiceBuilder, RecordingOps};
use model::subnets::Subnet;

struct Rig {
    journal: Journal,
    deployer: Arc<FakeDeployer>,
    ops: Arc<RecordingOps>,
    reconciler: ServiceReconciler,
}

fn facts() -> model::ClusterFacts {
    let mut facts = model::ClusterFacts::new("c", "vpc-1");
    facts.enable_backend_security_group = false;
    facts.subnets = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, az)| Subnet {
            id: format!("subnet-{i}"),
            az: format!("us-west-2{az}"),
            az_id: None,
            vpc_id: "vpc-1".into(),
            available_ips: 100,
            tags: BTreeMap::from([("kubernetes.io/role/internal-elb".to_owned(), String::new())]),
            ipv6_cidrs: Vec::new(),
            cidr: Some(format!("10.0.{i}.0/24")),
            locale: Default::default(),
        })
        .collect();
    facts
}

fn rig() -> Rig {
    let journal = Journal::default();
    let deployer = Arc::new(FakeDeployer::new(journal.clone()));
    let ops = Arc::new(RecordingOps::new(journal.clone()));
    let reconciler = ServiceReconciler {
        services: Cache::new(),
        bindings: Cache::new(),
        builder: Arc::new(PureServiceBuilder {
            journal: journal.clone(),
            facts: facts(),
            selection: Selection::default(),
        }),
        deployer: deployer.clone(),
        ops: ops.clone(),
        metrics: ControllerMetrics::default(),
        selection: Selection::default(),
        after_cleanup: Some({
            let journal = journal.clone();
            Arc::new(move |key: ObjKey| {
                journal.push(format!("after-cleanup {key}"));
                Box::pin(std::future::ready(()))
            })
        }),
    };
    Rig {
        journal,
        deployer,
        ops,
        reconciler,
    }
}

fn service(annotations: &[(&str, &str)]) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some("echo".into()),
            uid: Some("uid-1".into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| (format!("service.beta.kubernetes.io/{k}"), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            ports: Some(vec![ServicePort {
                port: 80,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::Int(8080)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn key() -> ObjKey {
    ObjKey::new("ns", "echo")
}

#[tokio::test]
async fn an_nlb_ip_service_gets_finalizer_stack_bindings_status_in_order() {
    let rig = rig();
    rig.reconciler
        .services
        .insert(Arc::new(service(&[("aws-load-balancer-type", "nlb-ip")])));
    let outcome = rig.reconciler.reconcile(&key()).await.unwrap();
    let dns = FakeDeployer::dns_name("ns/echo");
    assert_eq!(
        outcome,
        ServiceOutcome::Deployed {
            dns_name: Some(dns.clone())
        }
    );
    assert!(
        !rig.journal
            .entries()
            .iter()
            .any(|e| e.starts_with("after-cleanup"))
    );
    let entries = rig.journal.entries();
    let position = |prefix: &str| {
        entries
            .iter()
            .position(|e| e.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing in {entries:?}"))
    };
    assert!(
        position("build-service ns/echo")
            < position("add-finalizer ns/echo service.k8s.aws/resources")
    );
    assert!(position("add-finalizer") < position("deploy service:ns/echo"));
    assert!(position("deploy service:ns/echo") < position("apply-binding"));
    assert!(position("apply-binding") < position(&format!("service-status ns/echo {dns}")));
    assert!(position("service-status") < position("event ns/echo Normal SuccessfullyReconciled"));
    // The stack is a Service stack and its binding carries the Service's labels.
    let stacks = rig.deployer.stacks();
    assert_eq!(
        stacks["service:ns/echo"].kind,
        model::stack::StackKind::Service
    );
    let applied = rig.ops.applied_bindings.lock().unwrap().clone();
    assert_eq!(applied.len(), 1);
    let labels = applied[0].metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["service.k8s.aws/stack-name"], "echo");
    assert_eq!(applied[0].spec.service_ref.name, "echo");
}

#[tokio::test]
async fn status_already_right_is_not_written_again() {
    let rig = rig();
    let mut svc = service(&[("aws-load-balancer-type", "nlb-ip")]);
    svc.status = Some(ServiceStatus {
        load_balancer: Some(desired_status(&FakeDeployer::dns_name("ns/echo"), &svc)),
        ..ServiceStatus::default()
    });
    rig.reconciler.services.insert(Arc::new(svc));
    rig.reconciler.reconcile(&key()).await.unwrap();
    assert!(
        !rig.journal
            .entries()
            .iter()
            .any(|e| e.starts_with("service-status"))
    );
}

#[tokio::test]
async fn a_bad_annotation_is_a_build_failure_event_and_nothing_is_created() {
    let rig = rig();
    rig.reconciler.services.insert(Arc::new(service(&[
        ("aws-load-balancer-type", "nlb-ip"),
        ("aws-load-balancer-healthcheck-interval", "often"),
    ])));
    let error = rig.reconciler.reconcile(&key()).await.unwrap_err();
    assert_eq!(error.reason(), Some("FailedBuildModel"));
    let entries = rig.journal.entries();
    assert!(
        !entries
            .iter()
            .any(|e| e.starts_with("add-finalizer") || e.starts_with("deploy")),
        "{entries:?}"
    );
    let event = entries
        .iter()
        .find(|e| e.starts_with("event ns/echo Warning FailedBuildModel"))
        .expect("event");
    assert!(event.contains("Failed build model due to service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval"), "{event}");
}

#[tokio::test]
async fn deletion_removes_resources_bindings_status_then_the_finalizer() {
    let rig = rig();
    let mut svc = service(&[("aws-load-balancer-type", "nlb-ip")]);
    svc.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    svc.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    svc.status = Some(ServiceStatus {
        load_balancer: Some(desired_status("old.elb.amazonaws.com", &svc)),
        ..ServiceStatus::default()
    });
    rig.reconciler.services.insert(Arc::new(svc));
    let mut binding = TargetGroupBinding::new("k8s-ns-echo-1", Default::default());
    binding.metadata.namespace = Some("ns".into());
    binding.metadata.labels = Some(service_binding_labels("ns", "echo").into_iter().collect());
    rig.reconciler.bindings.insert(Arc::new(binding));

    let outcome = rig.reconciler.reconcile(&key()).await.unwrap();
    assert_eq!(outcome, ServiceOutcome::Deleted);
    let entries = rig.journal.entries();
    let position = |prefix: &str| {
        entries
            .iter()
            .position(|e| e.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing in {entries:?}"))
    };
    assert!(position("delete service:ns/echo") < position("delete-binding ns/k8s-ns-echo-1"));
    assert!(position("delete-binding") < position("service-status ns/echo cleared"));
    assert!(
        position("service-status ns/echo cleared")
            < position("remove-finalizer ns/echo service.k8s.aws/resources")
    );
    // Then the backend security group is released if nothing uses it.
    assert!(position("remove-finalizer") < position("after-cleanup ns/echo"));
}

#[tokio::test]
async fn deletion_protection_keeps_everything() {
    let rig = rig();
    let mut svc = service(&[
        ("aws-load-balancer-type", "nlb-ip"),
        (
            "aws-load-balancer-attributes",
            "deletion_protection.enabled=true",
        ),
    ]);
    svc.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    svc.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    rig.reconciler.services.insert(Arc::new(svc));
    let error = rig.reconciler.reconcile(&key()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Failed build model due to deletion_protection is enabled, cannot delete the service: echo"
    );
    assert!(
        !rig.journal
            .entries()
            .iter()
            .any(|e| e.starts_with("delete") || e.starts_with("remove-finalizer"))
    );
}

#[tokio::test]
async fn services_that_are_not_ours_are_left_alone() {
    let rig = rig();
    for annotations in [vec![], vec![("aws-load-balancer-type", "nlb")]] {
        rig.reconciler
            .services
            .insert(Arc::new(service(&annotations)));
        assert_eq!(
            rig.reconciler.reconcile(&key()).await.unwrap(),
            ServiceOutcome::Idle
        );
    }
    assert_eq!(
        rig.reconciler
            .reconcile(&ObjKey::new("ns", "gone"))
            .await
            .unwrap(),
        ServiceOutcome::Idle
    );
    assert!(
        rig.journal.entries().is_empty(),
        "{:?}",
        rig.journal.entries()
    );
}

#[test]
fn status_comparison_follows_upstream() {
    let svc = service(&[]);
    let desired = desired_status("ABC.elb.amazonaws.com", &svc);
    assert_eq!(
        desired.ingress.as_ref().unwrap()[0].hostname.as_deref(),
        Some("abc.elb.amazonaws.com")
    );
    let mut shown = svc.clone();
    shown.status = Some(ServiceStatus {
        load_balancer: Some(desired.clone()),
        ..ServiceStatus::default()
    });
    assert!(status_matches(&shown, &desired));
    assert!(!status_matches(&svc, &desired));
    let mut with_ip = desired.clone();
    if let Some(ingress) = with_ip.ingress.as_mut() {
        ingress[0].ip = Some("1.2.3.4".into());
    }
    shown.status = Some(ServiceStatus {
        load_balancer: Some(with_ip),
        ..ServiceStatus::default()
    });
    assert!(!status_matches(&shown, &desired));
}
