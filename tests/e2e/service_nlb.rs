//! A Service of type LoadBalancer becomes an NLB: finalizer, hostname, target group binding;
//! a new port becomes a listener; deleting the Service removes everything it owned in AWS and
//! then the finalizer.
//!
//! The Service is selected by `spec.loadBalancerClass` (this run's class): the controllers of
//! other tests share the API server and take only their own class.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::World;
use crate::support::e2e::{ControllerProcess, eventually, listeners, owned_elbv2};

const STACK: &str = "service.k8s.aws/stack";

#[tokio::test]
async fn a_load_balancer_service_gets_its_nlb_and_loses_it_on_deletion() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

async fn scenario(world: &World) {
    let setup = &world.setup;
    let services: Api<Service> = Api::namespaced(world.client.clone(), &setup.namespace);
    let mut controller = ControllerProcess::start(setup, "nlb");
    controller.wait_ready().await;

    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "echo", "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": "15",
        }},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": setup.load_balancer_class(),
            "selector": {"app": "echo"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        }
    }))
    .unwrap();
    services
        .create(&PostParams::default(), &service)
        .await
        .expect("create the Service");
    let stack = format!("{}/echo", setup.namespace);

    // The hostname, the finalizer, and the NLB behind them.
    let hostname = eventually("the Service's NLB hostname", || async {
        let svc = services.get("echo").await.ok()?;
        let has_finalizer = svc
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "service.k8s.aws/resources");
        let host = svc
            .status?
            .load_balancer?
            .ingress?
            .first()?
            .hostname
            .clone()?;
        has_finalizer.then_some(host)
    })
    .await;
    let (lbs, tgs) = owned_elbv2(&world.clients, STACK, &stack).await;
    assert_eq!((lbs.len(), tgs.len()), (1, 1), "{lbs:?} {tgs:?}");
    let lb = world
        .clients
        .elbv2
        .describe_load_balancers()
        .load_balancer_arns(&lbs[0])
        .send()
        .await
        .unwrap();
    let lb = &lb.load_balancers()[0];
    assert_eq!(lb.r#type().map(|t| t.as_str()), Some("network"));
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internal"));
    assert_eq!(
        lb.dns_name().map(str::to_ascii_lowercase).as_deref(),
        Some(hostname.as_str())
    );
    let tg = world
        .clients
        .elbv2
        .describe_target_groups()
        .target_group_arns(&tgs[0])
        .send()
        .await
        .unwrap();
    let tg = &tg.target_groups()[0];
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("TCP"));
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.health_check_interval_seconds(), Some(15));
    // The Ingress side of the same name is untouched: nothing carries its tag.
    let (ingress_lbs, _) = owned_elbv2(&world.clients, "ingress.k8s.aws/stack", &stack).await;
    assert!(ingress_lbs.is_empty());
    // The binding that registers the pods.
    let bindings: Api<contract::crd::TargetGroupBinding> =
        Api::namespaced(world.client.clone(), &setup.namespace);
    let binding = eventually("the Service's TargetGroupBinding", || async {
        bindings
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(binding.spec.service_ref.name, "echo");
    assert_eq!(
        binding.spec.target_group_arn.as_deref(),
        Some(tgs[0].as_str())
    );
    let labels = binding.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("service.k8s.aws/stack-name").map(String::as_str),
        Some("echo")
    );

    // A second port: a UDP listener next to the TCP one.
    services
        .patch(
            "echo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"},
            ]}})),
        )
        .await
        .expect("add a port");
    let want: BTreeSet<(i32, String)> = [(53, "UDP".to_owned()), (80, "TCP".to_owned())].into();
    eventually("the UDP listener", || async {
        (listeners(&world.clients, &lbs[0]).await == want).then_some(())
    })
    .await;

    // Deleting the Service removes the NLB, its target groups and security group, then the
    // finalizer (and with it the Service).
    services
        .delete("echo", &DeleteParams::default())
        .await
        .expect("delete the Service");
    eventually("the Service to be gone", || async {
        services.get_opt("echo").await.ok()?.is_none().then_some(())
    })
    .await;
    let (lbs, tgs) = owned_elbv2(&world.clients, STACK, &stack).await;
    assert!(lbs.is_empty() && tgs.is_empty(), "{lbs:?} {tgs:?}");
    let groups =
        crate::support::security_groups_tagged(&world.clients, &[(STACK, stack.as_str())]).await;
    assert!(groups.is_empty(), "{groups:?}");
    assert!(
        bindings
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "the binding outlived its Service"
    );
    controller.stop();
}
