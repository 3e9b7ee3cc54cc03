//! What an account holds, read with plain SDK calls (not the deployer's), and resources that
//! are not ours, for the deployer tests.

use std::collections::BTreeMap;

use aws_io::AwsClients;
use aws_sdk_elasticloadbalancingv2::types as elbv2;
use model::tags::{TAG_CLUSTER, TAG_INGRESS_RESOURCE, TAG_INGRESS_STACK};

use super::Network;

pub type Tags = BTreeMap<String, String>;
/// An ARN (or group ID) and the tags on it.
pub type Tagged = (String, Tags);

/// Everything ELBv2 and EC2 hold in an account, by name, with tags.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Load balancers by name (moto allows several with one name).
    pub load_balancers: BTreeMap<String, Vec<Tagged>>,
    pub target_groups: BTreeMap<String, Tagged>,
    /// Security groups by group name.
    pub security_groups: BTreeMap<String, Tagged>,
    /// (lb name, port) → listener arn
    pub listeners: BTreeMap<(String, i32), String>,
    /// (lb name, port, priority) → rule
    pub rules: BTreeMap<(String, i32, String), Tagged>,
}

pub async fn elbv2_tags(
    clients: &AwsClients,
    arns: &[String],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for batch in arns.chunks(20) {
        let page = clients
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(batch.to_vec()))
            .send()
            .await
            .unwrap();
        for d in page.tag_descriptions() {
            out.insert(
                d.resource_arn().unwrap().to_owned(),
                d.tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap().to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            );
        }
    }
    out
}

pub async fn inventory(clients: &AwsClients) -> Inventory {
    let mut inv = Inventory::default();
    let lbs = clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap();
    let tgs = clients.elbv2.describe_target_groups().send().await.unwrap();
    let mut arns: Vec<String> = lbs
        .load_balancers()
        .iter()
        .map(|l| l.load_balancer_arn().unwrap().to_owned())
        .collect();
    arns.extend(
        tgs.target_groups()
            .iter()
            .map(|t| t.target_group_arn().unwrap().to_owned()),
    );
    let mut listener_info = Vec::new();
    for lb in lbs.load_balancers() {
        let name = lb.load_balancer_name().unwrap().to_owned();
        let listeners = clients
            .elbv2
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        for l in listeners.listeners() {
            let port = l.port().unwrap();
            inv.listeners
                .insert((name.clone(), port), l.listener_arn().unwrap().to_owned());
            let rules = clients
                .elbv2
                .describe_rules()
                .listener_arn(l.listener_arn().unwrap())
                .send()
                .await
                .unwrap();
            for r in rules.rules() {
                if r.is_default() == Some(true) {
                    continue;
                }
                let arn = r.rule_arn().unwrap().to_owned();
                arns.push(arn.clone());
                listener_info.push((name.clone(), port, r.priority().unwrap().to_owned(), arn));
            }
        }
    }
    let tags = elbv2_tags(clients, &arns).await;
    for lb in lbs.load_balancers() {
        let arn = lb.load_balancer_arn().unwrap().to_owned();
        inv.load_balancers
            .entry(lb.load_balancer_name().unwrap().to_owned())
            .or_default()
            .push((arn.clone(), tags.get(&arn).cloned().unwrap_or_default()));
    }
    for tg in tgs.target_groups() {
        let arn = tg.target_group_arn().unwrap().to_owned();
        inv.target_groups.insert(
            tg.target_group_name().unwrap().to_owned(),
            (arn.clone(), tags.get(&arn).cloned().unwrap_or_default()),
        );
    }
    for (lb, port, priority, arn) in listener_info {
        let t = tags.get(&arn).cloned().unwrap_or_default();
        inv.rules.insert((lb, port, priority), (arn, t));
    }
    let sgs = clients.ec2.describe_security_groups().send().await.unwrap();
    for sg in sgs.security_groups() {
        inv.security_groups.insert(
            sg.group_name().unwrap().to_owned(),
            (
                sg.group_id().unwrap().to_owned(),
                sg.tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap().to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            ),
        );
    }
    inv
}

/// Tags naming our stack's load balancer, but for another cluster or no cluster at all.
pub fn lookalike_tags(cluster: Option<&str>, resource: &str) -> Vec<elbv2::Tag> {
    let mut pairs = vec![
        (TAG_INGRESS_STACK, "ns/ing"),
        (TAG_INGRESS_RESOURCE, resource),
    ];
    if let Some(c) = cluster {
        pairs.push((TAG_CLUSTER, c));
    }
    pairs
        .into_iter()
        .map(|(k, v)| elbv2::Tag::builder().key(k).value(v).build())
        .collect()
}

pub async fn foreign_lb(
    clients: &AwsClients,
    net: &Network,
    name: &str,
    tags: Vec<elbv2::Tag>,
) -> String {
    let lb = clients
        .elbv2
        .create_load_balancer()
        .name(name)
        .subnets(&net.subnets[0])
        .subnets(&net.subnets[1])
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .unwrap();
    let arn = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    let action = elbv2::Action::builder()
        .r#type(elbv2::ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            elbv2::FixedResponseActionConfig::builder()
                .status_code("200")
                .build(),
        )
        .build();
    clients
        .elbv2
        .create_listener()
        .load_balancer_arn(&arn)
        .port(80)
        .protocol(elbv2::ProtocolEnum::Http)
        .default_actions(action)
        .send()
        .await
        .unwrap();
    arn
}

pub async fn foreign_tg(clients: &AwsClients, net: &Network, name: &str, tags: Vec<elbv2::Tag>) {
    clients
        .elbv2
        .create_target_group()
        .name(name)
        .protocol(elbv2::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&net.vpc_id)
        .target_type(elbv2::TargetTypeEnum::Ip)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .unwrap();
}

pub async fn foreign_sg(clients: &AwsClients, net: &Network, name: &str, cluster: Option<&str>) {
    let mut call = clients
        .ec2
        .create_security_group()
        .group_name(name)
        .description("not ours")
        .vpc_id(&net.vpc_id);
    if let Some(c) = cluster {
        let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
        call = call.tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                .tags(tag(TAG_CLUSTER, c))
                .tags(tag(TAG_INGRESS_STACK, "ns/ing"))
                .tags(tag(TAG_INGRESS_RESOURCE, "ManagedLBSecurityGroup"))
                .build(),
        );
    }
    call.send().await.unwrap();
}

/// Everything in `inv` whose name does not start with `prefix`, with its tags.
pub fn others(inv: &Inventory, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, lbs) in &inv.load_balancers {
        for (_, tags) in lbs {
            out.push(format!("lb {name} {tags:?}"));
        }
    }
    for (name, (_, tags)) in &inv.target_groups {
        out.push(format!("tg {name} {tags:?}"));
    }
    for (name, (_, tags)) in &inv.security_groups {
        out.push(format!("sg {name} {tags:?}"));
    }
    for (lb, port) in inv.listeners.keys() {
        out.push(format!("listener {lb}:{port}"));
    }
    for ((lb, port, priority), (_, tags)) in &inv.rules {
        out.push(format!("rule {lb}:{port}:{priority} {tags:?}"));
    }
    out.retain(|line| {
        !line
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .starts_with(prefix)
    });
    out
}
