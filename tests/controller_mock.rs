//! The controllers' Kubernetes I/O against kube's tower-test mock API server: every request is
//! checked in order (method, path, body) by an API-server verifier task, which also records it
//! in the same journal as the fake AWS deployer, so the order of Kubernetes writes and AWS
//! calls is asserted too.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use contract::cluster::StaticCluster;
use contract::crd::{ServiceReference, TargetGroupBinding, TargetGroupBindingSpec, TargetType};
use controller::backends::BackendError;
use controller::binding::{BindingReconciler, FINALIZER};
use controller::cache::Cache;
use controller::events::EventRecorder;
use controller::fakes::{FakeBuilder, FakeDeployer, FakeRegistrar, IngressBuilder, Journal};
use controller::group::{GroupReconciler, Outcome};
use controller::index::GroupIndex;
use controller::kube_ops::LiveOps;
use controller::leader::{Attempt, LeaderElector, LeaseSettings};
use controller::metrics::ControllerMetrics;
use controller::targets::Target;
use http::{Request, Response};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::client::Body;
use model::group::GroupId;
use serde_json::{Value, json};
use tokio::sync::watch;
use tower_test::mock::{self, Handle};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// One expected request and the canned answer.
struct Expect {
    method: &'static str,
    path: String,
    /// Substring the query must contain (e.g. the field manager).
    query: Option<&'static str>,
    check: Box<dyn Fn(&Value) + Send>,
    status: u16,
    reply: Value,
}

impl Expect {
    fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: None,
            check: Box::new(|_| {}),
            status: 200,
            reply: json!({}),
        }
    }

    fn query(mut self, q: &'static str) -> Self {
        self.query = Some(q);
        self
    }

    fn body(mut self, check: impl Fn(&Value) + Send + 'static) -> Self {
        self.check = Box::new(check);
        self
    }

    fn reply(mut self, status: u16, body: Value) -> Self {
        self.status = status;
        self.reply = body;
        self
    }
}

/// Plays the API server: asserts each request against the next expectation, in order.
struct ApiServerVerifier {
    handle: ApiHandle,
    journal: Journal,
}

impl ApiServerVerifier {
    fn run(mut self, expected: Vec<Expect>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            for (i, expect) in expected.into_iter().enumerate() {
                let (request, send) =
                    tokio::time::timeout(Duration::from_secs(5), self.handle.next_request())
                        .await
                        .unwrap_or_else(|_| {
                            panic!(
                                "request #{i} ({} {}) never came",
                                expect.method, expect.path
                            )
                        })
                        .expect("service still open");
                let method = request.method().to_string();
                let path = request.uri().path().to_owned();
                let query = request.uri().query().unwrap_or_default().to_owned();
                let bytes = request.into_body().collect_bytes().await.unwrap();
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                };
                assert_eq!(
                    (method.as_str(), path.as_str()),
                    (expect.method, expect.path.as_str()),
                    "request #{i}: {body}"
                );
                if let Some(q) = expect.query {
                    assert!(
                        query.contains(q),
                        "request #{i} query {query:?} lacks {q:?}"
                    );
                }
                (expect.check)(&body);
                self.journal.push(format!("k8s {method} {path}"));
                send.send_response(
                    Response::builder()
                        .status(expect.status)
                        .body(Body::from(serde_json::to_vec(&expect.reply).unwrap()))
                        .unwrap(),
                );
            }
        })
    }
}

fn mock_client(journal: &Journal) -> (kube::Client, ApiServerVerifier) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (
        kube::Client::new(service, "default"),
        ApiServerVerifier {
            handle,
            journal: journal.clone(),
        },
    )
}

async fn finish(task: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("verifier finished")
        .expect("verifier assertions held");
}

fn view() -> StaticCluster {
    StaticCluster {
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
    }
}

