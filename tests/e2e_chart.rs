//! The Helm chart on a real API server (its own control plane: the chart's webhooks are
//! cluster-wide), installed and upgraded with the real Helm 4 SDK (`tests/cluster/
//! helm_release.py`):
//!
//! * the webhook configurations, the TLS Secret and the CRDs are created, the CRDs established;
//! * `helm upgrade` keeps the CA and the serving certificate;
//! * upstream's values (`controllerConfig.featureGates`, `defaultTags`, `logLevel`, ...) become
//!   arguments the binary runs with;
//! * then the controller binary runs on this host *as the chart's ServiceAccount* (a token from
//!   the TokenRequest API, so the chart's RBAC is all it has), with the chart's own flags and
//!   serving certificate, behind the chart's own webhook configurations (the API server reaches
//!   the webhook Service through the control plane's egress proxy), through the whole Ingress
//!   lifecycle — and its log never says `forbidden`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::cluster::{FORWARD_ANNOTATION, TestCluster};
use support::e2e::{ControllerProcess, Launch, MANAGER, World, crd_established};

const RELEASE: &str = "aws-load-balancer-controller";

fn helm(verb: &str, kubeconfig: &Path, namespace: &str, values: &serde_json::Value) {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/helm_release.py");
    let out = Command::new(python)
        .arg(script)
        .args([verb, &kubeconfig.display().to_string(), namespace, RELEASE])
        .arg(values.to_string())
        .output()
        .expect("run the Helm SDK (make venv installs it)");
    assert!(
        out.status.success(),
        "helm {verb} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A Service of type LoadBalancer through the chart's Service webhooks (the mutator gives it the
/// class, the validator builds it) and the controller, as the chart's ServiceAccount: the NLB
/// hostname and finalizer appear, deletion removes them with the Service.
async fn service_lifecycle(
    client: &Client,
    setup: &support::e2e::Setup,
    start: &dyn Fn(&str) -> ControllerProcess,
) {
    let mut controller = start("chart-nlb");
    controller.wait_ready().await;
    let services: Api<Service> = Api::namespaced(client.clone(), &setup.namespace);
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "echo", "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": "echo"},
                 "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .unwrap();
    let created = services
        .create(&PostParams::default(), &service)
        .await
        .expect("create a LoadBalancer Service");
    assert_eq!(
        created.spec.and_then(|s| s.load_balancer_class).as_deref(),
        Some("service.k8s.aws/nlb"),
        "the chart's mservice webhook claims class-less LoadBalancer Services"
    );
    support::e2e::eventually("the Service's NLB hostname and finalizer", || async {
        let svc = services.get("echo").await.ok()?;
        let finalized = svc
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "service.k8s.aws/resources");
        let hostname = svc
            .status?
            .load_balancer?
            .ingress?
            .first()?
            .hostname
            .clone();
        (finalized && hostname.is_some()).then_some(())
    })
    .await;
    services
        .delete("echo", &Default::default())
        .await
        .expect("delete the Service");
    support::e2e::eventually("the Service to be gone", || async {
        services.get_opt("echo").await.ok()?.is_none().then_some(())
    })
    .await;
    controller.stop();
}

/// The CA bundles of every webhook of the release.
async fn ca_bundles(client: &Client) -> BTreeMap<String, ByteString> {
    let selector = ListParams::default().labels(&format!("app.kubernetes.io/instance={RELEASE}"));
    let mut out = BTreeMap::new();
    for config in Api::<MutatingWebhookConfiguration>::all(client.clone())
        .list(&selector)
        .await
        .unwrap()
    {
        for hook in config.webhooks.unwrap_or_default() {
            out.insert(hook.name, hook.client_config.ca_bundle.expect("a caBundle"));
        }
    }
    for config in Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .list(&selector)
        .await
        .unwrap()
    {
        for hook in config.webhooks.unwrap_or_default() {
            out.insert(hook.name, hook.client_config.ca_bundle.expect("a caBundle"));
        }
    }
    out
}

/// A kubeconfig for `service_account` in `namespace`, with a token from the TokenRequest API.
async fn service_account_kubeconfig(
    client: &Client,
    cluster: &TestCluster,
    namespace: &str,
    service_account: &str,
    dir: &Path,
) -> PathBuf {
    let request: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}
    }))
    .unwrap();
    let token = Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create_token_request(service_account, &PostParams::default(), &request)
        .await
        .expect("a token for the chart's ServiceAccount")
        .status
        .expect("a token")
        .token;
    let (server, ca) = cluster.server_and_ca();
    let ca_path = dir.join("cluster-ca.crt");
    std::fs::write(&ca_path, ca).unwrap();
    let path = dir.join("kubeconfig-service-account");
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority": ca_path}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa", "namespace": namespace}}],
        "current-context": "sa"
    });
    std::fs::write(&path, kubeconfig.to_string()).unwrap();
    path
}

#[tokio::test]
async fn chart_installs_upgrades_and_its_rbac_covers_the_lifecycle() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

