//! `make run` without a cluster: the embedded default.
//!
//! A moto server stands in for AWS. The bundled example manifests go through the webhook's
//! admission chain (what `kubectl apply` would do), the admitted Ingresses through the
//! controller's reconcile path (model builder, then the AWS deployer), and the result is read
//! back from AWS and printed; a second pass shows that an unchanged re-sync mutates nothing.

mod moto;

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::admit::admit_all;
use crate::manifests::Manifests;
use aws_io::{AwsClients, DeployConfig, Deployer};
use model::ClusterFacts;
use model::subnets::Subnet;
use model::tags::{TAG_CLUSTER, TAG_ELBV2_RESOURCE};

pub use moto::{MOTO_SERVER, Moto};

const REGION: &str = "us-west-2";
const CLUSTER: &str = "demo";

/// What the demo did, for its caller and its test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// DNS names of the load balancers deployed, one per IngressGroup and NLB Service.
    pub dns_names: Vec<String>,
    /// Mutating AWS calls made by the unchanged re-sync (0 when the deployer is economical).
    pub resync_mutating_calls: u64,
    /// The Ingresses the webhook refused.
    pub refused: Vec<String>,
}

/// Run the demo; `Err` carries what went wrong, for the user.
pub async fn run(
    repo: &Path,
    manifests: Manifests,
    controller: &crate::cli::ControllerArgs,
) -> Result<DemoSummary, String> {
    let mut summary = DemoSummary::default();
    step("starting moto (AWS emulator) on 127.0.0.1");
    let moto = Moto::start(repo)?;
    let clients = clients(&moto.endpoint);

    step(
        "creating the demo VPC: two public subnets tagged for discovery, a backend security group",
    );
    let (vpc_id, backend_sg) = create_network(&clients).await?;
    let mut facts = ClusterFacts::new(CLUSTER, vpc_id.clone());
    facts.backend_security_group = Some(backend_sg);
    facts.subnets = describe_subnets(&clients, &vpc_id).await?;
    facts.ingress_class = controller.ingress_class.clone();

    step("admitting the example manifests through the webhook (mutate, then validate)");
    let verdicts = admit_all(&manifests, controller).await;
    let mut admitted = manifests.clone();
    admitted.ingresses.clear();
    // Services the webhooks saw are kept as admitted (the mutator may have set the class).
    admitted
        .services
        .retain(|s| !crate::admit::could_be_ours(s));
    let mut refused = Vec::new();
    for (name, verdict) in &verdicts {
        let ingress = name.starts_with("Ingress ");
        if !ingress && !name.starts_with("Service ") {
            continue;
        }
        if !verdict.allowed {
            refused.push((name.clone(), verdict.clone()));
        } else if ingress {
            let ingress = serde_json::from_value(verdict.object.clone())
                .map_err(|e| format!("{name}: {e}"))?;
            admitted.ingresses.push(ingress);
        } else {
            let service = serde_json::from_value(verdict.object.clone())
                .map_err(|e| format!("{name}: {e}"))?;
            admitted.services.push(service);
        }
    }
    println!(
        "admitted {} Ingress(es), refused {}",
        admitted.ingresses.len(),
        refused.len()
    );

    step("building the desired stacks (model builder)");
    let stacks = model::plan::plan(&admitted, &facts).map_err(|e| e.to_string())?;

    let deployer = Deployer::new(clients.clone(), DeployConfig::new(CLUSTER, vpc_id.clone()));
    for stack in &stacks {
        step(&format!("deploying {} to AWS", owner(stack)));
        let report = deployer.deploy(stack).await.map_err(|e| e.to_string())?;
        println!(
            "  created {}, modified {}, deleted {}; {} AWS calls ({} mutating); DNS name {}",
            report.created.len(),
            report.modified.len(),
            report.deleted.len(),
            report.calls_by_operation.read_total() + report.calls_by_operation.mutating_total(),
            report.calls_by_operation.mutating_total(),
            report.dns_name.as_deref().unwrap_or("-"),
        );
        summary.dns_names.extend(report.dns_name);
    }

    step("what AWS now holds");
    print_aws(&clients).await?;

    for stack in &stacks {
        step(&format!("re-syncing {} unchanged", owner(stack)));
        let report = deployer.deploy(stack).await.map_err(|e| e.to_string())?;
        println!(
            "  {} mutating calls, {} reads",
            report.calls_by_operation.mutating_total(),
            report.calls_by_operation.read_total()
        );
        summary.resync_mutating_calls += report.calls_by_operation.mutating_total();
    }

    step("the webhook's verdict on the deliberately bad example");
    for (name, verdict) in &refused {
        println!("DENIED {name}");
        summary.refused.push(name.clone());
        let message = verdict.message.as_deref().unwrap_or_default();
        let reasons = message
            .strip_prefix(name.as_str())
            .and_then(|r| r.strip_prefix(": "))
            .unwrap_or(message);
        for reason in reasons.split("; ") {
            println!("  {reason}");
        }
    }
    step("stopping moto");
    drop(moto);
    Ok(summary)
}

/// `IngressGroup <id>` or `Service <ns/name>`.
fn owner(stack: &model::stack::Stack) -> String {
    match stack.kind {
        model::stack::StackKind::Ingress => format!("IngressGroup {}", stack.id),
        model::stack::StackKind::Service => format!("Service {} (NLB)", stack.id),
    }
}

fn step(what: &str) {
    eprintln!("==> {what}");
}

