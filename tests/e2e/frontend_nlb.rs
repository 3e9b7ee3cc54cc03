//! An Ingress with `enable-frontend-nlb`: the NLB in front of the ALB, its hostname as the
//! second status entry, the ALB registered in its target group; switching it off deletes the
//! NLB and its target group and leaves the ALB; deleting the Ingress removes everything.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::World;
use crate::support::e2e::{
    ControllerProcess, STACK_TAG, apply_class, eventually, ingress, owned_elbv2, service,
};

const ENABLE: &str = "alb.ingress.kubernetes.io/enable-frontend-nlb";

#[tokio::test]
async fn a_frontend_nlb_fronts_the_alb_until_switched_off() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

/// The hostnames of the Ingress's status, in order.
async fn hostnames(ingresses: &Api<Ingress>) -> Vec<String> {
    ingresses
        .get("web")
        .await
        .ok()
        .and_then(|i| i.status?.load_balancer?.ingress)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.hostname)
        .collect()
}

async fn scenario(world: &World) {
    let setup = &world.setup;
    let client = &world.client;
    apply_class(client, &setup.class, "ip").await;
    Api::<Service>::namespaced(client.clone(), &setup.namespace)
        .create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    let mut controller = ControllerProcess::start(setup, "frontend-nlb");
    controller.wait_ready().await;

    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), &setup.namespace);
    ingresses
        .create(
            &PostParams::default(),
            &ingress(&setup.class, "/", json!({ENABLE: "true"})),
        )
        .await
        .unwrap();
    let stack = format!("{}/web", setup.namespace);

    // Two hostnames: the ALB's, then the NLB's.
    let hosts = eventually("the ALB and NLB hostnames", || async {
        let hosts = hostnames(&ingresses).await;
        (hosts.len() == 2).then_some(hosts)
    })
    .await;
    let (lbs, tgs) = owned_elbv2(&world.clients, STACK_TAG, &stack).await;
    assert_eq!((lbs.len(), tgs.len()), (2, 2), "{lbs:?} {tgs:?}");
    let described = world
        .clients
        .elbv2
        .describe_load_balancers()
        .set_load_balancer_arns(Some(lbs.clone()))
        .send()
        .await
        .unwrap();
    let by_type = |kind: &str| {
        described
            .load_balancers()
            .iter()
            .find(|lb| lb.r#type().map(|t| t.as_str()) == Some(kind))
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} load balancer: {described:?}"))
    };
    let alb = by_type("application");
    let nlb = by_type("network");
    assert_eq!(
        nlb.load_balancer_name(),
        Some(format!("{}-nlb", alb.load_balancer_name().unwrap()).as_str())
    );
    assert_eq!(
        hosts,
        [
            alb.dns_name().unwrap().to_ascii_lowercase(),
            nlb.dns_name().unwrap().to_ascii_lowercase()
        ]
    );
    // The NLB's target group is of type alb, with the ALB registered on port 80.
    let groups = world
        .clients
        .elbv2
        .describe_target_groups()
        .load_balancer_arn(nlb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let group = &groups.target_groups()[0];
    assert_eq!(group.target_type().map(|t| t.as_str()), Some("alb"));
    let health = world
        .clients
        .elbv2
        .describe_target_health()
        .target_group_arn(group.target_group_arn().unwrap())
        .send()
        .await
        .unwrap();
    let targets: Vec<(Option<&str>, Option<i32>)> = health
        .target_health_descriptions()
        .iter()
        .filter_map(|d| d.target())
        .map(|t| (t.id(), t.port()))
        .collect();
    assert_eq!(targets, [(alb.load_balancer_arn(), Some(80))]);

    // Switched off: the NLB and its target group go, the ALB and its hostname stay.
    ingresses
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {ENABLE: "false"}}})),
        )
        .await
        .unwrap();
    eventually("the NLB to be deleted", || async {
        let (lbs, tgs) = owned_elbv2(&world.clients, STACK_TAG, &stack).await;
        (lbs.len() == 1 && tgs.len() == 1 && hostnames(&ingresses).await.len() == 1).then_some(())
    })
    .await;
    let (lbs, _) = owned_elbv2(&world.clients, STACK_TAG, &stack).await;
    assert_eq!(lbs, [alb.load_balancer_arn().unwrap().to_owned()]);

    ingresses
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("everything of the group to be deleted", || async {
        let (lbs, tgs) = owned_elbv2(&world.clients, STACK_TAG, &stack).await;
        let gone = ingresses.get_opt("web").await.ok()?.is_none();
        (gone && lbs.is_empty() && tgs.is_empty()).then_some(())
    })
    .await;
    controller.stop();
}
