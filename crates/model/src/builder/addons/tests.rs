//! Add-on precedence and conflicts that the golden cases do not show: a WAFv2 name over ARNs,
//! IngressClassParams names over annotations, the deprecated WAF Classic alias, Shield
//! conflicts, and nothing at all when no member asks.

use std::collections::BTreeMap;

use contract::crd::IngressClassParamsSpec;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;

use crate::ClusterFacts;
use crate::builder::{BuildError, GroupInputs, Member, ObjectMap, build};
use crate::group::GroupId;
use crate::stack::{Ref, Stack, StringToken};
use crate::subnets::Subnet;

fn facts() -> ClusterFacts {
    let mut facts = ClusterFacts::new("c", "vpc-1");
    facts.backend_security_group = Some("sg-backend".to_owned());
    facts.subnets = ["az-1", "az-2"]
        .iter()
        .map(|az| Subnet {
            id: format!("subnet-{az}"),
            az: (*az).to_owned(),
            az_id: None,
            vpc_id: "vpc-1".to_owned(),
            available_ips: 100,
            tags: BTreeMap::from([("kubernetes.io/role/internal-elb".to_owned(), "1".to_owned())]),
            ipv6_cidrs: Vec::new(),
            cidr: None,
            locale: Default::default(),
        })
        .collect();
    facts
}

/// A member of group `g` named `name` with these annotations (suffixes of
/// `alb.ingress.kubernetes.io/`).
fn member(name: &str, annotations: &[(&str, &str)]) -> Ingress {
    let mut all: BTreeMap<String, String> = annotations
        .iter()
        .map(|(k, v)| (format!("alb.ingress.kubernetes.io/{k}"), (*v).to_owned()))
        .collect();
    all.insert("alb.ingress.kubernetes.io/group.name".into(), "g".into());
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "shop", "annotations": all},
        "spec": {"rules": [{"host": format!("{name}.example.com"), "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    }))
    .expect("valid Ingress")
}

fn build_group(
    members: &[(&Ingress, Option<&IngressClassParamsSpec>)],
) -> Result<Stack, BuildError> {
    let facts = facts();
    let mut services: ObjectMap<Service> = ObjectMap::new();
    services.insert(
        ("shop".into(), "web".into()),
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}
        }))
        .expect("valid Service"),
    );
    let secrets: ObjectMap<Secret> = ObjectMap::new();
    build(&GroupInputs {
        group: GroupId::explicit("g").expect("valid group name"),
        members: members
            .iter()
            .map(|(ingress, params)| Member {
                ingress,
                params: *params,
            })
            .collect(),
        inactive_members: Vec::new(),
        services: &services,
        secrets: &secrets,
        facts: &facts,
        existing_lb: None,
    })
}

fn params(arn: Option<&str>, name: Option<&str>) -> IngressClassParamsSpec {
    IngressClassParamsSpec {
        wafv2_acl_arn: arn.map(str::to_owned),
        wafv2_acl_name: name.map(str::to_owned),
        ..IngressClassParamsSpec::default()
    }
}

fn wafv2(stack: &Stack) -> Option<(String, Option<String>)> {
    stack
        .resources
        .wafv2_web_acl_associations
        .get("LoadBalancer")
        .map(|r| (r.spec.web_acl_arn.clone(), r.spec.web_acl_name.clone()))
}

#[test]
fn no_setting_means_no_add_on_in_the_stack() {
    let a = member("a", &[]);
    let stack = build_group(&[(&a, None)]).expect("builds");
    let r = &stack.resources;
    assert!(r.wafv2_web_acl_associations.is_empty());
    assert!(r.waf_regional_web_acl_associations.is_empty());
    assert!(r.shield_protections.is_empty());
    assert!(!stack.to_json_pretty().expect("json").contains("WAF"));
}