fn service(name: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

struct GroupRig {
    journal: Journal,
    builder: Arc<FakeBuilder>,
    deployer: Arc<FakeDeployer>,
    reconciler: GroupReconciler,
    verifier: Option<ApiServerVerifier>,
    _leader: watch::Sender<bool>,
}

fn group_rig(ingresses: Vec<k8s_openapi::api::networking::v1::Ingress>) -> GroupRig {
    let journal = Journal::default();
    let (client, verifier) = mock_client(&journal);
    let (tx, leader) = watch::channel(true);
    let recorder = Arc::new(EventRecorder::new(
        client.clone(),
        "aws-load-balancer-controller",
        "pod-1",
    ));
    let builder = Arc::new(FakeBuilder::new(journal.clone()));
    let deployer = Arc::new(FakeDeployer::new(journal.clone()));
    let mut index = GroupIndex::new("alb");
    let view = view();
    for ing in ingresses {
        index.apply(Arc::new(ing), &view);
    }
    let reconciler = GroupReconciler {
        index: Arc::new(RwLock::new(index)),
        services: Cache::from_objects([service("web")]),
        bindings: Cache::new(),
        builder: builder.clone(),
        deployer: deployer.clone(),
        ops: Arc::new(LiveOps::new(client, leader, recorder)),
        metrics: ControllerMetrics::default(),
        backend_security_group: None,
        service_selection: None,
    };
    GroupRig {
        journal,
        builder,
        deployer,
        reconciler,
        verifier: Some(verifier),
        _leader: tx,
    }
}

const INGRESS_PATH: &str = "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/a";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/ns/events";

fn event_reply() -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "a.1", "namespace": "ns"}, "eventTime": "2026-01-01T00:00:00.000000Z"})
}

fn ingress_reply() -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "a", "namespace": "ns"}})
}

#[tokio::test]
async fn group_reconcile_adds_finalizer_deploys_applies_binding_status_and_event() {
    let mut rig = group_rig(vec![
        IngressBuilder::new("ns", "a")
            .class("alb")
            .backend("web", 80)
            .build(),
    ]);
    let dns = FakeDeployer::dns_name("ns/a");
    let expected_host = dns.clone();
    let binding_name = "k8s-ns-aweb";
    let verifier = rig.verifier.take().expect("verifier").run(vec![
        Expect::new("PATCH", INGRESS_PATH)
            .body(|b| {
                assert_eq!(
                    b,
                    &json!([
                        {"op": "test", "path": "/metadata/finalizers", "value": null},
                        {"op": "add", "path": "/metadata/finalizers", "value": ["ingress.k8s.aws/resources"]}
                    ])
                );
            })
            .reply(200, ingress_reply()),
        Expect::new("PATCH", format!("/apis/elbv2.k8s.aws/v1beta1/namespaces/ns/targetgroupbindings/{binding_name}"))
            .query("fieldManager=aws-load-balancer-controller")
            .body(|b| {
                assert_eq!(b["kind"], "TargetGroupBinding");
                assert_eq!(b["spec"]["serviceRef"]["name"], "web");
                assert!(b["spec"]["targetGroupARN"].as_str().unwrap().starts_with("arn:aws:elasticloadbalancing"));
                assert_eq!(b["metadata"]["labels"]["ingress.k8s.aws/stack-name"], "a");
                assert!(b.get("status").is_none());
            })
            .reply(200, json!({"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
                "metadata": {"name": binding_name, "namespace": "ns"},
                "spec": {"serviceRef": {"name": "web", "port": 80}}})),
        Expect::new("PATCH", format!("{INGRESS_PATH}/status"))
            .query("fieldManager=aws-load-balancer-controller")
            .body(move |b| {
                assert_eq!(b["apiVersion"], "networking.k8s.io/v1");
                assert_eq!(b["status"]["loadBalancer"]["ingress"][0]["hostname"], expected_host.as_str());
                assert_eq!(b["status"]["loadBalancer"]["ingress"][0]["ports"][0]["port"], 80);
            })
            .reply(200, ingress_reply()),
        Expect::new("POST", EVENTS_PATH)
            .body(|b| {
                assert_eq!(b["type"], "Normal");
                assert_eq!(b["reason"], "SuccessfullyReconciled");
                assert_eq!(b["note"], "Successfully reconciled");
                assert_eq!(b["regarding"]["kind"], "Ingress");
                assert_eq!(b["regarding"]["name"], "a");
                assert_eq!(b["reportingController"], "aws-load-balancer-controller");
                assert_eq!(b["reportingInstance"], "pod-1");
            })
            .reply(201, event_reply()),
    ]);
    let outcome = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect("reconciles");
    assert_eq!(
        outcome,
        Outcome::Deployed {
            dns_name: Some(dns)
        }
    );
    finish(verifier).await;
    let entries = rig.journal.entries();
    let pos = |p: &str| {
        entries
            .iter()
            .position(|e| e.starts_with(p))
            .unwrap_or_else(|| panic!("{p} in {entries:?}"))
    };
    assert!(
        pos(&format!("k8s PATCH {INGRESS_PATH}")) < pos("deploy ns/a"),
        "finalizer before deploy: {entries:?}"
    );
    assert!(pos("deploy ns/a") < pos("k8s PATCH /apis/elbv2.k8s.aws"));
    assert!(pos(&format!("k8s PATCH {INGRESS_PATH}/status")) < pos("k8s POST"));
}