async fn scenario(world: &World) {
    let cluster = &world.cluster;
    let client = &world.client;
    let setup = &world.setup;
    let release_ns = format!("lbc-chart-{}", setup.id);
    let values = json!({
        "clusterName": setup.cluster,
        "region": support::moto::REGION,
        "vpcId": setup.vpc_id,
        "awsEndpointUrl": setup.aws_endpoint,
        "ingressClass": setup.class,
        "createIngressClassResource": false,
        "replicaCount": 1,
        // Upstream's keys, as an upstream values file sets them: they become flags the binary
        // must accept (it runs below with the Deployment's own arguments).
        "controllerConfig": {"featureGates": {"EnableIPTargetType": true, "NLBHealthCheckAdvancedConfig": true}},
        "defaultTags": {"e2e": setup.id},
        "logLevel": "debug",
        "syncPeriod": "10h0m0s",
        "awsMaxRetries": 3,
        "tolerateNonExistentBackendService": true,
        "defaultSSLPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    });

    // Install: webhook configurations, Secret, CRDs.
    helm("install", &cluster.kubeconfig, &release_ns, &values);
    for crd in [
        "ingressclassparams.elbv2.k8s.aws",
        "targetgroupbindings.elbv2.k8s.aws",
    ] {
        crd_established(client, crd).await;
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &release_ns);
    let installed = secrets
        .get("aws-load-balancer-tls")
        .await
        .expect("the chart's TLS Secret")
        .data
        .expect("TLS data");
    for key in ["ca.crt", "tls.crt", "tls.key"] {
        assert!(installed.contains_key(key), "the Secret has {key}");
    }
    let bundles = ca_bundles(client).await;
    for hook in [
        "vingress.elbv2.k8s.aws",
        "mtargetgroupbinding.elbv2.k8s.aws",
        "vtargetgroupbinding.elbv2.k8s.aws",
        "vingressclassparams.elbv2.k8s.aws",
        "mpod.elbv2.k8s.aws",
        "mservice.elbv2.k8s.aws",
        "vservice.elbv2.k8s.aws",
    ] {
        assert_eq!(
            bundles.get(hook),
            installed.get("ca.crt"),
            "{hook}'s caBundle is the Secret's CA: {:?}",
            bundles.keys()
        );
    }

    // Upgrade keeps the CA and the certificate.
    helm("upgrade", &cluster.kubeconfig, &release_ns, &values);
    let upgraded = secrets
        .get("aws-load-balancer-tls")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(upgraded, installed, "helm upgrade kept the TLS Secret");
    assert_eq!(
        ca_bundles(client).await,
        bundles,
        "helm upgrade kept the caBundles"
    );

    // The controller as the chart runs it: its flags, its ServiceAccount, its certificate.
    let deployment = Api::<Deployment>::namespaced(client.clone(), &release_ns)
        .get(RELEASE)
        .await
        .expect("the chart's Deployment");
    let pod = deployment.spec.template.spec.unwrap();
    let service_account = pod.service_account_name.clone().expect("a ServiceAccount");
    let container = pod.containers.into_iter().next().expect("a container");
    // The per-process bind addresses and the certificate directory are this host's.
    let args: Vec<String> = container
        .args
        .unwrap_or_default()
        .into_iter()
        .skip_while(|a| a == "serve")
        .filter(|a| {
            ![
                "--webhook-bind-port",
                "--webhook-cert-dir",
                "--metrics-bind-addr",
            ]
            .iter()
            .any(|flag| a.starts_with(flag))
        })
        .collect();
    let mut env: Vec<(String, String)> = container
        .env
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| Some((e.name, e.value?)))
        .filter(|(name, _)| name != "AWS_ENDPOINT_URL")
        .collect();
    env.push(("POD_NAMESPACE".to_owned(), release_ns.clone()));
    for (key, file) in [("tls.crt", "tls.crt"), ("tls.key", "tls.key")] {
        std::fs::write(setup.cert_dir.join(file), &upgraded[key].0).unwrap();
    }
    let kubeconfig = service_account_kubeconfig(
        client,
        cluster,
        &release_ns,
        &service_account,
        &setup.log_dir,
    )
    .await;
    // The API server calls the chart's webhook Service; the egress proxy sends it here.
    let service_name = "aws-load-balancer-webhook-service";
    Api::<Service>::namespaced(client.clone(), &release_ns)
        .patch(
            service_name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": service_name,
                             "annotations": {FORWARD_ANNOTATION: setup.webhook_port.to_string()}}
            })),
        )
        .await
        .expect("annotate the webhook Service");

    let logs = std::cell::RefCell::new(Vec::new());
    let start = |identity: &str| {
        let process = ControllerProcess::launch(
            setup,
            Launch {
                identity,
                args: args.clone(),
                kubeconfig: &kubeconfig,
                access_key: "testing",
                env: env.clone(),
                webhook_port: setup.webhook_port,
            },
        );
        logs.borrow_mut().push(process.log.clone());
        process
    };
    support::lifecycle::run(client, &world.clients, setup, &start, async || {}).await;
    service_lifecycle(client, setup, &start).await;

    for log in logs.borrow().iter() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let forbidden: Vec<&str> = text
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains("forbidden"))
            .collect();
        assert!(
            forbidden.is_empty(),
            "the chart's RBAC refused the controller ({}):\n{}",
            log.display(),
            forbidden.join("\n")
        );
    }
    helm("uninstall", &cluster.kubeconfig, &release_ns, &json!({}));
}
