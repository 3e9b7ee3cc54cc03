use std::collections::BTreeMap;

use contract::cluster::StaticCluster;
use contract::crd::{IngressClassParamsSpec, IngressGroup};
use k8s_openapi::api::networking::v1::{
    IngressClass, IngressClassParametersReference, IngressClassSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::*;
use crate::fakes::IngressBuilder;

fn alb_class(name: &str, params: Option<&str>) -> Arc<IngressClass> {
    Arc::new(IngressClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(IngressClassSpec {
            controller: Some("ingress.k8s.aws/alb".into()),
            parameters: params.map(|p| IngressClassParametersReference {
                api_group: Some("elbv2.k8s.aws".into()),
                kind: "IngressClassParams".into(),
                name: p.into(),
                ..IngressClassParametersReference::default()
            }),
        }),
    })
}

fn params(name: &str, group: Option<&str>, rv: &str) -> Arc<IngressClassParams> {
    let mut p = IngressClassParams::new(
        name,
        IngressClassParamsSpec {
            group: group.map(|g| IngressGroup { name: g.into() }),
            ..IngressClassParamsSpec::default()
        },
    );
    p.metadata.resource_version = Some(rv.into());
    Arc::new(p)
}

fn cluster() -> StaticCluster {
    StaticCluster {
        ingress_classes: vec![alb_class("alb", None), alb_class("grouped", Some("p1"))],
        ingress_class_params: vec![params("p1", Some("from-params"), "1")],
        namespaces: BTreeMap::from([
            ("ns".to_string(), BTreeMap::new()),
            ("other".to_string(), BTreeMap::new()),
        ]),
        ..StaticCluster::default()
    }
}

fn groups(list: &[GroupId]) -> BTreeSet<GroupId> {
    list.iter().cloned().collect()
}

fn explicit(name: &str) -> GroupId {
    GroupId::explicit(name).expect("valid group name")
}

#[test]
fn membership_precedence_params_then_annotation_then_implicit() {
    let view = cluster();
    let plain = IngressBuilder::new("ns", "a").class("alb").build();
    assert_eq!(
        membership(&plain, &view, "alb").group(),
        Some(&GroupId::implicit("ns", "a"))
    );
    let annotated = IngressBuilder::new("ns", "b")
        .class("alb")
        .group("team")
        .build();
    assert_eq!(
        membership(&annotated, &view, "alb").group(),
        Some(&explicit("team"))
    );
    // The class's params name a group: it wins over the annotation.
    let both = IngressBuilder::new("ns", "c")
        .class("grouped")
        .group("team")
        .build();
    assert_eq!(
        membership(&both, &view, "alb").group(),
        Some(&explicit("from-params"))
    );
    let foreign = IngressBuilder::new("ns", "d")
        .class("nginx-missing")
        .build();
    assert!(matches!(
        membership(&foreign, &view, "alb"),
        Membership::Invalid(MembershipError::Class(ClassError::ClassNotFound(_)))
    ));
    let legacy_other = IngressBuilder::new("ns", "e").legacy_class("nginx").build();
    assert!(matches!(
        membership(&legacy_other, &view, "alb"),
        Membership::None
    ));
    let bad_name = IngressBuilder::new("ns", "f")
        .class("alb")
        .group("Bad_Name")
        .build();
    assert!(matches!(
        membership(&bad_name, &view, "alb"),
        Membership::Invalid(MembershipError::GroupName { .. })
    ));
    let mut deleting = IngressBuilder::new("ns", "g").class("alb").build();
    deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    assert!(matches!(
        membership(&deleting, &view, "alb"),
        Membership::None
    ));
}

