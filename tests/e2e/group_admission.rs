//! Nothing admitted that the model then refuses: the validating webhook builds the incoming
//! Ingress's whole IngressGroup (from the controller's caches, no AWS call) and refuses a
//! member that conflicts with one already stored, with the model's own message.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::World;
use crate::support::e2e::{
    ControllerProcess, MANAGER, apply_class, eventually, ingress_named, register_webhooks, service,
};

#[tokio::test]
async fn a_member_conflicting_with_its_group_is_refused_at_apply() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

async fn scenario(world: &World) {
    let setup = &world.setup;
    let client = &world.client;
    let ns = setup.namespace.as_str();
    let group = format!("e2e-group-{}", setup.id);
    let mut controller = ControllerProcess::start(setup, "group-admission");
    controller.wait_ready().await;
    register_webhooks(client, setup, &world.ca.pem).await;
    apply_class(client, &setup.class, "ip").await;
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let member = |name: &str, lb_name: &str, port: i32| {
        let mut ing = ingress_named(
            name,
            &setup.class,
            &format!("/{name}"),
            "web",
            json!({"alb.ingress.kubernetes.io/group.name": group,
                   "alb.ingress.kubernetes.io/load-balancer-name": lb_name}),
        );
        if let Some(backend) = ing
            .spec
            .as_mut()
            .and_then(|s| s.rules.as_mut())
            .and_then(|r| r.first_mut())
            .and_then(|r| r.http.as_mut())
            .and_then(|h| h.paths.first_mut())
            .and_then(|p| p.backend.service.as_mut())
        {
            backend.port = Some(serde_json::from_value(json!({"number": port})).unwrap());
        }
        ing
    };

    // The first member is admitted (once the webhook answers) and deployed: the controller's
    // caches hold it.
    eventually("the first member to be admitted", || async {
        match ingresses
            .patch(
                "a",
                &PatchParams::apply(MANAGER),
                &Patch::Apply(&member("a", "e2e-foo", 80)),
            )
            .await
        {
            Ok(_) => Some(()),
            Err(error) => {
                eprintln!("e2e group: waiting for the webhook: {error}");
                None
            }
        }
    })
    .await;
    eventually("the group's hostname", || async {
        let ing = ingresses.get("a").await.ok()?;
        ing.status?
            .load_balancer?
            .ingress?
            .first()?
            .hostname
            .clone()
    })
    .await;

    // A second member naming another load balancer is refused by the API server.
    let refused = ingresses
        .patch(
            "b",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&member("b", "e2e-baz", 80)),
        )
        .await
        .expect_err("a conflicting member must be refused");
    let message = refused.to_string();
    eprintln!("e2e group: refused as expected: {message}");
    assert!(
        message.contains(&format!("IngressGroup {group}"))
            && message.contains("conflicting load balancer name: [e2e-baz e2e-foo]"),
        "{message}"
    );
    // So is a backend port the Service does not have.
    let refused = ingresses
        .patch(
            "b",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&member("b", "e2e-foo", 8080)),
        )
        .await
        .expect_err("a missing Service port must be refused");
    assert!(
        refused
            .to_string()
            .contains("unable to find port 8080 on service"),
        "{refused}"
    );
    // An agreeing member is admitted.
    ingresses
        .patch(
            "b",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&member("b", "e2e-foo", 80)),
        )
        .await
        .expect("an agreeing member is admitted");
    controller.stop();
}
