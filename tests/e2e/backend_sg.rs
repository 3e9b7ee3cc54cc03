//! The cluster's backend security group left behind by a controller that died right after the
//! last IngressGroup's deletion is released by the next leader as soon as it leads, not at the
//! next resync (10 h by default).

use aws_io::backend_sg;

use crate::World;
use crate::support::e2e::{ControllerProcess, eventually};

#[tokio::test]
async fn a_leftover_backend_security_group_is_released_once_leading() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

async fn scenario(world: &World) {
    let setup = &world.setup;
    // What the dead controller left: the group, tagged as this cluster's, and no Ingress.
    let left = backend_sg::ensure(
        &world.clients,
        &setup.cluster,
        &setup.vpc_id,
        &Default::default(),
    )
    .await
    .unwrap();
    eprintln!("e2e backend-sg: left behind {left:?}");
    assert!(
        backend_sg::find(&world.clients, &setup.cluster, &setup.vpc_id)
            .await
            .unwrap()
            .is_some()
    );
    // The default --sync-period (10 h): only the release at leadership can remove it.
    let args: Vec<String> = setup
        .serve_args()
        .into_iter()
        .filter(|a| !a.starts_with("--sync-period"))
        .collect();
    let mut controller = ControllerProcess::launch(
        setup,
        crate::support::e2e::Launch {
            identity: "backend-sg",
            args,
            kubeconfig: &setup.kubeconfig,
            access_key: "testing",
            env: vec![("POD_NAMESPACE".to_owned(), setup.namespace.clone())],
            webhook_port: setup.webhook_port,
        },
    );
    controller.wait_ready().await;
    eventually(
        "the leftover backend security group to be deleted",
        || async {
            backend_sg::find(&world.clients, &setup.cluster, &setup.vpc_id)
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;
    controller.stop();
}
