use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use contract::cluster::StaticCluster;
use contract::crd::ServiceReference;

const ARN: &str =
    "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/0123456789abcdef";
const VPC: &str = "vpc-0123456789abcdef0";

fn target_group(target_type: &str, ip: &str, protocol: &str) -> TargetGroupInfo {
    TargetGroupInfo {
        arn: ARN.to_string(),
        name: "web".to_string(),
        target_type: target_type.to_string(),
        ip_address_type: ip.to_string(),
        vpc_id: VPC.to_string(),
        protocol: protocol.to_string(),
    }
}

/// A cluster whose AWS side holds one `ip`/`ipv4`/HTTP target group.
fn cluster() -> StaticCluster {
    StaticCluster {
        target_groups: vec![target_group("ip", "ipv4", "HTTP")],
        ..Default::default()
    }
}

fn spec() -> TargetGroupBindingSpec {
    TargetGroupBindingSpec {
        target_group_arn: Some(ARN.to_string()),
        target_type: Some(TargetType::Ip),
        service_ref: ServiceReference {
            name: "web".to_string(),
            port: IntOrString::Int(80),
        },
        ..Default::default()
    }
}

fn binding(namespace: &str, name: &str, spec: TargetGroupBindingSpec) -> TargetGroupBinding {
    let mut tgb = TargetGroupBinding::new(name, spec);
    tgb.metadata.namespace = Some(namespace.to_string());
    tgb
}

async fn create(tgb: &TargetGroupBinding, cluster: &StaticCluster) -> Result<(), String> {
    validate(
        Op::Create,
        tgb,
        None,
        cluster,
        cluster,
        &WebhookConfig::default(),
    )
    .await
}

async fn update(
    new: TargetGroupBindingSpec,
    old: TargetGroupBindingSpec,
    config: &WebhookConfig,
) -> Result<(), String> {
    let c = cluster();
    let new = binding("ns", "web", new);
    let old = binding("ns", "web", old);
    validate(Op::Update, &new, Some(&old), &c, &c, config).await
}

#[tokio::test]
async fn a_complete_binding_is_accepted() {
    let mut s = spec();
    s.vpc_id = Some(VPC.to_string());
    s.ip_address_type = Some(TargetGroupIpAddressType::Ipv4);
    s.target_group_protocol = Some(TargetGroupProtocol::Http);
    assert_eq!(create(&binding("ns", "web", s), &cluster()).await, Ok(()));
}

#[tokio::test]
async fn missing_fields_are_listed_together() {
    let mut s = spec();
    s.target_group_arn = None;
    s.target_type = None;
    assert_eq!(
        create(&binding("ns", "web", s), &cluster()).await,
        Err("TargetGroupBinding must specify these fields: either TargetGroupARN or TargetGroupName,spec.targetType".to_string())
    );
}

#[tokio::test]
async fn name_is_resolved_before_the_other_checks() {
    let mut s = spec();
    s.target_group_arn = None;
    s.target_group_name = Some("web".to_string());
    let other = binding("other", "taken", spec());
    let mut c = cluster();
    c.target_group_bindings.push(Arc::new(other));
    // The duplicate check sees the ARN the name resolved to.
    let error = create(&binding("ns", "web", s), &c)
        .await
        .expect_err("duplicate");
    assert!(
        error.starts_with(&format!("TargetGroup {ARN} is already bound")),
        "{error}"
    );
}

#[tokio::test]
async fn unknown_name_is_reported() {
    let mut s = spec();
    s.target_group_arn = None;
    s.target_group_name = Some("nope".to_string());
    assert_eq!(
        create(&binding("ns", "web", s), &cluster()).await,
        Err("searching TargetGroup with name nope: expecting a single targetGroup with query [nope] but got 0".to_string())
    );
}

