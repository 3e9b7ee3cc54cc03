//! The shipped binary, whole: `aws-load-balancer-controller serve` as a child process, pointed
//! at moto (`AWS_ENDPOINT_URL`) and at a stub Kubernetes API server on 127.0.0.1 (a kubeconfig
//! in a temp dir). The stub answers the initial lists with one IngressClass, Namespace,
//! Service and Ingress, holds every watch open, and records every write.
//!
//! It proves the wiring that unit and mock tests cannot: the flags, the VPC facts and the
//! backend security group loaded at start-up, readiness on `/readyz`, one Ingress deployed
//! into an ALB, the finalizer, Ingress status, TargetGroupBinding and Event written back
//! through the API, metrics on `/metrics`, and a clean exit on SIGTERM. The API server's own
//! semantics (watch events, conflicts) are the e2e suite's business (`make e2e`).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_io::AwsClients;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use support::process::{free_port, http_get, terminate, webhook_certificate};

const CLUSTER: &str = "smoke";
const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const INGRESSES: &str = "/apis/networking.k8s.io/v1/ingresses";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/shop/leases";
const TIMEOUT: Duration = Duration::from_secs(90);

/// One request the stub API server saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    body: Value,
}

#[derive(Clone)]
struct Stub {
    /// List items by collection path.
    lists: Arc<BTreeMap<String, Vec<Value>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Watch events the test sends for the Ingress collection (other watches stay silent).
    ingress_events: tokio::sync::broadcast::Sender<Value>,
    /// Leases, by object path: created with POST, read with GET, replaced with PUT.
    leases: Arc<Mutex<BTreeMap<String, Value>>>,
}

impl Stub {
    fn writes(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method != "GET")
            .cloned()
            .collect()
    }

    /// The stored object a single-object path names (`<collection>/<name>[/status]`).
    fn object(&self, path: &str) -> Option<Value> {
        let path = path.strip_suffix("/status").unwrap_or(path);
        let (collection, name) = path.rsplit_once('/')?;
        self.lists
            .get(collection)?
            .iter()
            .find(|o| o["metadata"]["name"] == name)
            .cloned()
    }
}

fn status(code: u16, reason: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "reason": reason, "code": code, "message": reason});
    (
        StatusCode::from_u16(code).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok_json(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn handle(State(stub): State<Stub>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    stub.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
    });
    match method {
        Method::GET if query.contains("watch=true") => {
            if path == INGRESSES {
                // What the test sends, one JSON line per event.
                let events =
                    futures::stream::unfold(stub.ingress_events.subscribe(), |mut rx| async move {
                        let event = rx.recv().await.ok()?;
                        let mut line = event.to_string().into_bytes();
                        line.push(b'\n');
                        Some((Ok::<_, std::io::Error>(Bytes::from(line)), rx))
                    });
                return (
                    [("content-type", "application/json")],
                    Body::from_stream(events),
                )
                    .into_response();
            }
            // Open, and silent until the test ends.
            let pending = futures::stream::pending::<Result<Bytes, std::io::Error>>();
            (
                [("content-type", "application/json")],
                Body::from_stream(pending),
            )
                .into_response()
        }
        _ if path.starts_with(LEASES) => lease(&stub, &method, &path, body),
        Method::GET => match stub.lists.get(&path) {
            Some(items) => ok_json(
                StatusCode::OK,
                &json!({"kind": "List", "apiVersion": "v1",
                        "metadata": {"resourceVersion": "1"}, "items": items}),
            ),
            None if looks_like_collection(&path) => ok_json(
                StatusCode::OK,
                &json!({"kind": "List", "apiVersion": "v1",
                        "metadata": {"resourceVersion": "1"}, "items": []}),
            ),
            None => status(404, "NotFound"),
        },
        Method::POST => ok_json(StatusCode::CREATED, &body),
        Method::PATCH | Method::PUT => {
            // Server-side apply bodies are whole objects; JSON and merge patches are not, so
            // answer those with the stored object.
            let reply = stub.object(&path).unwrap_or(body);
            ok_json(StatusCode::OK, &reply)
        }
        _ => status(405, "MethodNotAllowed"),
    }
}