#[tokio::test]
async fn build_failure_posts_a_warning_event_and_deploys_nothing() {
    let mut rig = group_rig(vec![
        IngressBuilder::new("ns", "a")
            .class("alb")
            .finalizer("ingress.k8s.aws/resources")
            .build(),
    ]);
    rig.builder.fail_next(BackendError::new(
        "invalid_annotation",
        "ingress ns/a: unknown scheme \"public\"",
    ));
    let verifier = rig.verifier.take().expect("verifier").run(vec![
        Expect::new("POST", EVENTS_PATH)
            .body(|b| {
                assert_eq!(b["type"], "Warning");
                assert_eq!(b["reason"], "FailedBuildModel");
                assert_eq!(
                    b["note"],
                    "Failed build model due to ingress ns/a: unknown scheme \"public\""
                );
            })
            .reply(201, event_reply()),
    ]);
    let error = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect_err("fails");
    assert_eq!(error.category(), "invalid_annotation");
    finish(verifier).await;
    assert!(rig.journal.matching("deploy").is_empty());
    assert_eq!(
        rig.reconciler
            .metrics
            .error_count("ingress", "invalid_annotation"),
        1
    );
}

#[tokio::test]
async fn deleted_ingress_finalizer_is_removed_after_cleanup() {
    let mut rig = group_rig(vec![
        IngressBuilder::new("ns", "a")
            .class("alb")
            .finalizer("other.io/keep")
            .finalizer("ingress.k8s.aws/resources")
            .deleting()
            .build(),
    ]);
    let verifier = rig.verifier.take().expect("verifier").run(vec![Expect::new("PATCH", INGRESS_PATH)
        .body(|b| {
            assert_eq!(
                b,
                &json!([
                    {"op": "test", "path": "/metadata/finalizers/1", "value": "ingress.k8s.aws/resources"},
                    {"op": "remove", "path": "/metadata/finalizers/1"}
                ])
            );
        })
        .reply(200, ingress_reply())]);
    let outcome = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect("deletes");
    assert_eq!(outcome, Outcome::Deleted);
    finish(verifier).await;
    let entries = rig.journal.entries();
    assert_eq!(entries[0], "build ns/a");
    assert_eq!(entries[1], "delete ns/a");
    assert_eq!(entries[2], format!("k8s PATCH {INGRESS_PATH}"));
    assert!(rig.deployer.stacks().is_empty());
}

#[tokio::test]
async fn a_conflicting_finalizer_patch_fails_the_reconcile_before_any_deploy() {
    let mut rig = group_rig(vec![IngressBuilder::new("ns", "a").class("alb").build()]);
    let verifier = rig.verifier.take().expect("verifier").run(vec![
        Expect::new("PATCH", INGRESS_PATH).reply(
            422,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                   "message": "the server rejected our request due to an error in our request", "reason": "Invalid", "code": 422}),
        ),
        Expect::new("POST", EVENTS_PATH)
            .body(|b| assert_eq!(b["reason"], "FailedAddFinalizer"))
            .reply(201, event_reply()),
    ]);
    let error = rig
        .reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect_err("conflict");
    assert_eq!(error.reason(), Some("FailedAddFinalizer"));
    finish(verifier).await;
    assert!(rig.journal.matching("build").is_empty());
    assert!(rig.journal.matching("deploy").is_empty());
}

#[tokio::test]
async fn not_leader_sends_nothing() {
    let journal = Journal::default();
    let (client, verifier) = mock_client(&journal);
    let (_tx, leader) = watch::channel(false);
    let recorder = Arc::new(EventRecorder::new(
        client.clone(),
        "aws-load-balancer-controller",
        "pod-1",
    ));
    let mut index = GroupIndex::new("alb");
    index.apply(
        Arc::new(IngressBuilder::new("ns", "a").class("alb").build()),
        &view(),
    );
    let reconciler = GroupReconciler {
        index: Arc::new(RwLock::new(index)),
        services: Cache::new(),
        bindings: Cache::new(),
        builder: Arc::new(FakeBuilder::new(journal.clone())),
        deployer: Arc::new(FakeDeployer::new(journal.clone())),
        ops: Arc::new(LiveOps::new(client, leader, recorder)),
        metrics: ControllerMetrics::default(),
        backend_security_group: None,
        service_selection: None,
    };
    let task = verifier.run(Vec::new());
    let error = reconciler
        .reconcile(&GroupId::implicit("ns", "a"))
        .await
        .expect_err("paused");
    assert_eq!(error.reason(), None);
    finish(task).await;
    assert!(journal.entries().is_empty(), "{:?}", journal.entries());
}

