//! Deleting a namespace that holds Ingresses and TargetGroupBindings: kube-controller-manager's
//! namespace controller deletes them, the controller releases its AWS resources and its
//! finalizers, and the namespace goes away — nothing left in AWS, no finalizer stuck.

use contract::crd::TargetGroupBinding;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::World;
use crate::support::e2e::{
    ControllerProcess, MANAGER, STACK_TAG, apply_class, endpoint_slice, eventually, ingress_named,
    ip_binding, ip_target_group, owned_elbv2, owned_security_groups, registered_targets, service,
};

#[tokio::test]
async fn namespace_deletion_leaves_nothing_behind() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

async fn scenario(world: &World) {
    let setup = &world.setup;
    let client = &world.client;
    let ns = setup.namespace.as_str();
    let group = format!("e2e-ns-{}", setup.id);
    let user_tg = ip_target_group(
        &world.clients,
        &world.net.vpc_id,
        &format!("e2e-ns-{}", setup.id),
    )
    .await;

    let mut controller = ControllerProcess::start(setup, "namespace");
    controller.wait_ready().await;
    apply_class(client, &setup.class, "ip").await;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    for name in ["web", "api"] {
        services
            .create(&PostParams::default(), &service(name))
            .await
            .unwrap();
    }
    Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .patch(
            "api-1",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&endpoint_slice("api-1", "api", &["10.0.2.20".to_owned()])),
        )
        .await
        .unwrap();
    // Two Ingresses in one explicit group, and a binding of the user's own target group.
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    for (name, path, svc) in [("web", "/web", "web"), ("api", "/api", "api")] {
        let ing = ingress_named(
            name,
            &setup.class,
            path,
            svc,
            json!({"alb.ingress.kubernetes.io/group.name": group}),
        );
        ingresses
            .patch(name, &PatchParams::apply(MANAGER), &Patch::Apply(&ing))
            .await
            .unwrap();
    }
    Api::<TargetGroupBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &ip_binding("user", "api", &user_tg))
        .await
        .unwrap();

    let lb = eventually("the group's ALB", || async {
        owned_elbv2(&world.clients, STACK_TAG, &group)
            .await
            .0
            .first()
            .cloned()
    })
    .await;
    eventually("the hostname on both Ingresses", || async {
        for name in ["web", "api"] {
            let ing = ingresses.get(name).await.ok()?;
            ing.status?
                .load_balancer?
                .ingress?
                .first()?
                .hostname
                .clone()?;
        }
        Some(())
    })
    .await;
    eventually("the user's binding to register its target", || async {
        (!registered_targets(&world.clients, &user_tg)
            .await
            .is_empty())
        .then_some(())
    })
    .await;
    eprintln!("e2e namespace: {lb} deployed; deleting namespace {ns}");

    Api::<Namespace>::all(client.clone())
        .delete(ns, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the namespace to be gone (no finalizer stuck)", || async {
        Api::<Namespace>::all(client.clone())
            .get_opt(ns)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let (lbs, tgs) = owned_elbv2(&world.clients, STACK_TAG, &group).await;
    let sgs = owned_security_groups(&world.clients, &group).await;
    assert!(
        lbs.is_empty() && tgs.is_empty() && sgs.is_empty(),
        "left behind in AWS: {lbs:?} {tgs:?} {sgs:?}"
    );
    assert!(
        registered_targets(&world.clients, &user_tg)
            .await
            .is_empty(),
        "the user's target group keeps no target of the deleted binding"
    );
    controller.stop();
}
