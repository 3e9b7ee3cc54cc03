//! The backend security group provider against moto: created once on first need, shared by
//! load balancers, deleted on release when unused, created again afterwards; a group given
//! with `--backend-security-group` is never deleted.
//!
//! moto does not refuse `DeleteSecurityGroup` for a group a load balancer (or another group's
//! rule) still uses, so the "still in use" path is covered by the provider's unit tests with a
//! fake EC2 (`crates/controller/src/backend_sg/tests.rs`), not here.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use aws_io::{AwsClients, Deployer};
use aws_sdk_ec2::types::Filter;
use controller::backend_sg::{BackendSecurityGroup, Released};
use model::stack::Stack;
use support::moto::Account;
use support::{CLUSTER, Network, deploy_config, network, sample_stack};

fn provider(clients: &AwsClients, net: &Network) -> BackendSecurityGroup {
    aws_io::backend_sg::managed(
        clients.clone(),
        CLUSTER,
        net.vpc_id.clone(),
        BTreeMap::from([("team".to_owned(), "platform".to_owned())]),
    )
}

/// The IDs of the groups tagged as the cluster's backend group in the VPC.
async fn tagged_backend_groups(clients: &AwsClients, net: &Network) -> Vec<String> {
    let filter = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
    let out = clients
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &net.vpc_id))
        .filters(filter("tag:elbv2.k8s.aws/cluster", CLUSTER))
        .filters(filter("tag:elbv2.k8s.aws/resource", "backend-sg"))
        .send()
        .await
        .unwrap();
    out.security_groups()
        .iter()
        .filter_map(|sg| sg.group_id().map(str::to_owned))
        .collect()
}

fn creates(clients: &AwsClients) -> u64 {
    clients.calls().snapshot().count("CreateSecurityGroup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_once_on_first_need_released_when_unused_and_created_again() {
    let account = Account::new().await;
    let clients = &account.clients;
    let mut net = network(clients).await;
    let before = creates(clients);
    let backend = provider(clients, &net);
    assert!(
        tagged_backend_groups(clients, &net).await.is_empty(),
        "nothing is made before a build asks"
    );

    let id = backend.get().await.unwrap();
    assert_eq!(backend.get().await.unwrap(), id);
    assert_eq!(backend.clone().get().await.unwrap(), id);
    assert_eq!(creates(clients) - before, 1, "created once");
    assert_eq!(tagged_backend_groups(clients, &net).await, vec![id.clone()]);
    // Another replica (or a restart) finds the same group by its tags.
    assert_eq!(provider(clients, &net).get().await.unwrap(), id);
    assert_eq!(creates(clients) - before, 1);

    // A load balancer uses it, then goes.
    net.backend_sg = id.clone();
    let deployer = Deployer::new(clients.clone(), deploy_config(CLUSTER, &net));
    let stack = sample_stack(&net, "ns/web", "bsg");
    deployer.deploy(&stack).await.unwrap();
    let lbs = clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap();
    let attached: Vec<&str> = lbs
        .load_balancers()
        .iter()
        .flat_map(|lb| lb.security_groups())
        .map(String::as_str)
        .collect();
    assert!(attached.contains(&id.as_str()), "{attached:?}");
    deployer.deploy(&Stack::new("ns/web")).await.unwrap();

    // Unused: released, i.e. deleted.
    assert_eq!(
        backend.release().await.unwrap(),
        Released::Deleted(id.clone())
    );
    assert!(tagged_backend_groups(clients, &net).await.is_empty());
    // Releasing again finds nothing to delete.
    assert_eq!(backend.release().await.unwrap(), Released::NotPresent);

    // The next build's get makes a new one.
    let again = backend.get().await.unwrap();
    assert_ne!(again, id);
    assert_eq!(tagged_backend_groups(clients, &net).await, vec![again]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_group_is_used_as_is_and_never_deleted() {
    let account = Account::new().await;
    let clients = &account.clients;
    let net = network(clients).await;
    let before = creates(clients);
    let backend = BackendSecurityGroup::given(net.backend_sg.clone());

    assert_eq!(backend.get().await.unwrap(), net.backend_sg);
    assert_eq!(
        backend.release().await.unwrap(),
        Released::UserGiven(net.backend_sg.clone())
    );
    let still = clients
        .ec2
        .describe_security_groups()
        .group_ids(&net.backend_sg)
        .send()
        .await
        .unwrap();
    assert_eq!(still.security_groups().len(), 1, "the user's group stays");
    assert_eq!(creates(clients), before, "nothing created");
    assert_eq!(clients.calls().snapshot().count("DeleteSecurityGroup"), 0);
}