fn endpoint_slice() -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some("web-abc".into()),
            labels: Some(BTreeMap::from([(
                "kubernetes.io/service-name".into(),
                "web".into(),
            )])),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: Some(vec![Endpoint {
            addresses: vec!["10.0.0.7".into()],
            conditions: Some(EndpointConditions {
                ready: Some(true),
                ..EndpointConditions::default()
            }),
            ..Endpoint::default()
        }]),
        ports: Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(8080),
            ..EndpointPort::default()
        }]),
    }
}

#[tokio::test]
async fn binding_reconcile_adds_finalizer_registers_and_records_generation() {
    let journal = Journal::default();
    let (client, verifier) = mock_client(&journal);
    let (_tx, leader) = watch::channel(true);
    let recorder = Arc::new(EventRecorder::new(
        client.clone(),
        "aws-load-balancer-controller",
        "pod-1",
    ));
    let mut binding = TargetGroupBinding::new(
        "tgb",
        TargetGroupBindingSpec {
            target_group_arn: Some("arn:tg/1".into()),
            target_type: Some(TargetType::Ip),
            service_ref: ServiceReference {
                name: "web".into(),
                port: IntOrString::Int(80),
            },
            ..TargetGroupBindingSpec::default()
        },
    );
    binding.metadata.namespace = Some("ns".into());
    binding.metadata.generation = Some(2);
    let registrar = Arc::new(FakeRegistrar::new(journal.clone()));
    let reconciler = BindingReconciler {
        bindings: Cache::from_objects([binding]),
        services: Cache::from_objects([service("web")]),
        slices: Cache::from_objects([endpoint_slice()]),
        pods: Cache::new(),
        nodes: Cache::new(),
        registrar: registrar.clone(),
        ops: Arc::new(LiveOps::new(client, leader, recorder)),
        metrics: ControllerMetrics::default(),
        networking: None,
        registered: Default::default(),
    };
    let path = "/apis/elbv2.k8s.aws/v1beta1/namespaces/ns/targetgroupbindings/tgb";
    let reply = json!({"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
        "metadata": {"name": "tgb", "namespace": "ns"}, "spec": {"serviceRef": {"name": "web", "port": 80}}});
    let task = verifier.run(vec![
        Expect::new("PATCH", path)
            .body(|b| {
                assert_eq!(
                    b[1],
                    json!({"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]})
                )
            })
            .reply(200, reply.clone()),
        Expect::new("PATCH", format!("{path}/status"))
            .body(|b| assert_eq!(b, &json!({"status": {"observedGeneration": 2}})))
            .reply(200, reply),
    ]);
    let outcome = reconciler
        .reconcile(&controller::keys::ObjKey::new("ns", "tgb"))
        .await
        .expect("reconciles");
    assert_eq!(outcome.registered, 1);
    finish(task).await;
    assert_eq!(
        registrar.targets("arn:tg/1"),
        [Target::new("10.0.0.7", 8080)].into_iter().collect()
    );
    let entries = journal.entries();
    assert!(
        entries[0].starts_with("k8s PATCH"),
        "finalizer first: {entries:?}"
    );
}

fn lease(holder: &str, rv: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "lbc-leader", "namespace": "kube-system", "resourceVersion": rv},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                 "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 3}})
}

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lbc-leader";
const LEASES_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404})
}

