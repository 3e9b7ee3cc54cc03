//! The reconcilers over in-memory stores with the real backends against moto: the model
//! builder, the AWS deployer, the ELBv2 target registrar and the VPC facts loader. The
//! Kubernetes writes are recorded (no API server).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use aws_io::Deployer;
use aws_io::adapters::{AwsRegistrar, ModelBuilder, load_vpc_facts};
use aws_io::networking::AwsTargetSecurityGroups;
use aws_io::sg_rules::{self, Permission, Source};
use contract::cluster::StaticCluster;
use controller::binding::BindingReconciler;
use controller::cache::Cache;
use controller::fakes::{IngressBuilder, Journal, RecordingOps};
use controller::group::{GroupReconciler, Outcome};
use controller::index::GroupIndex;
use controller::keys::ObjKey;
use controller::metrics::ControllerMetrics;
use controller::networking::{NetworkingManager, RULE_LABEL};
use controller::targets::Target;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use model::ClusterFacts;
use model::group::GroupId;
use serde_json::json;
use support::moto::Account;

const CLUSTER: &str = "ctl-moto";

fn view() -> StaticCluster {
    StaticCluster {
        ingress_classes: vec![Arc::new(
            serde_json::from_value::<IngressClass>(json!({
                "metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.aws/alb"}
            }))
            .unwrap(),
        )],
        namespaces: BTreeMap::from([("ns".to_string(), BTreeMap::new())]),
        ..StaticCluster::default()
    }
}

fn web_service() -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "00000000-0000-4000-8000-000000000001"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .unwrap()
}

fn web_ingress(path_suffix: &str, finalized: bool, deleting: bool) -> Ingress {
    let mut b = IngressBuilder::new("ns", "web")
        .class("alb")
        .annotation("alb.ingress.kubernetes.io/target-type", "ip")
        .backend("web", 80);
    if finalized {
        b = b.finalizer("ingress.k8s.aws/resources");
    }
    if deleting {
        b = b.deleting();
    }
    let mut ing = b.build();
    if let Some(path) = ing
        .spec
        .as_mut()
        .and_then(|s| s.rules.as_mut())
        .and_then(|r| r.first_mut())
        .and_then(|r| r.http.as_mut())
        .and_then(|h| h.paths.first_mut())
    {
        path.path = Some(format!("/web{path_suffix}"));
    }
    ing
}

async fn load_balancers(account: &Account) -> Vec<String> {
    account
        .clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .iter()
        .filter_map(|lb| lb.dns_name().map(str::to_owned))
        .collect()
}

async fn target_groups(account: &Account) -> usize {
    account
        .clients
        .elbv2
        .describe_target_groups()
        .send()
        .await
        .unwrap()
        .target_groups()
        .len()
}

/// The facts of the network's VPC as `serve` loads them, with its backend group.
async fn loaded_facts(account: &Account, net: &support::Network) -> ClusterFacts {
    let mut facts = ClusterFacts::new(CLUSTER, net.vpc_id.clone());
    facts.backend_security_group = Some(net.backend_sg.clone());
    load_vpc_facts(&account.clients.ec2, &mut facts)
        .await
        .unwrap();
    facts
}

/// A group reconciler holding the `ns/web` Ingress, deploying into moto with `builder`.
fn web_group_reconciler(
    account: &Account,
    net: &support::Network,
    builder: ModelBuilder,
    ops: Arc<RecordingOps>,
) -> GroupReconciler {
    let mut index = GroupIndex::new("alb");
    index.apply(Arc::new(web_ingress("", false, false)), &view());
    GroupReconciler {
        index: Arc::new(RwLock::new(index)),
        services: Cache::from_objects([web_service()]),
        bindings: Cache::new(),
        builder: Arc::new(builder),
        deployer: Arc::new(Deployer::new(
            account.clients.clone(),
            support::deploy_config(CLUSTER, net),
        )),
        ops,
        metrics: ControllerMetrics::default(),
        backend_security_group: None,
        service_selection: None,
    }
}