#[test]
fn a_name_wins_over_arns_of_other_members() {
    let a = member("a", &[("wafv2-acl-name", "shop-acl")]);
    let b = member("b", &[("wafv2-acl-arn", "arn:b")]);
    let stack = build_group(&[(&a, None), (&b, None)]).expect("builds");
    assert_eq!(
        wafv2(&stack),
        Some((String::new(), Some("shop-acl".into())))
    );
    let spec = &stack.resources.wafv2_web_acl_associations["LoadBalancer"].spec;
    assert_eq!(
        spec.resource_arn,
        StringToken::from(Ref::load_balancer_arn())
    );
    assert!(!spec.disassociates());
}

#[test]
fn class_params_name_replaces_the_annotation_and_conflicts_name_both() {
    let a = member("a", &[("wafv2-acl-name", "from-annotation")]);
    let p = params(None, Some("from-params"));
    let stack = build_group(&[(&a, Some(&p))]).expect("builds");
    assert_eq!(
        wafv2(&stack),
        Some((String::new(), Some("from-params".into())))
    );

    let b = member("b", &[("wafv2-acl-name", "other")]);
    let err = build_group(&[(&a, Some(&p)), (&b, None)]).expect_err("names differ");
    assert_eq!(
        err.to_string(),
        "Ingress shop/b: alb.ingress.kubernetes.io/wafv2-acl-name: conflicting WAFv2 WebACL names: [from-params other]"
    );
}

#[test]
fn name_none_disassociates_whatever_the_arns_say() {
    let a = member(
        "a",
        &[("wafv2-acl-name", "none"), ("wafv2-acl-arn", "arn:a")],
    );
    let stack = build_group(&[(&a, None)]).expect("builds");
    assert_eq!(wafv2(&stack), Some((String::new(), None)));
    assert!(
        stack.resources.wafv2_web_acl_associations["LoadBalancer"]
            .spec
            .disassociates()
    );
}

#[test]
fn class_params_arn_conflicts_name_the_params_field() {
    let a = member("a", &[]);
    let b = member("b", &[("wafv2-acl-arn", "arn:b")]);
    let p = params(Some("arn:p"), None);
    let err = build_group(&[(&a, Some(&p)), (&b, None)]).expect_err("ARNs differ");
    assert_eq!(
        err.to_string(),
        "Ingress shop/b: alb.ingress.kubernetes.io/wafv2-acl-arn: conflicting WAFv2 WebACL ARNs: [arn:b arn:p]"
    );
    assert_eq!(err.category(), "conflict");
}

#[test]
fn waf_classic_alias_and_conflicts() {
    let a = member("a", &[("web-acl-id", "legacy")]);
    let b = member("b", &[("waf-acl-id", "legacy")]);
    let stack = build_group(&[(&a, None), (&b, None)]).expect("builds");
    let spec = &stack.resources.waf_regional_web_acl_associations["LoadBalancer"].spec;
    assert_eq!(spec.web_acl_id, "legacy");

    let c = member("c", &[("waf-acl-id", "none")]);
    let err = build_group(&[(&a, None), (&c, None)]).expect_err("IDs differ");
    assert_eq!(
        err.to_string(),
        "Ingress shop/c: alb.ingress.kubernetes.io/waf-acl-id: conflicting WAFClassic WebACL IDs: [legacy none]"
    );
}

#[test]
fn shield_members_must_agree() {
    let a = member("a", &[("shield-advanced-protection", "true")]);
    let b = member("b", &[]);
    let stack = build_group(&[(&a, None), (&b, None)]).expect("builds");
    assert!(
        stack.resources.shield_protections["LoadBalancer"]
            .spec
            .enabled
    );

    let c = member("c", &[("shield-advanced-protection", "false")]);
    let err = build_group(&[(&a, None), (&c, None)]).expect_err("members disagree");
    assert_eq!(
        err.to_string(),
        "Ingress shop/c: alb.ingress.kubernetes.io/shield-advanced-protection: conflicting enable shield advanced protection"
    );
}
