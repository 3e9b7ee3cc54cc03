//! End to end against the cluster in `KUBECONFIG` and an AWS emulator (`AWS_ENDPOINT_URL`, or
//! a moto server started by the test harness): the controller runs in this process (no Helm),
//! reconciles a real Ingress into an ALB, writes the hostname into the Ingress status,
//! follows a path change into the listener rule, survives a restart without duplicating
//! anything, and deletes every owned AWS resource when the Ingress goes.
//!
//! `#[ignore]`d: run with `make e2e` (or `cargo test --test e2e -- --ignored`).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_load_balancer_controller::controller::adapters::{
    AwsRegistrar, ModelBuilder, load_vpc_facts,
};
use aws_load_balancer_controller::controller::metrics::ControllerMetrics;
use aws_load_balancer_controller::deploy::{AwsClients, Deployer};
use aws_load_balancer_controller::model::ClusterFacts;
use aws_load_balancer_controller::runtime::controllers::{self, Backends, ControllerSettings};
use aws_load_balancer_controller::runtime::leader;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use webhook::crd::IngressClassParams;

const MANAGER: &str = "lbc-e2e";
const TIMEOUT: Duration = Duration::from_secs(180);

async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "timed out after {TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:06x}", (nanos ^ std::process::id()) & 0xff_ffff)
}

async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).unwrap();
            if value.is_null() {
                continue;
            }
            let crd: CustomResourceDefinition = serde_yaml::from_value(value).unwrap();
            let name = crd.metadata.name.clone().unwrap();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("install CRD {name}: {e}"));
            eventually(&format!("CRD {name} established"), || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.ok()?;
                    crd.status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(())
                }
            })
            .await;
        }
    }
}

use serde::Deserialize as _;

/// AWS clients for the emulator: `AWS_ENDPOINT_URL` when set, else the harness's own moto.
async fn aws() -> (AwsClients, Option<support::moto::Account>) {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) => (
            AwsClients::new(&support::moto::sdk_config(&url).await, &[]),
            None,
        ),
        Err(_) => {
            let account = support::moto::Account::new().await;
            (account.clients.clone(), Some(account))
        }
    }
}

/// The load balancers and target groups tagged with our stack.
async fn owned(clients: &AwsClients, stack: &str) -> (Vec<String>, Vec<String>) {
    let lbs: Vec<String> = clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
        .collect();
    let tgs: Vec<String> = clients
        .elbv2
        .describe_target_groups()
        .send()
        .await
        .unwrap()
        .target_groups()
        .iter()
        .filter_map(|tg| tg.target_group_arn().map(str::to_owned))
        .collect();
    let mut mine = (Vec::new(), Vec::new());
    for (arns, out) in [(&lbs, &mut mine.0), (&tgs, &mut mine.1)] {
        for chunk in arns.chunks(20) {
            if chunk.is_empty() {
                continue;
            }
            let tags = clients
                .elbv2
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            for desc in tags.tag_descriptions() {
                let ours = desc
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some("ingress.k8s.aws/stack") && t.value() == Some(stack));
                if ours {
                    out.extend(desc.resource_arn().map(str::to_owned));
                }
            }
        }
    }
    mine
}

async fn rule_paths(clients: &AwsClients, lb_arn: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let listeners = clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    for listener in listeners.listeners() {
        let rules = clients
            .elbv2
            .describe_rules()
            .listener_arn(listener.listener_arn().unwrap_or_default())
            .send()
            .await
            .unwrap();
        for rule in rules.rules() {
            for condition in rule.conditions() {
                if let Some(config) = condition.path_pattern_config() {
                    paths.extend(config.values().iter().cloned());
                }
                paths.extend(condition.values().iter().cloned());
            }
        }
    }
    paths
}

fn start_controller(
    client: Client,
    clients: &AwsClients,
    facts: ClusterFacts,
    cluster: &str,
    class: &str,
) -> (controllers::Controllers, tokio::task::JoinHandle<()>) {
    let config =
        aws_load_balancer_controller::deploy::DeployConfig::new(cluster, facts.vpc_id.clone());
    let backends = Backends {
        builder: Arc::new(ModelBuilder::new(facts)),
        deployer: Arc::new(Deployer::new(clients.clone(), config)),
        registrar: Arc::new(AwsRegistrar::new(clients.elbv2.clone())),
    };
    let settings = ControllerSettings {
        ingress_class: class.to_owned(),
        sync_period: Duration::from_secs(60),
        instance: "e2e".to_owned(),
        ..ControllerSettings::default()
    };
    let (handle, run) = controllers::start(
        client,
        leader::always_leader(),
        backends,
        settings,
        ControllerMetrics::default(),
    );
    (handle, tokio::spawn(run))
}

