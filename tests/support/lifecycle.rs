//! The Ingress lifecycle, end to end through the API server: refusal at apply, the defaults
//! written in, the ALB, the hostname in the status, the TargetGroupBinding, a path change, a
//! restart that duplicates nothing, and a deletion that removes every AWS resource of the stack.
//! The e2e suite runs it with its own webhook registration, the chart test with the chart's.

use std::time::{Duration, Instant};

use aws_io::AwsClients;
use contract::crd::TargetGroupBinding;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::e2e::{
    ControllerProcess, MANAGER, STACK_TAG, Setup, apply_class, eventually, import_certificate,
    ingress, listeners, owned_elbv2, owned_security_groups, rule_paths, service,
};

/// Runs the lifecycle; `start(identity)` starts a controller process (and its webhooks are
/// already reachable by the API server once it is ready).
pub async fn run(
    client: &Client,
    clients: &AwsClients,
    setup: &Setup,
    start: &dyn Fn(&str) -> ControllerProcess,
    after_first_ready: impl AsyncFnOnce(),
) {
    let ns = setup.namespace.as_str();
    let class = setup.class.as_str();
    let stack = format!("{ns}/web");

    let mut controller = start("e2e-first");
    controller.wait_ready().await;
    after_first_ready().await;

    apply_class(client, class, "ip").await;
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &service("web"))
        .await
        .expect("create the Service");

    // Admission through the API server: a bad annotation is refused with its name...
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let refusal = eventually("the webhook to answer (it refuses a bad scheme)", || {
        let ingresses = ingresses.clone();
        let bad = ingress(
            class,
            "/v1",
            json!({"alb.ingress.kubernetes.io/scheme": "sideways"}),
        );
        async move {
            match ingresses.create(&PostParams::default(), &bad).await {
                Err(kube::Error::Api(status))
                    if status.message.contains("alb.ingress.kubernetes.io/scheme") =>
                {
                    Some(status.message)
                }
                Err(other) => {
                    eprintln!("e2e: waiting for the webhook: {other}");
                    None
                }
                Ok(_) => panic!("an Ingress with scheme `sideways` was admitted"),
            }
        }
    })
    .await;
    eprintln!("e2e: refused as expected: {refusal}");
    // ...and a good one is admitted as written: nothing the controller derives (listen-ports,
    // target-type) is frozen into the object, so it can follow later changes.
    ingresses
        .patch(
            "web",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ingress(class, "/v1", json!({}))),
        )
        .await
        .expect("apply the Ingress");
    let stored = ingresses.get("web").await.expect("get the Ingress");
    let annotations = stored.metadata.annotations.unwrap_or_default();
    for derived in ["listen-ports", "target-type"] {
        assert!(
            !annotations.contains_key(&format!("alb.ingress.kubernetes.io/{derived}")),
            "{derived} written into the object: {annotations:?}"
        );
    }

    // The ALB, the hostname, the finalizer, the TargetGroupBinding.
    let lb = eventually("the ALB in AWS", || async {
        owned_elbv2(clients, STACK_TAG, &stack)
            .await
            .0
            .first()
            .cloned()
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
        .expect("get the Ingress")
        .metadata
        .finalizers
        .unwrap_or_default();
    assert!(
        finalizers.contains(&"ingress.k8s.aws/resources".to_owned()),
        "{finalizers:?}"
    );
    let bindings: Api<TargetGroupBinding> = Api::namespaced(client.clone(), ns);
    let binding = eventually("the TargetGroupBinding of the Service", || {
        let bindings = bindings.clone();
        async move {
            let list = bindings.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().next()
        }
    })
    .await;
    let (_, tgs) = owned_elbv2(clients, STACK_TAG, &stack).await;
    assert_eq!(binding.spec.service_ref.name, "web");
    assert_eq!(tgs.len(), 1, "{tgs:?}");
    assert_eq!(binding.spec.arn(), tgs.first().map(String::as_str));

    // A path change reaches the rule.
    ingresses
        .patch(
            "web",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ingress(class, "/v2", json!({}))),
        )
        .await
        .expect("change the path");
    eventually("the rule to match /v2", || {
        let lb = lb.clone();
        async move {
            let paths = rule_paths(clients, &lb).await;
            (paths.iter().any(|p| p.starts_with("/v2"))
                && !paths.iter().any(|p| p.starts_with("/v1")))
            .then_some(())
        }
    })
    .await;

    // A certificate added later: the listener follows (HTTPS:443 instead of HTTP:80), as
    // upstream derives it at every build.
    assert_eq!(
        listeners(clients, &lb).await,
        [(80, "HTTP".to_owned())].into(),
        "an Ingress without a certificate listens on HTTP:80"
    );
    let certificate = import_certificate(clients, &["web.example.com"]).await;
    ingresses
        .patch(
            "web",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ingress(
                class,
                "/v2",
                json!({"alb.ingress.kubernetes.io/certificate-arn": certificate}),
            )),
        )
        .await
        .expect("add a certificate");
    eventually("the listener to become HTTPS:443", || {
        let lb = lb.clone();
        async move {
            (listeners(clients, &lb).await == [(443, "HTTPS".to_owned())].into()).then_some(())
        }
    })
    .await;

    // Restart: a new process (a new identity, taking over the released lease) adopts what is
    // there and creates nothing twice.
    controller.stop();
    let mut controller = start("e2e-second");
    controller.wait_ready().await;
    let settled = Instant::now();
    while settled.elapsed() < Duration::from_secs(15) {
        let (lbs, tgs) = owned_elbv2(clients, STACK_TAG, &stack).await;
        let sgs = owned_security_groups(clients, &stack).await;
        assert_eq!(lbs.len(), 1, "one ALB after a restart: {lbs:?}");
        assert_eq!(tgs.len(), 1, "one target group after a restart: {tgs:?}");
        assert!(sgs.len() <= 1, "one managed security group: {sgs:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let paths = rule_paths(clients, &lb).await;
    assert!(
        paths.iter().any(|p| p.starts_with("/v2")),
        "the rule survived the restart: {paths:?}"
    );

    // Delete: every AWS resource of the stack goes, then the finalizer, then the binding.
    ingresses
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete the Ingress");
    eventually("the Ingress to be gone", || {
        let ingresses = ingresses.clone();
        async move { ingresses.get_opt("web").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let (lbs, tgs) = owned_elbv2(clients, STACK_TAG, &stack).await;
    let sgs = owned_security_groups(clients, &stack).await;
    assert!(
        lbs.is_empty() && tgs.is_empty() && sgs.is_empty(),
        "left behind: {lbs:?} {tgs:?} {sgs:?}"
    );
    eventually("the TargetGroupBinding to be gone", || {
        let bindings = bindings.clone();
        async move {
            let list = bindings.list(&ListParams::default()).await.ok()?;
            list.items.is_empty().then_some(())
        }
    })
    .await;
    controller.stop();
}