#[tokio::test]
async fn lease_is_created_when_absent_and_renewed_with_its_resource_version() {
    let journal = Journal::default();
    let (client, verifier) = mock_client(&journal);
    let (mut elector, rx) = LeaderElector::new(
        client,
        LeaseSettings::new("lbc-leader", "kube-system", "pod-1"),
    );
    let task = verifier.run(vec![
        Expect::new("GET", LEASE_PATH).reply(404, not_found()),
        Expect::new("POST", LEASES_PATH)
            .body(|b| {
                assert_eq!(b["spec"]["holderIdentity"], "pod-1");
                assert_eq!(b["spec"]["leaseDurationSeconds"], 15);
            })
            .reply(201, lease("pod-1", "10")),
        Expect::new("GET", LEASE_PATH).reply(200, lease("pod-1", "10")),
        Expect::new("PUT", LEASE_PATH)
            .body(|b| {
                assert_eq!(b["metadata"]["resourceVersion"], "10");
                assert_eq!(b["spec"]["holderIdentity"], "pod-1");
                assert_eq!(b["spec"]["leaseTransitions"], 3, "renewal is no transition");
            })
            .reply(200, lease("pod-1", "11")),
    ]);
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("creates"),
        Attempt::Held
    );
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("renews"),
        Attempt::Held
    );
    finish(task).await;
    assert!(!*rx.borrow(), "the flag flips only in run()");
}

#[tokio::test]
async fn a_fresh_lease_of_another_holder_is_left_alone_until_it_expires() {
    let journal = Journal::default();
    let (client, verifier) = mock_client(&journal);
    let mut settings = LeaseSettings::new("lbc-leader", "kube-system", "pod-2");
    settings.lease_duration = Duration::from_millis(200);
    let (mut elector, _rx) = LeaderElector::new(client, settings);
    let mut other = lease("pod-1", "20");
    other["spec"]["leaseDurationSeconds"] = json!(0);
    let task = verifier.run(vec![
        Expect::new("GET", LEASE_PATH).reply(200, lease("pod-1", "20")),
        // Unchanged for longer than its duration (0 s here): take it over, counting a transition.
        Expect::new("GET", LEASE_PATH).reply(200, other),
        Expect::new("PUT", LEASE_PATH)
            .body(|b| {
                assert_eq!(b["spec"]["holderIdentity"], "pod-2");
                assert_eq!(b["spec"]["leaseTransitions"], 4);
                assert_eq!(b["metadata"]["resourceVersion"], "20");
            })
            .reply(409, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "conflict"})),
    ]);
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("reads"),
        Attempt::Lost
    );
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("races"),
        Attempt::Lost,
        "lost the race on 409"
    );
    finish(task).await;
}

#[tokio::test]
async fn leadership_flips_off_when_renewals_fail_past_the_deadline() {
    let journal = Journal::default();
    let (client, mut verifier) = mock_client(&journal);
    let mut settings = LeaseSettings::new("lbc-leader", "kube-system", "pod-1");
    settings.retry_period = Duration::from_millis(20);
    settings.renew_deadline = Duration::from_millis(100);
    let (elector, mut rx) = LeaderElector::new(client, settings);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(elector.run(async {
        let _ = stop_rx.await;
    }));
    // Acquire.
    let server = tokio::spawn(async move {
        let mut answered = 0;
        while let Some((request, send)) = verifier.handle.next_request().await {
            let method = request.method().clone();
            let reply = match (answered, method.as_str()) {
                (0, "GET") => (404, not_found()),
                (1, "POST") => (201, lease("pod-1", "1")),
                // Then the API server fails every request.
                _ => (
                    500,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "etcd down", "reason": "InternalError"}),
                ),
            };
            answered += 1;
            send.send_response(
                Response::builder()
                    .status(reply.0)
                    .body(Body::from(serde_json::to_vec(&reply.1).unwrap()))
                    .unwrap(),
            );
        }
    });
    tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|l| *l))
        .await
        .expect("becomes leader")
        .expect("open");
    let start = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|l| !*l))
        .await
        .expect("steps down")
        .expect("open");
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(600),
        "stepped down after {took:?}"
    );
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), run)
        .await
        .expect("stops")
        .expect("ok");
    server.abort();
}

/// Answers every LIST from `lists` (by path) and parks every WATCH until the test ends.
fn serve_lists(
    mut handle: ApiHandle,
    lists: BTreeMap<&'static str, Value>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut parked = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let path = request.uri().path().to_owned();
            let query = request.uri().query().unwrap_or_default().to_owned();
            seen.lock()
                .unwrap()
                .push(format!("{} {path}?{query}", request.method()));
            if query.contains("watch=true") {
                parked.push(send);
                continue;
            }
            let items = lists
                .get(path.as_str())
                .cloned()
                .unwrap_or_else(|| json!([]));
            let body = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items});
            send.send_response(
                Response::builder()
                    .status(200)
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
    })
}