#[tokio::test]
async fn ingress_to_alb_targets_and_back_against_moto() {
    let account = Account::new().await;
    let net = support::network(&account.clients).await;
    support::tag_subnets_for_internal_elb(&account.clients, &net).await;
    let facts = loaded_facts(&account, &net).await;
    assert_eq!(facts.subnets.len(), 3, "subnets loaded from EC2");
    assert!(
        facts.route_tables.as_ref().is_some_and(|t| !t.is_empty()),
        "route tables loaded"
    );

    let journal = Journal::default();
    let ops = Arc::new(RecordingOps::new(journal.clone()));
    let groups = web_group_reconciler(&account, &net, ModelBuilder::new(facts), ops.clone());
    let view = view();
    let group = GroupId::implicit("ns", "web");

    // Create.
    let outcome = groups.reconcile(&group).await.unwrap();
    let Outcome::Deployed {
        dns_name: Some(dns),
    } = outcome
    else {
        panic!("deployed with a DNS name: {outcome:?}")
    };
    assert_eq!(load_balancers(&account).await, std::slice::from_ref(&dns));
    assert_eq!(target_groups(&account).await, 1);
    assert!(
        journal.position("add-finalizer ns/web").unwrap()
            < journal.position("apply-binding").unwrap()
    );
    assert_eq!(
        journal.matching("status"),
        [format!("status ns/web {}", dns.to_ascii_lowercase())]
    );
    let binding = ops
        .applied_bindings
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("a binding applied");
    let arn = binding.spec.target_group_arn.clone().expect("resolved ARN");
    assert!(arn.starts_with("arn:aws:elasticloadbalancing:"), "{arn}");

    // Reconciling again changes nothing in AWS and creates no duplicate.
    groups.reconcile(&group).await.unwrap();
    assert_eq!(load_balancers(&account).await.len(), 1);
    assert_eq!(target_groups(&account).await, 1);

    // The binding registers the Service's endpoints through the ELBv2 API.
    let mut binding = binding;
    binding.metadata.generation = Some(1);
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "web-1", "namespace": "ns", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.0.1.10"], "conditions": {"ready": true}},
            {"addresses": ["10.0.2.10"], "conditions": {"ready": true}},
            {"addresses": ["10.0.3.10"], "conditions": {"ready": false}}
        ],
        "ports": [{"name": "http", "port": 8080}]
    }))
    .unwrap();
    let binding_name = binding.metadata.name.clone().unwrap();
    let registrar = Arc::new(AwsRegistrar::new(account.clients.clone()));
    // The ready pods' IPs live on ENIs (with the VPC's default security group), whose group
    // gets the binding's rule from the backend security group.
    let mut target_groups_of_pods = BTreeSet::new();
    for (subnet, ip) in [
        (&net.subnets[0], "10.0.1.10"),
        (&net.subnets[1], "10.0.2.10"),
    ] {
        let eni = account
            .clients
            .ec2
            .create_network_interface()
            .subnet_id(subnet)
            .private_ip_address(ip)
            .send()
            .await
            .unwrap();
        target_groups_of_pods.extend(
            eni.network_interface()
                .unwrap()
                .groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_owned)),
        );
    }
    assert_eq!(target_groups_of_pods.len(), 1, "the VPC's default group");
    let networking = NetworkingManager::new(
        Arc::new(AwsTargetSecurityGroups::new(
            &account.clients,
            &net.vpc_id,
            CLUSTER,
        )),
        CLUSTER,
        true,
    );
    let tgbs = BindingReconciler {
        bindings: Cache::from_objects([binding]),
        services: Cache::from_objects([web_service()]),
        slices: Cache::from_objects([slice]),
        pods: Cache::new(),
        nodes: Cache::new(),
        registrar: registrar.clone(),
        ops: ops.clone(),
        metrics: ControllerMetrics::default(),
        networking: Some(networking),
        registered: Default::default(),
    };
    let outcome = tgbs
        .reconcile(&ObjKey::new("ns", binding_name.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.registered, 2);
    use controller::backends::TargetRegistrar as _;
    let registered: Vec<Target> = registrar
        .describe(&arn, None)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.target)
        .collect();
    assert_eq!(registered.len(), 2);
    assert!(registered.contains(&Target::new("10.0.1.10", 8080)));
    let pods_group = target_groups_of_pods.first().unwrap();
    let described = account
        .clients
        .ec2
        .describe_security_groups()
        .group_ids(pods_group)
        .send()
        .await
        .unwrap();
    let rules = sg_rules::actual_permissions(described.security_groups()[0].ip_permissions());
    assert!(
        rules.contains(&Permission {
            protocol: "tcp".into(),
            from_port: Some(8080),
            to_port: Some(8080),
            source: Source::Group(net.backend_sg.clone()),
            description: RULE_LABEL.into(),
        }),
        "the backend group may reach the targets: {rules:?}"
    );
    let again = tgbs
        .reconcile(&ObjKey::new("ns", binding_name))
        .await
        .unwrap();
    assert_eq!(
        (again.registered, again.deregistered),
        (0, 0),
        "nothing to send the second time"
    );

    // Delete: the ALB and the target group go, then the finalizer.
    groups
        .index
        .write()
        .unwrap()
        .apply(Arc::new(web_ingress("", true, true)), &view);
    journal.clear();
    let outcome = groups.reconcile(&group).await.unwrap();
    assert_eq!(outcome, Outcome::Deleted);
    assert!(load_balancers(&account).await.is_empty());
    assert_eq!(target_groups(&account).await, 0);
    assert_eq!(
        journal.matching("remove-finalizer"),
        ["remove-finalizer ns/web ingress.k8s.aws/resources"]
    );
}