#[tokio::test]
async fn node_selector_is_refused_with_ip_targets() {
    let mut s = spec();
    s.node_selector = Some(LabelSelector::default());
    assert_eq!(
        create(&binding("ns", "web", s.clone()), &cluster()).await,
        Err("TargetGroupBinding cannot set NodeSelector when TargetType is ip".to_string())
    );
    let mut c = cluster();
    c.target_groups = vec![target_group("instance", "ipv4", "HTTP")];
    s.target_type = Some(TargetType::Instance);
    assert_eq!(create(&binding("ns", "web", s), &c).await, Ok(()));
}

#[tokio::test]
async fn a_bound_target_group_needs_multi_cluster_everywhere() {
    let mut c = cluster();
    c.target_group_bindings = vec![
        Arc::new(binding("b", "second", spec())),
        Arc::new(binding("a", "first", spec())),
    ];
    let message = format!(
        "TargetGroup {ARN} is already bound to following TargetGroupBindings [a/first b/second]. Please enable MultiCluster mode on all TargetGroupBindings referencing {ARN} or choose a different Target Group ARN."
    );
    assert_eq!(
        create(&binding("ns", "web", spec()), &c).await,
        Err(message.clone())
    );

    // The new binding alone being multi-cluster is not enough.
    let mut multi = spec();
    multi.multi_cluster_target_group = true;
    assert_eq!(
        create(&binding("ns", "web", multi.clone()), &c).await,
        Err(message)
    );

    // Every binding multi-cluster: accepted.
    c.target_group_bindings = vec![
        Arc::new(binding("a", "first", multi.clone())),
        Arc::new(binding("b", "second", multi.clone())),
    ];
    assert_eq!(create(&binding("ns", "web", multi), &c).await, Ok(()));
}

#[tokio::test]
async fn the_object_itself_and_other_target_groups_do_not_count() {
    let mut other = spec();
    other.target_group_arn = Some(format!("{ARN}0"));
    let mut c = cluster();
    c.target_group_bindings = vec![
        Arc::new(binding("ns", "web", spec())),
        Arc::new(binding("ns", "other", other)),
    ];
    assert_eq!(create(&binding("ns", "web", spec()), &c).await, Ok(()));
}

#[tokio::test]
async fn same_uid_is_the_same_object() {
    let mut stored = binding("ns", "old-name", spec());
    stored.metadata.uid = Some("uid-1".to_string());
    let mut new = binding("ns", "web", spec());
    new.metadata.uid = Some("uid-1".to_string());
    let mut c = cluster();
    c.target_group_bindings = vec![Arc::new(stored)];
    assert_eq!(create(&new, &c).await, Ok(()));
}

#[tokio::test]
async fn ip_address_type_must_match_aws() {
    let mut c = cluster();
    c.target_groups = vec![target_group("ip", "ipv6", "HTTP")];
    // Unset means ipv4.
    assert_eq!(
        create(&binding("ns", "web", spec()), &c).await,
        Err(format!(
            "invalid IP address type ipv6 for TargetGroup {ARN}"
        ))
    );
    let mut s = spec();
    s.ip_address_type = Some(TargetGroupIpAddressType::Ipv6);
    assert_eq!(create(&binding("ns", "web", s.clone()), &c).await, Ok(()));
    assert_eq!(
        create(&binding("ns", "web", s), &cluster()).await,
        Err(format!(
            "invalid IP address type ipv4 for TargetGroup {ARN}"
        ))
    );
}

#[tokio::test]
async fn lookup_failures_are_wrapped() {
    let empty = StaticCluster::default();
    assert_eq!(
        create(&binding("ns", "web", spec()), &empty).await,
        Err(format!(
            "unable to get target group IP address type: expecting a single targetGroup with query [{ARN}] but got 0"
        ))
    );
    let mut c = cluster();
    c.target_groups = vec![target_group("ip", "weird", "HTTP")];
    assert_eq!(
        create(&binding("ns", "web", spec()), &c).await,
        Err(
            "unable to get target group IP address type: unsupported IPAddressType: weird"
                .to_string()
        )
    );
}

