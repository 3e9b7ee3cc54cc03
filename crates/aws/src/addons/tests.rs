//! The add-on decisions, without AWS. The WAFv2 calls are exercised against moto in
//! `tests/addons_moto.rs`; moto 5.2.5 implements neither `waf-regional` nor Shield's
//! `GetSubscriptionState`, so those paths are covered here by their decisions.

use super::*;

const LB: &str = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/x/1";

fn protection(name: &str) -> Protection {
    Protection {
        id: "p-1".to_owned(),
        name: name.to_owned(),
    }
}

#[test]
fn acl_steps_change_only_what_differs() {
    assert_eq!(acl_step(None, None), AclStep::Keep);
    assert_eq!(acl_step(Some("a"), Some("a")), AclStep::Keep);
    assert_eq!(acl_step(Some("a"), None), AclStep::Associate("a".into()));
    // Another Web ACL is replaced by associating the wanted one.
    assert_eq!(
        acl_step(Some("a"), Some("b")),
        AclStep::Associate("a".into())
    );
    assert_eq!(acl_step(None, Some("b")), AclStep::Disassociate);
}

#[test]
fn acl_decisions_name_the_field_and_the_load_balancer() {
    let what = resource(ResourceType::WafV2WebAclAssociation);
    let create = acl_diff(&what, LB, "webACLARN", None, &acl_step(Some("a"), None));
    assert_eq!(create.change, ChangeKind::Create);
    assert_eq!(create.aws_id.as_deref(), Some(LB));
    assert_eq!(
        create.fields,
        vec![FieldChange::new("webACLARN", None, Some("a".into()))]
    );

    let modify = acl_diff(
        &what,
        LB,
        "webACLARN",
        Some("b"),
        &acl_step(Some("a"), Some("b")),
    );
    assert_eq!(modify.change, ChangeKind::Modify);
    assert_eq!(
        modify.fields,
        vec![FieldChange::values("webACLARN", "b", "a")]
    );

    let delete = acl_diff(&what, LB, "webACLID", Some("b"), &acl_step(None, Some("b")));
    assert_eq!(delete.change, ChangeKind::Delete);
    assert_eq!(
        delete.fields,
        vec![FieldChange::new("webACLID", Some("b".into()), None)]
    );

    let keep = acl_diff(
        &what,
        LB,
        "webACLID",
        Some("a"),
        &acl_step(Some("a"), Some("a")),
    );
    assert_eq!(keep.change, ChangeKind::Unchanged);
    assert!(keep.fields.is_empty());
}

#[test]
fn protection_is_created_when_wanted_and_missing() {
    assert_eq!(protection_step(true, None), ProtectionStep::Create);
    assert_eq!(
        protection_step(true, Some(&protection("someone's"))),
        ProtectionStep::Keep
    );
    assert_eq!(protection_step(false, None), ProtectionStep::Keep);
}

#[test]
fn only_our_protections_are_deleted() {
    for ours in [PROTECTION_NAME, LEGACY_PROTECTION_NAME] {
        assert_eq!(
            protection_step(false, Some(&protection(ours))),
            ProtectionStep::Delete { id: "p-1".into() }
        );
    }
    assert_eq!(
        protection_step(false, Some(&protection("made by hand"))),
        ProtectionStep::LeaveUnmanaged
    );
}

#[test]
fn protection_decisions() {
    let what = resource(ResourceType::ShieldProtection);
    let create = protection_diff(&what, LB, None, &ProtectionStep::Create);
    assert_eq!(create.change, ChangeKind::Create);
    assert_eq!(
        create.fields,
        vec![FieldChange::new(
            "protection",
            None,
            Some(PROTECTION_NAME.into())
        )]
    );
    let ours = protection(PROTECTION_NAME);
    let delete = protection_diff(&what, LB, Some(&ours), &protection_step(false, Some(&ours)));
    assert_eq!(delete.change, ChangeKind::Delete);
    assert_eq!(delete.fields[0].from.as_deref(), Some(PROTECTION_NAME));
    let theirs = protection("made by hand");
    let left = protection_diff(
        &what,
        LB,
        Some(&theirs),
        &protection_step(false, Some(&theirs)),
    );
    assert_eq!(left.change, ChangeKind::Unchanged);
}