/// The subnets of the LB of the group, as AWS has them.
async fn lb_subnets(account: &Account) -> BTreeSet<String> {
    account
        .clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .iter()
        .flat_map(|lb| lb.availability_zones())
        .filter_map(|az| az.subnet_id().map(str::to_owned))
        .collect()
}

/// As upstream: discovered subnets of a load balancer that already exists are kept, so a
/// restart (or a takeover from upstream) after the subnet tags changed moves nothing.
#[tokio::test]
async fn an_existing_load_balancer_keeps_its_discovered_subnets_across_a_restart() {
    let account = Account::new().await;
    let net = support::network(&account.clients).await;
    support::tag_subnets_for_internal_elb(&account.clients, &net).await;
    let reconciler = |facts: ClusterFacts, existing: bool| {
        let builder = ModelBuilder::new(facts);
        let builder = if existing {
            builder.with_existing_load_balancers(account.clients.clone())
        } else {
            builder
        };
        web_group_reconciler(
            &account,
            &net,
            builder,
            Arc::new(RecordingOps::new(Journal::default())),
        )
    };
    let facts = || loaded_facts(&account, &net);
    let group = GroupId::implicit("ns", "web");
    reconciler(facts().await, true)
        .reconcile(&group)
        .await
        .unwrap();
    let deployed = lb_subnets(&account).await;
    assert_eq!(deployed.len(), 3, "{deployed:?}");

    // One subnet loses its role tag; a new process (nothing cached) keeps the LB as it is.
    account
        .clients
        .ec2
        .delete_tags()
        .resources(&net.subnets[2])
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("kubernetes.io/role/internal-elb")
                .build(),
        )
        .send()
        .await
        .unwrap();
    reconciler(facts().await, true)
        .reconcile(&group)
        .await
        .unwrap();
    assert_eq!(lb_subnets(&account).await, deployed, "subnets kept");

    // Without the existing load balancer, discovery alone would have moved it.
    reconciler(facts().await, false)
        .reconcile(&group)
        .await
        .unwrap();
    assert_eq!(lb_subnets(&account).await.len(), 2);
}
