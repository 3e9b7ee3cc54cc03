#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::backend_sg::{Deletion, Obtained};
use controller::backend_sg::BackendSecurityGroupApi;
use controller::fakes::IngressBuilder;
use controller::index::{ActiveMember, GroupMembers};
use model::group::GroupId;

/// Counts `ensure` calls; creates `sg-made`.
#[derive(Default)]
struct CountingApi {
    ensures: AtomicU32,
}

impl BackendSecurityGroupApi for CountingApi {
    fn ensure(&self) -> BoxFuture<'_, Result<Obtained, BackendError>> {
        self.ensures.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(Obtained::Created(
            "sg-made".to_owned(),
        ))))
    }

    fn find(&self) -> BoxFuture<'_, Result<Option<String>, BackendError>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    fn delete<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Deletion, BackendError>> {
        Box::pin(std::future::ready(Ok(Deletion::NotFound)))
    }
}

fn subnet(id: &str, az: &str) -> Subnet {
    Subnet {
        id: id.to_owned(),
        az: az.to_owned(),
        az_id: None,
        vpc_id: "vpc-1".to_owned(),
        available_ips: 100,
        tags: BTreeMap::from([
            ("kubernetes.io/role/elb".to_owned(), "1".to_owned()),
            ("kubernetes.io/role/internal-elb".to_owned(), "1".to_owned()),
        ]),
        ipv6_cidrs: Vec::new(),
        cidr: None,
        locale: SubnetLocale::default(),
    }
}

fn facts() -> ClusterFacts {
    let mut facts = ClusterFacts::new("c", "vpc-1");
    facts.subnets = vec![subnet("subnet-1", "az-1"), subnet("subnet-2", "az-2")];
    facts
}

fn services() -> model::builder::ObjectMap<Service> {
    let service = Service {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some("web".into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("NodePort".into()),
            ports: Some(vec![ServicePort {
                port: 80,
                node_port: Some(30080),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    BTreeMap::from([(("ns".to_owned(), "web".to_owned()), service)])
}

fn members(active: bool) -> GroupMembers {
    let ingress = Arc::new(
        IngressBuilder::new("ns", "a")
            .class("alb")
            .backend("web", 80)
            .build(),
    );
    let (active, inactive) = if active {
        (
            vec![ActiveMember {
                ingress,
                params: None,
            }],
            Vec::new(),
        )
    } else {
        (Vec::new(), vec![ingress])
    };
    GroupMembers {
        id: GroupId::implicit("ns", "a"),
        active,
        inactive,
        services: BTreeSet::new(),
        secrets: BTreeSet::new(),
    }
}

async fn build(builder: &ModelBuilder, active: bool) -> Result<Stack, BackendError> {
    let members = members(active);
    let services = services();
    let secrets = BTreeMap::new();
    builder
        .build(BuildRequest {
            members: &members,
            services: &services,
            secrets: &secrets,
        })
        .await
}

fn debug_contains(stack: &Stack, needle: &str) -> bool {
    format!("{stack:?}").contains(needle)
}

#[tokio::test]
async fn the_backend_group_is_obtained_on_first_need_and_attached() {
    let api = Arc::new(CountingApi::default());
    let builder = ModelBuilder::new(facts())
        .with_backend_security_group(BackendSecurityGroup::managed(api.clone()));

    let stack = build(&builder, true).await.unwrap();
    assert!(debug_contains(&stack, "sg-made"), "{stack:?}");
    build(&builder, true).await.unwrap();
    assert_eq!(
        api.ensures.load(Ordering::SeqCst),
        1,
        "cached after the first"
    );
}

#[tokio::test]
async fn a_group_being_deleted_does_not_create_the_backend_group() {
    let api = Arc::new(CountingApi::default());
    let builder = ModelBuilder::new(facts())
        .with_backend_security_group(BackendSecurityGroup::managed(api.clone()));
    let stack = build(&builder, false).await.unwrap();
    assert!(stack.is_empty());
    assert_eq!(api.ensures.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_fixed_id_in_the_facts_wins_over_the_provider() {
    let api = Arc::new(CountingApi::default());
    let mut facts = facts();
    facts.backend_security_group = Some("sg-fixed".to_owned());
    let builder = ModelBuilder::new(facts)
        .with_backend_security_group(BackendSecurityGroup::managed(api.clone()));
    let stack = build(&builder, true).await.unwrap();
    assert!(debug_contains(&stack, "sg-fixed"));
    assert!(!debug_contains(&stack, "sg-made"));
    assert_eq!(api.ensures.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn without_a_provider_an_unknown_backend_group_fails_the_build() {
    let error = build(&ModelBuilder::new(facts()), true)
        .await
        .expect_err("the ID is not known");
    assert!(error.message.contains("backend security group"), "{error}");
}

#[tokio::test]
async fn a_provider_failure_fails_the_build_with_its_error() {
    struct Failing;
    impl BackendSecurityGroupApi for Failing {
        fn ensure(&self) -> BoxFuture<'_, Result<Obtained, BackendError>> {
            Box::pin(std::future::ready(Err(BackendError::new(
                "permission",
                "cannot create the backend security group k8s-traffic-c: UnauthorizedOperation",
            ))))
        }
        fn find(&self) -> BoxFuture<'_, Result<Option<String>, BackendError>> {
            Box::pin(std::future::ready(Ok(None)))
        }
        fn delete<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Deletion, BackendError>> {
            Box::pin(std::future::ready(Ok(Deletion::NotFound)))
        }
    }
    let builder = ModelBuilder::new(facts())
        .with_backend_security_group(BackendSecurityGroup::managed(Arc::new(Failing)));
    let error = build(&builder, true).await.expect_err("no group");
    assert_eq!(error.category, "permission");
    assert!(error.message.contains("UnauthorizedOperation"), "{error}");
}

#[tokio::test]
async fn the_known_load_balancer_is_the_alb_never_the_frontend_nlb() {
    let lb = |name: &str, scheme: Scheme, subnet: &str| model::stack::LoadBalancerSpec {
        name: name.to_owned(),
        load_balancer_type: model::stack::LoadBalancerType::Network,
        scheme,
        ip_address_type: model::stack::IpAddressType::Ipv4,
        subnet_mappings: vec![model::stack::SubnetMapping {
            subnet_id: subnet.to_owned(),
            allocation_id: None,
            private_ipv4_address: None,
            ipv6_address: None,
            source_nat_ipv6_prefix: None,
        }],
        security_groups: Vec::new(),
        customer_owned_ipv4_pool: None,
        ipam_configuration: None,
        minimum_load_balancer_capacity: None,
        enable_prefix_for_ipv6_source_nat: None,
        security_groups_inbound_rules_on_private_link: None,
        load_balancer_attributes: Vec::new(),
        tags: BTreeMap::new(),
    };
    let mut stack = Stack::new("ns/web");
    stack
        .add_load_balancer(lb("alb", Scheme::Internal, "subnet-alb"))
        .unwrap();
    // "FrontendNlb" sorts before "LoadBalancer": it must not be taken for the ALB.
    stack
        .add_frontend_nlb(lb("alb-nlb", Scheme::InternetFacing, "subnet-nlb"))
        .unwrap();
    let known = KnownLoadBalancers::default();
    known.remember("ns/web", &stack);
    let found = known
        .get_or_read("ns/web", None, |_| async { unreachable!("remembered") })
        .await
        .unwrap()
        .expect("remembered");
    assert_eq!(
        (found.scheme, found.subnet_ids),
        (Scheme::Internal, vec!["subnet-alb".to_owned()])
    );
}