/// The Lease API, enough for leader election: create, get, replace.
fn lease(stub: &Stub, method: &Method, path: &str, body: Value) -> Response {
    let mut leases = stub.leases.lock().unwrap();
    match *method {
        Method::GET => match leases.get(path) {
            Some(lease) => ok_json(StatusCode::OK, lease),
            None => status(404, "NotFound"),
        },
        Method::POST => {
            let name = body["metadata"]["name"].as_str().unwrap_or_default();
            let mut stored = body.clone();
            stored["metadata"]["resourceVersion"] = json!("1");
            leases.insert(format!("{path}/{name}"), stored.clone());
            ok_json(StatusCode::CREATED, &stored)
        }
        Method::PUT => {
            let mut stored = body;
            let version = leases
                .get(path)
                .and_then(|l| {
                    l["metadata"]["resourceVersion"]
                        .as_str()?
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0);
            stored["metadata"]["resourceVersion"] = json!((version + 1).to_string());
            leases.insert(path.to_owned(), stored.clone());
            ok_json(StatusCode::OK, &stored)
        }
        _ => status(405, "MethodNotAllowed"),
    }
}

/// Collections end with a plural resource name after the group/version (or a namespace).
fn looks_like_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.first() {
        Some(&"api") => segments.len() == 3 || (segments.len() == 5 && segments[2] == "namespaces"),
        Some(&"apis") => {
            segments.len() == 4 || (segments.len() == 6 && segments[3] == "namespaces")
        }
        _ => false,
    }
}

/// The child process; SIGTERM then kill on drop, by its PID only.
struct Controller(Child);

impl Controller {
    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        terminate(&mut self.0, Duration::from_secs(15))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if self.terminate().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn wait_for<T>(what: &str, log: &std::path::Path, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "timed out waiting for {what}; controller log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn objects() -> BTreeMap<String, Vec<Value>> {
    let ingress = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop", "uid": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                     "resourceVersion": "1", "generation": 1,
                     "annotations": {"alb.ingress.kubernetes.io/target-type": "ip"}},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    });
    BTreeMap::from([
        (
            "/apis/networking.k8s.io/v1/ingressclasses".to_owned(),
            vec![
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                        "metadata": {"name": "alb", "resourceVersion": "1"},
                        "spec": {"controller": "ingress.k8s.aws/alb"}}),
            ],
        ),
        (
            "/api/v1/namespaces".to_owned(),
            vec![json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "shop", "resourceVersion": "1"}})],
        ),
        (
            "/api/v1/services".to_owned(),
            vec![json!({"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "1",
                                     "uid": "0f8fad5b-d9cb-469f-a165-70867728950e"},
                        "spec": {"selector": {"app": "web"},
                                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})],
        ),
        (INGRESSES.to_owned(), vec![ingress.clone()]),
        // Single-object writes answer from here.
        (
            "/apis/networking.k8s.io/v1/namespaces/shop/ingresses".to_owned(),
            vec![ingress],
        ),
    ])
}

/// POSTs an AdmissionReview to the webhook over TLS (trusting `ca`) and returns its response.
async fn admission(
    port: u16,
    ca: &rustls::pki_types::CertificateDer<'static>,
    path: &str,
    request: Value,
) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                      "request": request})
    .to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, payload) = text.split_once("\r\n\r\n").unwrap();
    assert!(headers.starts_with("HTTP/1.1 200"), "{headers}");
    let payload = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    serde_json::from_str::<Value>(&payload).unwrap()["response"].clone()
}