#[test]
fn apply_returns_groups_and_load_splits_active_and_inactive() {
    let view = cluster();
    let mut index = GroupIndex::new("alb");
    let a = IngressBuilder::new("ns", "a")
        .class("alb")
        .group("g")
        .backend("svc-a", 80)
        .build();
    assert_eq!(index.apply(Arc::new(a), &view), groups(&[explicit("g")]));
    let b = IngressBuilder::new("ns", "b")
        .class("alb")
        .group("g")
        .backend("svc-b", 80)
        .finalizer("group.ingress.k8s.aws/g")
        .build();
    assert_eq!(index.apply(Arc::new(b), &view), groups(&[explicit("g")]));

    let loaded = index.load(&explicit("g")).expect("loads");
    let active: Vec<_> = loaded
        .active
        .iter()
        .map(|m| m.ingress.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(active, ["a", "b"]);
    assert!(loaded.inactive.is_empty());
    assert_eq!(
        loaded.services,
        [ObjKey::new("ns", "svc-a"), ObjKey::new("ns", "svc-b")]
            .into_iter()
            .collect()
    );

    // b moves to group h: it is active in h and inactive (still finalized) in g.
    let moved = IngressBuilder::new("ns", "b")
        .class("alb")
        .group("h")
        .backend("svc-b", 80)
        .finalizer("group.ingress.k8s.aws/g")
        .build();
    assert_eq!(
        index.apply(Arc::new(moved), &view),
        groups(&[explicit("g"), explicit("h")])
    );
    let g = index.load(&explicit("g")).expect("loads");
    assert_eq!(g.active.len(), 1);
    assert_eq!(g.inactive.len(), 1);
    assert_eq!(
        g.services,
        [ObjKey::new("ns", "svc-a")].into_iter().collect()
    );
    assert_eq!(index.load(&explicit("h")).expect("loads").active.len(), 1);
    assert_eq!(index.groups(), groups(&[explicit("g"), explicit("h")]));
}

#[test]
fn status_only_update_enqueues_nothing() {
    let view = cluster();
    let mut index = GroupIndex::new("alb");
    let ing = IngressBuilder::new("ns", "a").class("alb").build();
    assert!(!index.apply(Arc::new(ing.clone()), &view).is_empty());
    let mut with_status = ing.clone();
    with_status.metadata.resource_version = Some("2".into());
    with_status.status = Some(Default::default());
    assert!(index.apply(Arc::new(with_status), &view).is_empty());
    // Our own finalizer for the group it is already in changes nothing either.
    let mut finalized = ing.clone();
    finalized.metadata.finalizers = Some(vec!["ingress.k8s.aws/resources".into()]);
    assert!(index.apply(Arc::new(finalized.clone()), &view).is_empty());
    // An annotation change does.
    let mut annotated = finalized;
    annotated
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(
            "alb.ingress.kubernetes.io/scheme".into(),
            "internet-facing".into(),
        );
    assert_eq!(
        index.apply(Arc::new(annotated), &view),
        groups(&[GroupId::implicit("ns", "a")])
    );
}

#[test]
fn service_reverse_index_counts_references() {
    let view = cluster();
    let mut index = GroupIndex::new("alb");
    let shared = ObjKey::new("ns", "shared");
    for (name, group) in [("a", "g1"), ("b", "g1"), ("c", "g2")] {
        let ing = IngressBuilder::new("ns", name)
            .class("alb")
            .group(group)
            .backend("shared", 80)
            .build();
        index.apply(Arc::new(ing), &view);
    }
    assert_eq!(
        index.groups_for_service(&shared),
        groups(&[explicit("g1"), explicit("g2")])
    );
    index.delete(&ObjKey::new("ns", "a"));
    assert_eq!(
        index.groups_for_service(&shared),
        groups(&[explicit("g1"), explicit("g2")])
    );
    index.delete(&ObjKey::new("ns", "b"));
    assert_eq!(index.groups_for_service(&shared), groups(&[explicit("g2")]));
    index.delete(&ObjKey::new("ns", "c"));
    assert!(index.groups_for_service(&shared).is_empty());
    assert!(index.groups().is_empty());
    // Services in another namespace are other Services.
    assert!(
        index
            .groups_for_service(&ObjKey::new("other", "shared"))
            .is_empty()
    );
}

#[test]
fn forward_actions_and_oidc_secrets_are_referenced() {
    let ing = IngressBuilder::new("ns", "a")
        .class("alb")
        .annotation(
            "alb.ingress.kubernetes.io/actions.split",
            r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"blue","servicePort":"80"},{"serviceName":"green","servicePort":80}]}}"#,
        )
        .annotation(
            "alb.ingress.kubernetes.io/auth-idp-oidc",
            r#"{"issuer":"https://idp","secretName":"oidc-secret"}"#,
        )
        .annotation("alb.ingress.kubernetes.io/actions.broken", "{not json")
        .backend("web", 80)
        .build();
    assert_eq!(
        referenced_services(&ing),
        ["blue", "green", "web"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert_eq!(
        referenced_secrets(&ing),
        ["oidc-secret".to_string()].into_iter().collect()
    );
    let mut index = GroupIndex::new("alb");
    index.apply(Arc::new(ing), &cluster());
    assert_eq!(
        index.groups_for_secret(&ObjKey::new("ns", "oidc-secret")),
        groups(&[GroupId::implicit("ns", "a")])
    );
    assert_eq!(
        index.referenced_secrets(),
        [ObjKey::new("ns", "oidc-secret")].into_iter().collect()
    );
    index.delete(&ObjKey::new("ns", "a"));
    assert!(
        index.referenced_secrets().is_empty(),
        "the last reference is gone: nothing to watch"
    );
}

#[test]
fn broken_class_blocks_only_groups_it_is_finalized_in() {
    let view = cluster();
    let mut index = GroupIndex::new("alb");
    let broken = IngressBuilder::new("ns", "x")
        .class("missing")
        .finalizer("group.ingress.k8s.aws/g")
        .build();
    index.apply(Arc::new(broken), &view);
    let ok = IngressBuilder::new("ns", "y")
        .class("alb")
        .group("other")
        .build();
    index.apply(Arc::new(ok), &view);
    let err = index.load(&explicit("g")).expect_err("blocked");
    assert_eq!(err.ingress, ObjKey::new("ns", "x"));
    assert_eq!(err.error.category(), "ingress_class");
    assert!(index.load(&explicit("other")).is_ok());
}

#[test]
fn reclassify_reports_params_changes() {
    let mut view = cluster();
    let mut index = GroupIndex::new("alb");
    let a = IngressBuilder::new("ns", "a").class("grouped").build();
    let b = IngressBuilder::new("ns", "b").class("alb").build();
    index.apply(Arc::new(a), &view);
    index.apply(Arc::new(b), &view);
    assert!(index.reclassify(&view).is_empty(), "nothing changed");
    // New params version with a different group: both old and new group are due.
    view.ingress_class_params = vec![params("p1", Some("renamed"), "2")];
    assert_eq!(
        index.reclassify(&view),
        groups(&[explicit("from-params"), explicit("renamed")])
    );
    // Same group, new version (e.g. a changed scheme): the group is due again.
    view.ingress_class_params = vec![params("p1", Some("renamed"), "3")];
    assert_eq!(index.reclassify(&view), groups(&[explicit("renamed")]));
}

#[test]
fn replace_drops_vanished_ingresses() {
    let view = cluster();
    let mut index = GroupIndex::new("alb");
    let a = Arc::new(IngressBuilder::new("ns", "a").class("alb").build());
    let b = Arc::new(IngressBuilder::new("ns", "b").class("alb").build());
    index.apply(a.clone(), &view);
    index.apply(b, &view);
    let affected = index.replace([a], &view);
    assert_eq!(affected, groups(&[GroupId::implicit("ns", "b")]));
    assert_eq!(index.len(), 1);
}