#[test]
fn vpc_id_shapes() {
    for good in [
        "vpc-01234567",
        "vpc-0123456789abcdef0",
        "vpc-0123456789abcdef0123456789abcdef",
    ] {
        assert!(is_vpc_id(good), "{good}");
    }
    for bad in [
        "vpc-0123456",
        "vpc-0123456789ABCDEF0",
        "vpc-0123456g",
        "0123456789",
        "vpc-",
        "vpc-012345678",
    ] {
        assert!(!is_vpc_id(bad), "{bad}");
    }
}

#[tokio::test]
async fn vpc_id_must_be_well_formed_and_match_aws() {
    let mut s = spec();
    s.vpc_id = Some("vpc-123".to_string());
    assert_eq!(
        create(&binding("ns", "web", s.clone()), &cluster()).await,
        Err("ValidationError: vpcID vpc-123 failed to satisfy constraint: VPC Id must begin with 'vpc-' followed by 8, 17 or 32 lowercase letters (a-f) or numbers.".to_string())
    );
    s.vpc_id = Some("vpc-deadbeef".to_string());
    assert_eq!(
        create(&binding("ns", "web", s), &cluster()).await,
        Err(format!(
            "invalid VpcID vpc-deadbeef doesnt match VpcID from TargetGroup {ARN}"
        ))
    );
}

#[tokio::test]
async fn assume_role_needs_ip_targets() {
    let mut c = cluster();
    c.target_groups = vec![target_group("instance", "ipv4", "HTTP")];
    let mut s = spec();
    s.target_type = Some(TargetType::Instance);
    s.iam_role_arn_to_assume = Some("arn:aws:iam::210987654321:role/lbc".to_string());
    assert_eq!(
        create(&binding("ns", "web", s.clone()), &c).await,
        Err("Unable to use instance target type while using assume role".to_string())
    );
    s.target_type = Some(TargetType::Ip);
    assert_eq!(create(&binding("ns", "web", s), &cluster()).await, Ok(()));
}

#[tokio::test]
async fn protocol_must_match_aws() {
    let mut s = spec();
    s.target_group_protocol = Some(TargetGroupProtocol::Https);
    assert_eq!(
        create(&binding("ns", "web", s), &cluster()).await,
        Err(format!(
            "TargetGroup {ARN} protocol differs (got HTTPS, expected HTTP)"
        ))
    );
}

#[tokio::test]
async fn quic_needs_ip_targets() {
    let mut c = cluster();
    c.target_groups = vec![target_group("instance", "ipv4", "TCP_QUIC")];
    let mut s = spec();
    s.target_type = Some(TargetType::Instance);
    s.target_group_protocol = Some(TargetGroupProtocol::TcpQuic);
    assert_eq!(
        create(&binding("ns", "web", s.clone()), &c).await,
        Err("QUIC protocol is not supported for Instance target types.".to_string())
    );
    c.target_groups = vec![target_group("ip", "ipv4", "QUIC")];
    s.target_type = Some(TargetType::Ip);
    s.target_group_protocol = Some(TargetGroupProtocol::Quic);
    assert_eq!(create(&binding("ns", "web", s), &c).await, Ok(()));
}

#[tokio::test]
async fn update_without_changes_is_accepted() {
    assert_eq!(
        update(spec(), spec(), &WebhookConfig::default()).await,
        Ok(())
    );
}

#[tokio::test]
async fn update_needs_old_object() {
    let c = cluster();
    let new = binding("ns", "web", spec());
    let error = validate(Op::Update, &new, None, &c, &c, &WebhookConfig::default())
        .await
        .expect_err("no old object");
    assert!(error.contains("oldObject"), "{error}");
}

