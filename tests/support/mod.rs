//! Shared test support: the moto harness, a network fixture, and hand-built stacks.

#![allow(dead_code)]

pub mod aws_recorder;
pub mod cluster;
pub mod deploy;
pub mod e2e;
pub mod inventory;
pub mod lifecycle;
pub mod moto;
pub mod process;
pub mod procstat;
pub mod rng;
pub mod throttle;

use std::collections::BTreeMap;

use aws_io::{AwsClients, DeployConfig};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use model::stack::{
    Action, Attribute, FixedResponseConfig, HealthCheckConfig, HealthCheckMatcher, IpAddressType,
    IpPermission, IpRange, ListenerRuleSpec, ListenerSpec, LoadBalancerSpec, LoadBalancerType,
    Protocol, ProtocolVersion, Ref, RuleCondition, Scheme, SecurityGroupSpec, ServiceReference,
    Stack, SubnetMapping, TargetGroupBindingMetadata, TargetGroupBindingResourceSpec,
    TargetGroupBindingSpec, TargetGroupBindingTemplate, TargetGroupSpec, TargetType, ValuesConfig,
    resource_id,
};

/// A VPC with three subnets (one per AZ) and a "backend" security group.
#[derive(Clone, Debug)]
pub struct Network {
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub backend_sg: String,
}

/// Creates the fixture network with plain EC2 calls.
pub async fn network(clients: &AwsClients) -> Network {
    let vpc = clients
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("create VPC");
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("VPC ID")
        .to_owned();
    let mut subnets = Vec::new();
    for (i, az) in ["us-west-2a", "us-west-2b", "us-west-2c"]
        .iter()
        .enumerate()
    {
        let subnet = clients
            .ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.0.{}.0/24", i + 1))
            .availability_zone(*az)
            .send()
            .await
            .expect("create subnet");
        subnets.push(
            subnet
                .subnet()
                .and_then(|s| s.subnet_id())
                .expect("subnet ID")
                .to_owned(),
        );
    }
    let sg = clients
        .ec2
        .create_security_group()
        .group_name("backend")
        .description("cluster backend")
        .vpc_id(&vpc_id)
        .send()
        .await
        .expect("create backend SG");
    Network {
        vpc_id,
        subnets,
        backend_sg: sg.group_id().expect("group ID").to_owned(),
    }
}

/// Tags the network's subnets `kubernetes.io/role/internal-elb=1`, so that subnet discovery
/// finds them for internal load balancers.
pub async fn tag_subnets_for_internal_elb(clients: &AwsClients, net: &Network) {
    for subnet in &net.subnets {
        clients
            .ec2
            .create_tags()
            .resources(subnet)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("kubernetes.io/role/internal-elb")
                    .value("1")
                    .build(),
            )
            .send()
            .await
            .expect("tag subnet");
    }
}

/// IDs of the security groups carrying every tag of `tags` (`key`, `value`).
pub async fn security_groups_tagged(clients: &AwsClients, tags: &[(&str, &str)]) -> Vec<String> {
    let mut request = clients.ec2.describe_security_groups();
    for (key, value) in tags {
        request = request.filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{key}"))
                .values(*value)
                .build(),
        );
    }
    request
        .send()
        .await
        .expect("describe security groups")
        .security_groups()
        .iter()
        .filter_map(|sg| sg.group_id().map(str::to_owned))
        .collect()
}

pub const CLUSTER: &str = "test-cluster";
pub const TG_A: &str = "ns/ing-svc-a:80";
pub const TG_B: &str = "ns/ing-svc-b:http";

/// Deployer settings for tests: quick retries and waits.
pub fn deploy_config(cluster: &str, net: &Network) -> DeployConfig {
    let mut config = DeployConfig::new(cluster, &net.vpc_id);
    config.call_retry.min_delay = std::time::Duration::from_millis(10);
    config.call_retry.max_delay = std::time::Duration::from_millis(50);
    config.in_use_retry_interval = std::time::Duration::from_millis(50);
    config.security_group_delete_timeout = std::time::Duration::from_secs(2);
    config.target_group_delete_timeout = std::time::Duration::from_secs(2);
    config.visibility_timeout = std::time::Duration::from_secs(2);
    config
}

pub fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn path_rule(port: u16, priority: u32, path: &str, tg: &str) -> ListenerRuleSpec {
    ListenerRuleSpec {
        listener_arn: Ref::listener_arn(port).into(),
        priority,
        actions: vec![Action::forward_to(Ref::target_group_arn(tg))],
        conditions: vec![RuleCondition::path_pattern(ValuesConfig::values([
            path.to_owned(),
            format!("{path}/*"),
        ]))],
        transforms: vec![],
        tags: tags(&[("owner", "team-a")]),
    }
}

pub fn fixed_response(status: &str) -> Action {
    Action::fixed_response(FixedResponseConfig {
        content_type: Some("text/plain".into()),
        message_body: None,
        status_code: status.into(),
    })
}