#[tokio::test]
async fn controllers_sync_their_caches_skip_malformed_objects_and_queue_groups() {
    use controller::manager::{self, Backends, ControllerSettings};

    let journal = Journal::default();
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let lists = BTreeMap::from([
        (
            "/apis/networking.k8s.io/v1/ingressclasses",
            json!([{"metadata": {"name": "alb", "resourceVersion": "1"}, "spec": {"controller": "ingress.k8s.aws/alb"}}]),
        ),
        (
            "/apis/networking.k8s.io/v1/ingresses",
            json!([
                {"metadata": {"name": "good", "namespace": "ns", "resourceVersion": "1",
                              "managedFields": [{"manager": "kubectl"}],
                              "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                              "alb.ingress.kubernetes.io/group.name": "team",
                                              "alb.ingress.kubernetes.io/auth-idp-oidc":
                                                  "{\"issuer\":\"https://idp\",\"authorizationEndpoint\":\"https://idp/a\",\"tokenEndpoint\":\"https://idp/t\",\"userInfoEndpoint\":\"https://idp/u\",\"secretName\":\"oidc\"}"}},
                 "spec": {"ingressClassName": "alb"}},
                {"metadata": {"name": "broken", "namespace": "ns", "resourceVersion": "1"},
                 "spec": {"rules": "not-a-list"}}
            ]),
        ),
        (
            "/api/v1/namespaces",
            json!([{"metadata": {"name": "ns", "resourceVersion": "1", "labels": {"team": "a"}}}]),
        ),
    ]);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = serve_lists(handle, lists, seen.clone());
    let (_tx, leader) = watch::channel(false); // not leader: caches only, no reconciles
    let backends = Backends {
        builder: Arc::new(FakeBuilder::new(journal.clone())),
        deployer: Arc::new(FakeDeployer::new(journal.clone())),
        registrar: Arc::new(FakeRegistrar::new(journal.clone())),
        service_builder: None,
        networking: None,
        backend_security_group: None,
    };
    let (handles, run) = manager::start(
        client,
        leader,
        backends,
        ControllerSettings::default(),
        ControllerMetrics::default(),
    );
    let task = tokio::spawn(run);
    tokio::time::timeout(Duration::from_secs(5), handles.wait_ready())
        .await
        .expect("caches sync from the lists");
    assert!(handles.is_ready());
    // The malformed Ingress was skipped; the good one is cached without managed fields or the
    // last-applied copy.
    assert_eq!(handles.ingresses.len(), 1);
    let good = handles
        .ingresses
        .get(&controller::keys::ObjKey::new("ns", "good"))
        .expect("good ingress cached");
    assert!(good.metadata.managed_fields.is_none());
    let annotations = good.metadata.annotations.clone().unwrap_or_default();
    assert!(!annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
    // Its group is known and queued for the (absent) leader.
    assert_eq!(
        handles
            .index
            .read()
            .unwrap()
            .groups()
            .into_iter()
            .collect::<Vec<_>>(),
        [GroupId::explicit("team").unwrap()]
    );
    for _ in 0..100 {
        if handles.groups.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handles.groups.len(), 1, "queued, waiting for leadership");
    assert!(
        journal.entries().is_empty(),
        "no reconcile without leadership: {:?}",
        journal.entries()
    );
    let requests = seen.lock().unwrap().clone();
    for resource in [
        "ingresses",
        "services",
        "endpointslices",
        "nodes",
        "pods",
        "targetgroupbindings",
        "ingressclassparams",
    ] {
        assert!(
            requests
                .iter()
                .any(|r| r.contains(&format!("/{resource}?")) && r.contains("watch=true")),
            "{resource} is watched: {requests:#?}"
        );
    }
    // The Secret the good Ingress references is watched on its own, by name.
    let secret_watched = |requests: &[String]| {
        requests.iter().any(|r| {
            r.starts_with("GET /api/v1/namespaces/ns/secrets?")
                && r.contains("fieldSelector=metadata.name%3Doidc")
        })
    };
    for _ in 0..200 {
        if secret_watched(&seen.lock().unwrap()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let requests = seen.lock().unwrap().clone();
    assert!(
        secret_watched(&requests),
        "the referenced Secret is watched: {requests:#?}"
    );
    assert_eq!(
        handles.secrets.watched().into_iter().collect::<Vec<_>>(),
        [controller::keys::ObjKey::new("ns", "oidc")]
    );
    handles.shutdown();
    assert!(
        handles.secrets.watched().is_empty(),
        "shutdown stops the Secret watches"
    );
    task.abort();
    server.abort();
}
