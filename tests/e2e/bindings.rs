//! TargetGroupBindings on the real API server: EndpointSlice changes reach the target group
//! (RegisterTargets / DeregisterTargets), and the CRD serves both v1alpha1 and v1beta1.

use std::collections::BTreeSet;

use contract::crd::TargetGroupBinding;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::json;

use crate::World;
use crate::support::e2e::{
    ControllerProcess, MANAGER, apply_endpoint_slice, endpoint_slice, eventually, ip_binding,
    ip_target_group, registered_targets, service,
};

fn targets(ips: &[&str]) -> BTreeSet<String> {
    ips.iter().map(|ip| format!("{ip}:8080")).collect()
}

#[tokio::test]
async fn endpoint_slice_changes_reach_the_target_group() {
    let world = World::new().await;
    world.run(endpoint_scenario(&world)).await;
}

async fn endpoint_scenario(world: &World) {
    let setup = &world.setup;
    let client = &world.client;
    let ns = setup.namespace.as_str();
    let arn = ip_target_group(
        &world.clients,
        &world.net.vpc_id,
        &format!("e2e-{}", setup.id),
    )
    .await;

    let mut controller = ControllerProcess::start(setup, "bindings");
    controller.wait_ready().await;
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &service("echo"))
        .await
        .unwrap();
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let apply_slice = |ips: &[&str]| {
        let ips: Vec<String> = ips.iter().map(|s| (*s).to_owned()).collect();
        async move { apply_endpoint_slice(client, ns, "echo-1", "echo", &ips).await }
    };
    apply_slice(&["10.0.1.10"]).await;
    Api::<TargetGroupBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &ip_binding("echo", "echo", &arn))
        .await
        .unwrap();

    let expect = |wanted: BTreeSet<String>, what: &'static str| {
        let arn = arn.clone();
        async move {
            eventually(what, || {
                let wanted = wanted.clone();
                let arn = arn.clone();
                async move { (registered_targets(&world.clients, &arn).await == wanted).then_some(()) }
            })
            .await;
        }
    };
    expect(targets(&["10.0.1.10"]), "the first endpoint registered").await;
    apply_slice(&["10.0.1.10", "10.0.1.11"]).await;
    expect(
        targets(&["10.0.1.10", "10.0.1.11"]),
        "a new endpoint registered",
    )
    .await;
    apply_slice(&["10.0.1.11"]).await;
    expect(targets(&["10.0.1.11"]), "a removed endpoint deregistered").await;

    // A not-ready endpoint is not a target.
    let mut slice = endpoint_slice(
        "echo-1",
        "echo",
        &["10.0.1.11".to_owned(), "10.0.1.12".to_owned()],
    );
    if let Some(ep) = slice.endpoints.as_mut().and_then(|e| e.get_mut(1)) {
        ep.conditions = Some(serde_json::from_value(json!({"ready": false})).unwrap());
    }
    slices
        .patch(
            "echo-1",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&slice),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        registered_targets(&world.clients, &arn).await,
        targets(&["10.0.1.11"]),
        "a not-ready endpoint stays out"
    );

    // Deleting the binding deregisters its targets and releases the finalizer.
    let bindings: Api<TargetGroupBinding> = Api::namespaced(client.clone(), ns);
    bindings.delete("echo", &Default::default()).await.unwrap();
    eventually("the binding to be gone", || async {
        bindings.get_opt("echo").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(
        registered_targets(&world.clients, &arn).await.is_empty(),
        "targets deregistered with the binding"
    );
    controller.stop();
}

#[tokio::test]
async fn target_group_binding_is_served_as_v1alpha1_and_v1beta1() {
    let world = World::new().await;
    world.run(versions_scenario(&world)).await;
}

async fn versions_scenario(world: &World) {
    let client = &world.client;
    let ns = world.setup.namespace.as_str();
    let alpha = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "elbv2.k8s.aws",
        "v1alpha1",
        "TargetGroupBinding",
    ));
    let alpha_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &alpha);
    let beta_api: Api<TargetGroupBinding> = Api::namespaced(client.clone(), ns);
    let arn =
        "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/e2e/0123456789abcdef";

    // Written as v1alpha1, read as v1beta1.
    let old: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "elbv2.k8s.aws/v1alpha1", "kind": "TargetGroupBinding",
        "metadata": {"name": "from-alpha"},
        "spec": {"targetGroupARN": arn, "targetType": "ip",
                 "serviceRef": {"name": "web", "port": 80}}
    }))
    .unwrap();
    alpha_api
        .create(&PostParams::default(), &old)
        .await
        .unwrap();
    let read = beta_api.get("from-alpha").await.unwrap();
    assert_eq!(read.spec.arn(), Some(arn));
    assert_eq!(read.spec.service_ref.name, "web");

    // Written as v1beta1, read as v1alpha1.
    beta_api
        .create(&PostParams::default(), &ip_binding("from-beta", "web", arn))
        .await
        .unwrap();
    let read = alpha_api.get("from-beta").await.unwrap();
    assert_eq!(
        read.types.as_ref().map(|t| t.api_version.as_str()),
        Some("elbv2.k8s.aws/v1alpha1")
    );
    assert_eq!(read.data["spec"]["targetGroupARN"], json!(arn));
    assert_eq!(read.data["spec"]["serviceRef"]["name"], json!("web"));

    // Both versions are listed, v1beta1 is the preferred one.
    let discovery = kube::discovery::oneshot::group(client, "elbv2.k8s.aws")
        .await
        .unwrap();
    let versions: Vec<&str> = discovery.versions().collect();
    assert!(
        versions.contains(&"v1alpha1") && versions.contains(&"v1beta1"),
        "{versions:?}"
    );
    assert_eq!(discovery.preferred_version_or_latest(), "v1beta1");
}