#[tokio::test]
async fn arn_and_target_type_are_immutable() {
    let mut new = spec();
    new.target_group_arn = Some(format!("{ARN}0"));
    new.target_type = Some(TargetType::Instance);
    assert_eq!(
        update(new, spec(), &WebhookConfig::default()).await,
        Err("TargetGroupBinding update may not change these immutable fields: spec.targetGroupARN,spec.targetType".to_string())
    );
}

#[tokio::test]
async fn ip_address_type_may_only_be_set_to_ipv4() {
    let config = WebhookConfig::default();
    let mut new = spec();
    new.ip_address_type = Some(TargetGroupIpAddressType::Ipv4);
    assert_eq!(update(new.clone(), spec(), &config).await, Ok(()));
    let message =
        "TargetGroupBinding update may not change these immutable fields: spec.ipAddressType";
    // Removing it, or setting ipv6 where there was none, or changing it: refused.
    assert_eq!(
        update(spec(), new.clone(), &config).await,
        Err(message.to_string())
    );
    let mut v6 = spec();
    v6.ip_address_type = Some(TargetGroupIpAddressType::Ipv6);
    assert_eq!(
        update(v6.clone(), spec(), &config).await,
        Err(message.to_string())
    );
    assert_eq!(update(v6, new, &config).await, Err(message.to_string()));
}

#[tokio::test]
async fn vpc_id_may_only_be_set_to_the_cluster_vpc() {
    let config = WebhookConfig {
        vpc_id: Some(VPC.to_string()),
        ..Default::default()
    };
    let message = "TargetGroupBinding update may not change these immutable fields: spec.vpcID";
    let mut cluster_vpc = spec();
    cluster_vpc.vpc_id = Some(VPC.to_string());
    let mut other_vpc = spec();
    other_vpc.vpc_id = Some("vpc-deadbeef".to_string());
    assert_eq!(update(cluster_vpc.clone(), spec(), &config).await, Ok(()));
    assert_eq!(
        update(other_vpc.clone(), spec(), &config).await,
        Err(message.to_string())
    );
    assert_eq!(
        update(spec(), cluster_vpc.clone(), &config).await,
        Err(message.to_string())
    );
    assert_eq!(
        update(other_vpc, cluster_vpc.clone(), &config).await,
        Err(message.to_string())
    );
    // Without a configured cluster VPC, nothing may be added.
    assert_eq!(
        update(cluster_vpc, spec(), &WebhookConfig::default()).await,
        Err(message.to_string())
    );
}

#[tokio::test]
async fn update_rechecks_required_fields_node_selector_and_assume_role() {
    let config = WebhookConfig::default();
    let mut untyped = spec();
    untyped.target_type = None;
    assert_eq!(
        update(untyped.clone(), untyped, &config).await,
        Err("TargetGroupBinding must specify these fields: spec.targetType".to_string())
    );
    let mut selector = spec();
    selector.node_selector = Some(LabelSelector::default());
    assert_eq!(
        update(selector, spec(), &config).await,
        Err("TargetGroupBinding cannot set NodeSelector when TargetType is ip".to_string())
    );
    let mut role = spec();
    role.target_type = Some(TargetType::Instance);
    role.iam_role_arn_to_assume = Some("arn:aws:iam::210987654321:role/lbc".to_string());
    let mut old = spec();
    old.target_type = Some(TargetType::Instance);
    assert_eq!(
        update(role, old, &config).await,
        Err("Unable to use instance target type while using assume role".to_string())
    );
}

#[tokio::test]
async fn update_rechecks_duplicates() {
    let mut c = cluster();
    c.target_group_bindings = vec![
        Arc::new(binding("ns", "web", spec())),
        Arc::new(binding("ns", "twin", spec())),
    ];
    let new = binding("ns", "web", spec());
    let old = binding("ns", "web", spec());
    let error = validate(
        Op::Update,
        &new,
        Some(&old),
        &c,
        &c,
        &WebhookConfig::default(),
    )
    .await
    .expect_err("twin binds the same group");
    assert!(error.contains("[ns/twin]"), "{error}");
}