/// The body of a chunked HTTP/1.1 message.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_deploys_an_ingress_and_writes_back_through_the_api() {
    // AWS: moto's default account (the binary sends no account header), a VPC with subnets
    // tagged for internal load balancers.
    let moto = support::moto::MotoServer::shared();
    let clients = AwsClients::new(&support::moto::sdk_config(moto.endpoint()).await, &[]);
    let net = support::network(&clients).await;
    support::tag_subnets_for_internal_elb(&clients, &net).await;

    // The stub API server and a kubeconfig for it.
    let stub = Stub {
        lists: Arc::new(objects()),
        seen: Arc::default(),
        leases: Arc::default(),
        ingress_events: tokio::sync::broadcast::channel(16).0,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr: SocketAddr = listener.local_addr().unwrap();
    let app = Router::new().fallback(handle).with_state(stub.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: stub\n\
             clusters: [{{name: stub, cluster: {{server: \"http://{api_addr}\"}}}}]\n\
             users: [{{name: stub, user: {{token: stub}}}}]\n\
             contexts: [{{name: stub, context: {{cluster: stub, user: stub}}}}]\n"
        ),
    )
    .unwrap();
    let ca = webhook_certificate(dir.path(), [127, 0, 0, 1].into()).der;

    let (probe_port, metrics_port, webhook_port) = (
        free_port(LOOPBACK),
        free_port(LOOPBACK),
        free_port(LOOPBACK),
    );
    let log = dir.path().join("controller.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut controller = Controller(
        Command::new(env!("CARGO_BIN_EXE_aws-load-balancer-controller"))
            .arg("serve")
            .args(["--cluster-name", CLUSTER])
            .args(["--aws-vpc-id", &net.vpc_id])
            .args(["--aws-region", support::moto::REGION])
            .args(["--webhook-cert-dir", &dir.path().display().to_string()])
            .args(["--webhook-bind-addr", "127.0.0.1"])
            .args(["--webhook-bind-port", &webhook_port.to_string()])
            .args(["--metrics-bind-addr", &format!("127.0.0.1:{metrics_port}")])
            .args([
                "--health-probe-bind-addr",
                &format!("127.0.0.1:{probe_port}"),
            ])
            .args(["--leader-election-namespace", "shop"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", &kubeconfig)
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("POD_NAME", "smoke-0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    );

    wait_for("/readyz", &log, || {
        (http_get(probe_port, "/readyz")?.0 == 200).then_some(())
    })
    .await;

    // One list (one watch, one cache) per kind: the webhooks read the controllers' caches.
    for path in [
        "/apis/networking.k8s.io/v1/ingressclasses",
        "/api/v1/services",
        "/apis/elbv2.k8s.aws/v1beta1/targetgroupbindings",
    ] {
        let lists = stub
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == "GET" && r.path == path && !r.query.contains("watch=true"))
            .count();
        assert_eq!(lists, 1, "{path} listed {lists} times");
    }

    // The webhook, over TLS: a bad annotation is refused with its name...
    let bad = json!({"uid": "u-1", "operation": "CREATE", "namespace": "shop", "name": "bad",
        "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
        "object": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": "bad", "namespace": "shop",
                                "annotations": {"alb.ingress.kubernetes.io/scheme": "sideways"}},
                   "spec": {"ingressClassName": "alb"}}});
    let answer = admission(webhook_port, &ca, "/validate-networking-v1-ingress", bad).await;
    assert_eq!(answer["uid"], "u-1");
    assert_eq!(answer["allowed"], false, "{answer}");
    assert!(
        answer["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("alb.ingress.kubernetes.io/scheme")),
        "{answer}"
    );
    // ...and a TargetGroupBinding naming only its target group is completed from AWS.
    clients
        .elbv2
        .create_target_group()
        .name("shop-manual")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&net.vpc_id)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    let sparse = json!({"uid": "u-2", "operation": "CREATE", "namespace": "shop", "name": "manual",
        "kind": {"group": "elbv2.k8s.aws", "version": "v1beta1", "kind": "TargetGroupBinding"},
        "object": {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
                   "metadata": {"name": "manual", "namespace": "shop"},
                   "spec": {"targetGroupName": "shop-manual",
                            "serviceRef": {"name": "web", "port": 80}}}});
    let answer = admission(
        webhook_port,
        &ca,
        "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding",
        sparse,
    )
    .await;
    assert_eq!(answer["allowed"], true, "{answer}");
    let patch = answer["patch"].as_str().expect("a JSON patch");
    let patch = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, patch).unwrap(),
    )
    .unwrap();
    assert!(
        patch.contains(r#""path":"/spec/targetType","value":"ip""#),
        "targetType from the described target group: {patch}"
    );
    // Done with that one: remove it so the ALB checks below see only the Ingress's.
    let manual = clients
        .elbv2
        .describe_target_groups()
        .names("shop-manual")
        .send()
        .await
        .unwrap();
    clients
        .elbv2
        .delete_target_group()
        .target_group_arn(manual.target_groups()[0].target_group_arn().unwrap())
        .send()
        .await
        .unwrap();

    // The ALB, behind the managed and the backend security group.
    let (lb_arn, dns) = {
        let mut found = None;
        let start = Instant::now();
        while found.is_none() {
            let lbs = clients
                .elbv2
                .describe_load_balancers()
                .send()
                .await
                .unwrap();
            found = lbs.load_balancers().first().map(|lb| {
                (
                    lb.load_balancer_arn().unwrap_or_default().to_owned(),
                    lb.dns_name().unwrap_or_default().to_owned(),
                    lb.security_groups().to_vec(),
                )
            });
            assert!(
                start.elapsed() < TIMEOUT,
                "no ALB; controller log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let (arn, dns, sgs) = found.unwrap();
        let backend =
            support::security_groups_tagged(&clients, &[("elbv2.k8s.aws/resource", "backend-sg")])
                .await;
        assert_eq!(backend.len(), 1, "one backend security group: {backend:?}");
        assert!(
            sgs.iter().any(|sg| *sg == backend[0]) && sgs.len() == 2,
            "managed + backend security groups on the ALB: {sgs:?}"
        );
        (arn, dns)
    };
    let tags = clients
        .elbv2
        .describe_tags()
        .resource_arns(&lb_arn)
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<&str, &str> = tags.tag_descriptions()[0]
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?, t.value()?)))
        .collect();
    assert_eq!(tags.get("elbv2.k8s.aws/cluster"), Some(&CLUSTER));
    assert_eq!(tags.get("ingress.k8s.aws/stack"), Some(&"shop/web"));
    let tg_arn = clients
        .elbv2
        .describe_target_groups()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap()
        .target_groups()
        .first()
        .and_then(|tg| tg.target_group_arn())
        .unwrap()
        .to_owned();

    // Written back through the API: finalizer, status, binding, event.
    let writes = wait_for("the Ingress status write", &log, || {
        let writes = stub.writes();
        writes
            .iter()
            .any(|w| w.path.ends_with("/ingresses/web/status"))
            .then_some(writes)
    })
    .await;
    let finalizer = writes
        .iter()
        .position(|w| {
            w.method == "PATCH"
                && w.path == "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web"
                && w.body.to_string().contains("ingress.k8s.aws/resources")
        })
        .expect("finalizer patch");
    let status = writes
        .iter()
        .position(|w| w.path.ends_with("/ingresses/web/status"))
        .unwrap();
    assert!(finalizer < status, "the finalizer comes first: {writes:#?}");
    let status_body = &writes[status].body;
    assert_eq!(
        status_body["status"]["loadBalancer"]["ingress"][0]["hostname"],
        dns.to_lowercase(),
        "{status_body}"
    );
    assert!(
        writes[status].query.contains("fieldManager="),
        "server-side apply with our field manager: {:?}",
        writes[status].query
    );
    let binding = writes
        .iter()
        .find(|w| w.path.contains("/namespaces/shop/targetgroupbindings/"))
        .expect("a TargetGroupBinding applied");
    assert_eq!(binding.body["spec"]["targetGroupARN"], tg_arn.as_str());
    assert_eq!(binding.body["spec"]["serviceRef"]["name"], "web");
    let reasons: Vec<String> = stub
        .writes()
        .iter()
        .filter(|w| w.path.ends_with("/events"))
        .filter_map(|w| w.body["reason"].as_str().map(str::to_owned))
        .collect();
    wait_for("the success event", &log, || {
        stub.writes()
            .iter()
            .any(|w| w.path.ends_with("/events") && w.body["reason"] == "SuccessfullyReconciled")
            .then_some(())
    })
    .await;
    assert!(
        !reasons.iter().any(|r| r.starts_with("Failed")),
        "no failure events: {reasons:?}"
    );

    // Metrics: the AWS calls and the reconcile are counted.
    let (code, metrics) = http_get(metrics_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    // Exact names, as dashboards query them: whole lines, no stray prefix.
    let line = |wanted: &str| metrics.lines().any(|l| l == wanted);
    assert!(
        line(r#"aws_api_calls_total{service="elbv2",operation="CreateLoadBalancer"} 1"#),
        "{metrics}"
    );
    assert!(
        line(
            r#"aws_api_call_duration_seconds_count{service="elbv2",operation="CreateLoadBalancer"} 1"#
        ),
        "{metrics}"
    );
    let body = metrics.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    assert!(
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(
                |l| ["aws_api_", "awslbc_", "controller_runtime_", "workqueue_"]
                    .iter()
                    .any(|prefix| l.starts_with(prefix))
            ),
        "every series is aws_api_*, awslbc_* or controller-runtime's: {metrics}"
    );
    // controller-runtime's series, as upstream dashboards query them.
    assert!(
        metrics.lines().any(|l| l.starts_with(
            r#"controller_runtime_reconcile_total{controller="ingress",result="success"} "#
        )),
        "{metrics}"
    );
    assert!(
        line(r#"controller_runtime_max_concurrent_reconciles{controller="ingress"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"operation="CreateSecurityGroup"} 2"#),
        "managed + backend security group: {metrics}"
    );

    // The Ingress is deleted (it has our finalizer, so it lingers with a deletion timestamp):
    // every AWS resource of its stack goes, then the finalizer is removed.
    let mut deleting = objects()[INGRESSES][0].clone();
    deleting["metadata"]["resourceVersion"] = json!("2");
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    deleting["metadata"]["finalizers"] = json!(["ingress.k8s.aws/resources"]);
    stub.ingress_events
        .send(json!({"type": "MODIFIED", "object": deleting}))
        .expect("the controller watches Ingresses");
    wait_for("the finalizer removal", &log, || {
        stub.writes()
            .iter()
            .any(|w| {
                w.method == "PATCH"
                    && w.path == "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web"
                    && w.body.to_string().contains("remove")
            })
            .then_some(())
    })
    .await;
    let lbs = clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap();
    let tgs = clients.elbv2.describe_target_groups().send().await.unwrap();
    assert!(
        lbs.load_balancers().is_empty() && tgs.target_groups().is_empty(),
        "the stack is gone before the finalizer: {:?} {:?}",
        lbs.load_balancers(),
        tgs.target_groups()
    );
    let managed =
        support::security_groups_tagged(&clients, &[("ingress.k8s.aws/stack", "shop/web")]).await;
    assert!(
        managed.is_empty(),
        "the managed security group is gone: {managed:?}"
    );
    // The last group is gone: so is the cluster's backend security group (released after the
    // finalizer, so wait for it).
    let released = Instant::now();
    loop {
        let groups =
            support::security_groups_tagged(&clients, &[("elbv2.k8s.aws/resource", "backend-sg")])
                .await;
        if groups.is_empty() {
            break;
        }
        assert!(
            released.elapsed() < TIMEOUT,
            "the backend security group was not released; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // (Deleting the group's TargetGroupBindings needs them in the controller's cache, which
    // only a real API server's watch fills: the e2e suite checks that.)

    // It led: the lease is ours.
    let lease_path = format!("{LEASES}/aws-load-balancer-controller-leader");
    let holder = |stub: &Stub| {
        stub.leases
            .lock()
            .unwrap()
            .get(&lease_path)
            .map(|l| l["spec"]["holderIdentity"].clone())
    };
    assert_eq!(holder(&stub), Some(json!("smoke-0")));

    // SIGTERM: a clean exit, and the lease released for the next replica.
    let exit = controller.terminate().expect("exits on SIGTERM");
    assert!(
        exit.success(),
        "{exit}; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(holder(&stub), Some(Value::Null), "released on shutdown");
    if std::env::var_os("SMOKE_LOG").is_some() {
        eprintln!("{}", std::fs::read_to_string(&log).unwrap_or_default());
    }
    server.abort();
}