fn binding(
    tg: &str,
    namespace: &str,
    service: &str,
    port: IntOrString,
) -> TargetGroupBindingResourceSpec {
    TargetGroupBindingResourceSpec {
        template: TargetGroupBindingTemplate {
            metadata: TargetGroupBindingMetadata {
                namespace: namespace.into(),
                name: format!("binding-{service}"),
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            },
            spec: TargetGroupBindingSpec {
                target_group_arn: Ref::target_group_arn(tg).into(),
                target_type: TargetType::Ip,
                service_ref: ServiceReference {
                    name: service.into(),
                    port,
                },
                networking: None,
                node_selector: None,
                ip_address_type: None,
                vpc_id: None,
                multi_cluster_target_group: false,
                target_group_protocol: None,
            },
        },
    }
}

/// A stack like the model builder makes for one Ingress with two paths: a managed security
/// group, an internet-facing ALB, an HTTP listener with a 404 default, two rules forwarding
/// to two target groups, and their TargetGroupBindings. `prefix` makes AWS names unique.
pub fn sample_stack(net: &Network, id: &str, prefix: &str) -> Stack {
    let mut stack = Stack::new(id);
    let sg = stack
        .add_security_group(
            resource_id::MANAGED_SECURITY_GROUP,
            SecurityGroupSpec {
                group_name: format!("{prefix}-sg"),
                description: "[k8s] Managed SecurityGroup for LoadBalancer".into(),
                tags: tags(&[("owner", "team-a")]),
                ingress: vec![IpPermission {
                    ip_ranges: vec![IpRange {
                        cidr_ip: "0.0.0.0/0".into(),
                        description: String::new(),
                    }],
                    ..IpPermission::tcp_port(80)
                }],
            },
        )
        .expect("one SG");
    let lb = stack
        .add_load_balancer(LoadBalancerSpec {
            name: format!("{prefix}-lb"),
            load_balancer_type: LoadBalancerType::Application,
            scheme: Scheme::InternetFacing,
            ip_address_type: IpAddressType::Ipv4,
            subnet_mappings: net.subnets[..2]
                .iter()
                .map(|s| SubnetMapping {
                    subnet_id: s.clone(),
                    allocation_id: None,
                    private_ipv4_address: None,
                    ipv6_address: None,
                    source_nat_ipv6_prefix: None,
                })
                .collect(),
            security_groups: vec![sg.into(), net.backend_sg.clone().into()],
            customer_owned_ipv4_pool: None,
            ipam_configuration: None,
            minimum_load_balancer_capacity: None,
            enable_prefix_for_ipv6_source_nat: None,
            security_groups_inbound_rules_on_private_link: None,
            load_balancer_attributes: vec![Attribute {
                key: "idle_timeout.timeout_seconds".into(),
                value: "60".into(),
            }],
            tags: tags(&[("owner", "team-a")]),
        })
        .expect("one LB");
    stack
        .add_listener(ListenerSpec {
            load_balancer_arn: lb.into(),
            port: 80,
            protocol: Protocol::Http,
            default_actions: vec![fixed_response("404")],
            certificates: vec![],
            ssl_policy: None,
            alpn_policy: vec![],
            mutual_authentication: None,
            listener_attributes: vec![],
            tags: tags(&[("owner", "team-a")]),
        })
        .expect("one listener");
    stack
        .add_target_group(
            TG_A,
            TargetGroupSpec {
                name: format!("{prefix}-a"),
                target_type: TargetType::Ip,
                port: 8080,
                protocol: Protocol::Http,
                protocol_version: Some(ProtocolVersion::Http1),
                ip_address_type: None,
                health_check_config: Some(HealthCheckConfig {
                    port: Some(IntOrString::String("traffic-port".into())),
                    protocol: Some(Protocol::Http),
                    path: Some("/healthz".into()),
                    matcher: Some(HealthCheckMatcher {
                        http_code: Some("200".into()),
                        grpc_code: None,
                    }),
                    interval_seconds: Some(15),
                    timeout_seconds: Some(5),
                    healthy_threshold_count: Some(2),
                    unhealthy_threshold_count: Some(2),
                }),
                target_group_attributes: vec![],
                target_control_port: None,
                alb_targets: Vec::new(),
                tags: tags(&[("owner", "team-a")]),
            },
        )
        .expect("TG a");
    stack
        .add_target_group(
            TG_B,
            TargetGroupSpec {
                name: format!("{prefix}-b"),
                target_type: TargetType::Instance,
                port: 30080,
                protocol: Protocol::Http,
                protocol_version: Some(ProtocolVersion::Http1),
                ip_address_type: None,
                health_check_config: None,
                target_group_attributes: vec![],
                target_control_port: None,
                alb_targets: Vec::new(),
                tags: BTreeMap::new(),
            },
        )
        .expect("TG b");
    stack
        .add_listener_rule(80, path_rule(80, 1, "/a", TG_A))
        .expect("rule 1");
    stack
        .add_listener_rule(80, path_rule(80, 2, "/b", TG_B))
        .expect("rule 2");
    stack
        .add_target_group_binding(TG_A, binding(TG_A, "ns", "svc-a", IntOrString::Int(80)))
        .expect("binding a");
    stack
        .add_target_group_binding(
            TG_B,
            binding(TG_B, "ns", "svc-b", IntOrString::String("http".into())),
        )
        .expect("binding b");
    stack
}