#[tokio::test]
#[ignore = "needs a cluster in KUBECONFIG and an AWS emulator (make e2e)"]
async fn ingress_lifecycle_against_a_cluster_and_an_aws_emulator() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "set KUBECONFIG to a disposable cluster (kind, k3d, ...) to run the e2e suite"
    );
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = Client::try_default().await.unwrap();
    let id = suffix();
    let ns = format!("lbc-e2e-{id}");
    let class = format!("alb-e2e-{id}");
    let cluster = format!("e2e-{id}");

    // Namespace, CRDs, IngressClass + IngressClassParams, Service, Ingress.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    install_crds(&client).await;
    let params: Api<IngressClassParams> = Api::all(client.clone());
    let icp: IngressClassParams = serde_json::from_value(json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "IngressClassParams",
        "metadata": {"name": class}, "spec": {"scheme": "internal"}
    }))
    .unwrap();
    params
        .patch(&class, &PatchParams::apply(MANAGER), &Patch::Apply(&icp))
        .await
        .unwrap();
    let classes: Api<IngressClass> = Api::all(client.clone());
    let ic: IngressClass = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": class},
        "spec": {"controller": "ingress.k8s.aws/alb",
                 "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": class}}
    }))
    .unwrap();
    classes
        .patch(&class, &PatchParams::apply(MANAGER), &Patch::Apply(&ic))
        .await
        .unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), &ns);
    let ingress = |path: &str| -> Ingress {
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "annotations": {"alb.ingress.kubernetes.io/target-type": "ip"}},
            "spec": {"ingressClassName": class, "rules": [{"http": {"paths": [{
                "path": path, "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
        }))
        .unwrap()
    };
    ingresses
        .patch(
            "web",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ingress("/v1")),
        )
        .await
        .unwrap();

    // AWS side: a VPC with tagged subnets.
    let (clients, _account) = aws().await;
    let net = support::network(&clients).await;
    for subnet in &net.subnets {
        clients
            .ec2
            .create_tags()
            .resources(subnet)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("kubernetes.io/role/internal-elb")
                    .value("1")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let mut facts = ClusterFacts::new(cluster.clone(), net.vpc_id.clone());
    facts.backend_security_group = Some(net.backend_sg.clone());
    load_vpc_facts(&clients.ec2, &mut facts).await.unwrap();
    let stack = format!("{ns}/web");

    // Run the controller; wait for the ALB and the hostname.
    let (handle, task) =
        start_controller(client.clone(), &clients, facts.clone(), &cluster, &class);
    let lb = eventually("the ALB in AWS", || {
        let clients = clients.clone();
        let stack = stack.clone();
        async move { owned(&clients, &stack).await.0.first().cloned() }
    })
    .await;
    let hostname = eventually("the hostname in the Ingress status", || {
        let ingresses = ingresses.clone();
        async move {
            let ing = ingresses.get("web").await.ok()?;
            ing.status?
                .load_balancer?
                .ingress?
                .first()?
                .hostname
                .clone()
        }
    })
    .await;
    assert!(hostname.contains("elb"), "{hostname}");
    let finalizers = ingresses
        .get("web")
        .await
        .unwrap()
        .metadata
        .finalizers
        .unwrap_or_default();
    assert!(
        finalizers.contains(&"ingress.k8s.aws/resources".to_owned()),
        "{finalizers:?}"
    );

    // Change a path: the rule follows.
    ingresses
        .patch(
            "web",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ingress("/v2")),
        )
        .await
        .unwrap();
    eventually("the rule to match /v2", || {
        let clients = clients.clone();
        let lb = lb.clone();
        async move {
            let paths = rule_paths(&clients, &lb).await;
            (paths.iter().any(|p| p.starts_with("/v2"))
                && !paths.iter().any(|p| p.starts_with("/v1")))
            .then_some(())
        }
    })
    .await;

    // Restart mid-way: no duplicates.
    handle.shutdown();
    task.abort();
    let (handle, task) = start_controller(client.clone(), &clients, facts, &cluster, &class);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (lbs, tgs) = owned(&clients, &stack).await;
    assert_eq!(lbs.len(), 1, "one ALB after a restart: {lbs:?}");
    assert_eq!(tgs.len(), 1, "one target group after a restart: {tgs:?}");

    // Delete: every owned AWS resource goes, then the finalizer.
    ingresses
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the Ingress to be gone", || {
        let ingresses = ingresses.clone();
        async move { ingresses.get_opt("web").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let (lbs, tgs) = owned(&clients, &stack).await;
    assert!(
        lbs.is_empty() && tgs.is_empty(),
        "left behind: {lbs:?} {tgs:?}"
    );

    // Clean up.
    handle.shutdown();
    task.abort();
    let _ = classes.delete(&class, &DeleteParams::default()).await;
    let _ = params.delete(&class, &DeleteParams::default()).await;
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
}
