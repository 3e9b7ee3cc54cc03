//! `serve` builds from live AWS facts as `plan` does from a ClusterFacts document: an HTTPS
//! Ingress without `certificate-arn` gets the issued ACM certificate matching its host, and
//! `security-groups` given by `Name` tag resolve to the group's ID.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::World;
use crate::support::e2e::{
    ControllerProcess, MANAGER, STACK_TAG, apply_class, eventually, import_certificate, listeners,
    named_security_group, owned_elbv2, service,
};

#[tokio::test]
async fn certificates_and_named_security_groups_come_from_aws() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

async fn scenario(world: &World) {
    let setup = &world.setup;
    let client = &world.client;
    let clients = &world.clients;
    let ns = setup.namespace.as_str();
    let host = format!("shop-{}.example.com", setup.id);
    let certificate = import_certificate(clients, &[&host]).await;
    let sg_name = format!("frontend-{}", setup.id);
    let named = named_security_group(clients, &setup.vpc_id, &sg_name).await;

    let mut controller = ControllerProcess::start(setup, "live-facts");
    controller.wait_ready().await;
    apply_class(client, &setup.class, "ip").await;
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    let ing: Ingress = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "secure", "annotations": {
            "alb.ingress.kubernetes.io/listen-ports": r#"[{"HTTPS": 443}]"#,
            "alb.ingress.kubernetes.io/security-groups": sg_name,
        }},
        "spec": {"ingressClassName": setup.class, "rules": [{"host": host, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    }))
    .unwrap();
    Api::<Ingress>::namespaced(client.clone(), ns)
        .patch("secure", &PatchParams::apply(MANAGER), &Patch::Apply(&ing))
        .await
        .unwrap();

    let stack = format!("{ns}/secure");
    let lb = eventually("the ALB", || async {
        owned_elbv2(clients, STACK_TAG, &stack)
            .await
            .0
            .first()
            .cloned()
    })
    .await;
    eventually("the HTTPS listener", || async {
        (listeners(clients, &lb).await == [(443, "HTTPS".to_owned())].into()).then_some(())
    })
    .await;
    let listener = clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(&lb)
        .send()
        .await
        .unwrap();
    let certs: Vec<String> = listener
        .listeners()
        .iter()
        .flat_map(|l| l.certificates())
        .filter_map(|c| c.certificate_arn().map(str::to_owned))
        .collect();
    assert_eq!(certs, vec![certificate], "the discovered certificate");
    let described = clients
        .elbv2
        .describe_load_balancers()
        .load_balancer_arns(&lb)
        .send()
        .await
        .unwrap();
    let groups: Vec<String> = described
        .load_balancers()
        .iter()
        .flat_map(|l| l.security_groups().iter().cloned())
        .collect();
    assert_eq!(groups, vec![named], "the group named by its Name tag");
    controller.stop();
}