fn clients(endpoint: &str) -> AwsClients {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
            Credentials::new("demo", "demo", None, None, "make-run"),
        ))
        .build();
    AwsClients::new(&sdk, &[])
}

fn tags(resource: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(
            pairs
                .iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build()
}

async fn create_network(clients: &AwsClients) -> Result<(String, String), String> {
    let ec2 = &clients.ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .tag_specifications(tags(ResourceType::Vpc, &[("Name", "demo")]))
        .send()
        .await
        .map_err(|e| format!("CreateVpc: {e}"))?;
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or("CreateVpc returned no VPC id")?
        .to_string();
    for (az, cidr) in [("us-west-2a", "10.0.1.0/24"), ("us-west-2b", "10.0.2.0/24")] {
        ec2.create_subnet()
            .vpc_id(&vpc_id)
            .availability_zone(az)
            .cidr_block(cidr)
            .tag_specifications(tags(
                ResourceType::Subnet,
                &[
                    ("Name", &format!("public-{az}")),
                    ("kubernetes.io/role/elb", "1"),
                ],
            ))
            .send()
            .await
            .map_err(|e| format!("CreateSubnet {az}: {e}"))?;
    }
    let sg = ec2
        .create_security_group()
        .vpc_id(&vpc_id)
        .group_name("k8s-traffic-demo")
        .description("[k8s] Shared Backend SecurityGroup for LoadBalancer")
        .tag_specifications(tags(
            ResourceType::SecurityGroup,
            &[(TAG_CLUSTER, CLUSTER), (TAG_ELBV2_RESOURCE, "backend-sg")],
        ))
        .send()
        .await
        .map_err(|e| format!("CreateSecurityGroup: {e}"))?;
    let sg_id = sg
        .group_id()
        .ok_or("CreateSecurityGroup returned no id")?
        .to_string();
    Ok((vpc_id, sg_id))
}

/// The VPC's subnets as the model sees them.
pub async fn describe_subnets(clients: &AwsClients, vpc_id: &str) -> Result<Vec<Subnet>, String> {
    let out = clients
        .ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .send()
        .await
        .map_err(|e| format!("DescribeSubnets: {e}"))?;
    Ok(out
        .subnets()
        .iter()
        .map(|s| {
            let tags: BTreeMap<String, String> = s
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                az: s.availability_zone().unwrap_or_default().to_string(),
                az_id: s.availability_zone_id().map(str::to_string),
                vpc_id: s.vpc_id().unwrap_or_default().to_string(),
                available_ips: i64::from(s.available_ip_address_count().unwrap_or_default()),
                tags,
                ipv6_cidrs: s
                    .ipv6_cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.ipv6_cidr_block().map(str::to_string))
                    .collect(),
                cidr: s.cidr_block().map(str::to_string),
                locale: Default::default(),
            }
        })
        .collect())
}

async fn print_aws(clients: &AwsClients) -> Result<(), String> {
    let elbv2 = &clients.elbv2;
    let lbs = elbv2
        .describe_load_balancers()
        .send()
        .await
        .map_err(|e| format!("DescribeLoadBalancers: {e}"))?;
    for lb in lbs.load_balancers() {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        println!(
            "LoadBalancer {} ({}, {}) dns={}",
            lb.load_balancer_name().unwrap_or_default(),
            lb.scheme().map(|s| s.as_str()).unwrap_or_default(),
            lb.r#type().map(|t| t.as_str()).unwrap_or_default(),
            lb.dns_name().unwrap_or_default()
        );
        let listeners = elbv2
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| format!("DescribeListeners: {e}"))?;
        for listener in listeners.listeners() {
            println!(
                "  Listener {} {}",
                listener.protocol().map(|p| p.as_str()).unwrap_or_default(),
                listener.port().unwrap_or_default()
            );
            let rules = elbv2
                .describe_rules()
                .listener_arn(listener.listener_arn().unwrap_or_default())
                .send()
                .await
                .map_err(|e| format!("DescribeRules: {e}"))?;
            for rule in rules.rules() {
                let conditions: Vec<String> = rule
                    .conditions()
                    .iter()
                    .map(|c| {
                        let values: Vec<&str> = c
                            .host_header_config()
                            .map(|h| h.values())
                            .or_else(|| c.path_pattern_config().map(|p| p.values()))
                            .or_else(|| c.http_request_method_config().map(|m| m.values()))
                            .unwrap_or(c.values())
                            .iter()
                            .map(String::as_str)
                            .collect();
                        format!("{} {:?}", c.field().unwrap_or_default(), values)
                    })
                    .collect();
                let actions: Vec<&str> = rule
                    .actions()
                    .iter()
                    .filter_map(|a| a.r#type().map(|t| t.as_str()))
                    .collect();
                println!(
                    "    Rule priority={} if {} then {}",
                    rule.priority().unwrap_or_default(),
                    if conditions.is_empty() {
                        "(default)".to_string()
                    } else {
                        conditions.join(" and ")
                    },
                    actions.join(",")
                );
            }
        }
    }
    let tgs = elbv2
        .describe_target_groups()
        .send()
        .await
        .map_err(|e| format!("DescribeTargetGroups: {e}"))?;
    for tg in tgs.target_groups() {
        println!(
            "TargetGroup {} type={} {}:{} health={}",
            tg.target_group_name().unwrap_or_default(),
            tg.target_type().map(|t| t.as_str()).unwrap_or_default(),
            tg.protocol().map(|p| p.as_str()).unwrap_or_default(),
            tg.port().unwrap_or_default(),
            tg.health_check_path().unwrap_or_default()
        );
    }
    Ok(())
}
