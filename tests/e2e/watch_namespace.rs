//! `--watch-namespace`: only that namespace's Ingresses are reconciled; an Ingress of the same
//! class elsewhere gets no load balancer and no finalizer.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::World;
use crate::support::e2e::{
    ControllerProcess, Launch, MANAGER, STACK_TAG, apply_class, create_namespace, eventually,
    ingress, owned_elbv2, service,
};

#[tokio::test]
async fn only_the_watched_namespace_is_reconciled() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

async fn scenario(world: &World) {
    let setup = &world.setup;
    let client = &world.client;
    let watched = setup.namespace.as_str();
    let other = format!("{watched}-other");
    create_namespace(client, &other).await;
    let mut args = setup.serve_args();
    args.push(format!("--watch-namespace={watched}"));
    let mut controller = ControllerProcess::launch(
        setup,
        Launch {
            identity: "watch-namespace",
            args,
            kubeconfig: &setup.kubeconfig,
            access_key: "testing",
            env: vec![("POD_NAMESPACE".to_owned(), watched.to_owned())],
            webhook_port: setup.webhook_port,
        },
    );
    controller.wait_ready().await;
    apply_class(client, &setup.class, "ip").await;
    for ns in [watched, other.as_str()] {
        Api::<Service>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &service("web"))
            .await
            .unwrap();
        Api::<Ingress>::namespaced(client.clone(), ns)
            .patch(
                "web",
                &PatchParams::apply(MANAGER),
                &Patch::Apply(&ingress(&setup.class, "/", json!({}))),
            )
            .await
            .unwrap();
    }
    eventually("the watched namespace's ALB", || async {
        owned_elbv2(&world.clients, STACK_TAG, &format!("{watched}/web"))
            .await
            .0
            .first()
            .cloned()
    })
    .await;
    // By then the other Ingress would have been deployed too, had it been watched.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (lbs, _) = owned_elbv2(&world.clients, STACK_TAG, &format!("{other}/web")).await;
    assert!(lbs.is_empty(), "the unwatched namespace got {lbs:?}");
    let unwatched = Api::<Ingress>::namespaced(client.clone(), &other)
        .get("web")
        .await
        .unwrap();
    assert!(
        unwatched.metadata.finalizers.unwrap_or_default().is_empty(),
        "no finalizer on the unwatched Ingress"
    );
    controller.stop();
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .delete(&other, &Default::default())
        .await;
}
