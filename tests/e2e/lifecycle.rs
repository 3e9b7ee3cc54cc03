//! The Ingress lifecycle with the suite's own webhook registration (scoped to the test's
//! namespace).

use crate::World;
use crate::support::e2e::{ControllerProcess, register_webhooks};
use crate::support::lifecycle;

#[tokio::test]
async fn ingress_lifecycle_on_a_real_api_server() {
    let world = World::new().await;
    let setup = &world.setup;
    let start = |identity: &str| ControllerProcess::start(setup, identity);
    world
        .run(lifecycle::run(
            &world.client,
            &world.clients,
            setup,
            &start,
            async || register_webhooks(&world.client, setup, &world.ca.pem).await,
        ))
        .await;
}
