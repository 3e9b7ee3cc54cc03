use super::*;

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

#[test]
fn default_tags_may_not_use_tracking_keys() {
    assert_eq!(validate_default_tags(&tags(&[("team", "a")])), Ok(()));
    assert_eq!(validate_default_tags(&Tags::new()), Ok(()));
    for key in TRACKING_TAG_KEYS {
        let err = validate_default_tags(&tags(&[("team", "a"), (key, "x")])).expect_err(key);
        assert_eq!(
            err.to_string(),
            format!("tag key {key} cannot be specified in default-tags flag")
        );
    }
    // The legacy v1 key is not a tracking key of ours.
    assert_eq!(
        validate_default_tags(&tags(&[(LEGACY_TAG_CLUSTER, "x")])),
        Ok(())
    );
}

#[test]
fn external_managed_tags_may_not_use_tracking_keys() {
    assert_eq!(validate_external_managed_tags(&keys(&["owner"])), Ok(()));
    let err = validate_external_managed_tags(&keys(&["owner", TAG_INGRESS_STACK]))
        .expect_err("reserved key");
    assert_eq!(
        err.to_string(),
        "tag key ingress.k8s.aws/stack cannot be specified in external-managed-tags flag"
    );
}

/// name, IngressClassParams (name, tags), external managed keys, expected tags or error.
type MemberCase<'a> = (
    &'a str,
    Option<(&'a str, &'a Tags)>,
    BTreeSet<String>,
    Result<Tags, String>,
);

#[test]
fn member_tags_precedence_and_external_keys() {
    let annotation = tags(&[("k1", "ann"), ("k2", "ann")]);
    let params = tags(&[("k1", "icp"), ("k3", "icp")]);
    let cases: Vec<MemberCase<'_>> = vec![
        (
            "annotation only",
            None,
            BTreeSet::new(),
            Ok(tags(&[("k1", "ann"), ("k2", "ann")])),
        ),
        (
            "class params win over annotation",
            Some(("params", &params)),
            BTreeSet::new(),
            Ok(tags(&[("k1", "icp"), ("k2", "ann"), ("k3", "icp")])),
        ),
        (
            "external managed key in annotation",
            Some(("params", &params)),
            keys(&["k2"]),
            Err("failed build tags for Ingress ns/ing: external managed tag key k2 cannot be specified".into()),
        ),
        (
            "external managed key in class params",
            Some(("params", &params)),
            keys(&["k3"]),
            Err("failed build tags for IngressClassParams params: external managed tag key k3 cannot be specified".into()),
        ),
    ];
    for (name, class_params, external, want) in cases {
        let member = MemberTagSources {
            namespace: "ns",
            name: "ing",
            annotation: &annotation,
            class_params,
        };
        let got = member_tags(&member, &external).map_err(|e| e.to_string());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn backend_tags_precedence() {
    let ingress_annotation = tags(&[("k1", "ing"), ("k2", "ing"), ("k3", "ing")]);
    let service_annotation = tags(&[("k2", "svc"), ("k3", "svc")]);
    let params = tags(&[("k3", "icp")]);
    let member = MemberTagSources {
        namespace: "ns",
        name: "ing",
        annotation: &ingress_annotation,
        class_params: Some(("params", &params)),
    };
    let got = backend_tags(&member, "ns", "svc", &service_annotation, &BTreeSet::new())
        .expect("no external keys");
    assert_eq!(got, tags(&[("k1", "ing"), ("k2", "svc"), ("k3", "icp")]));

    let err = backend_tags(&member, "ns", "svc", &service_annotation, &keys(&["k2"]))
        .expect_err("external key");
    assert_eq!(
        err.to_string(),
        "failed build tags for Ingress ns/ing and Service ns/svc: external managed tag key k2 cannot be specified"
    );
}

#[test]
fn group_tags_merge_and_conflict() {
    let a = tags(&[("env", "prod"), ("team", "a")]);
    let b = tags(&[("env", "prod"), ("cost", "1")]);
    let c = tags(&[("team", "b")]);
    assert_eq!(
        group_tags([&a, &b]),
        Ok(tags(&[("cost", "1"), ("env", "prod"), ("team", "a")]))
    );
    assert_eq!(group_tags(std::iter::empty()), Ok(Tags::new()));
    let err = group_tags([&a, &b, &c]).expect_err("team differs");
    assert_eq!(err.to_string(), "conflicting tag team: a | b");
    // The earlier member's value is reported first.
    let err = group_tags([&c, &a]).expect_err("team differs");
    assert_eq!(err.to_string(), "conflicting tag team: b | a");
}

#[test]
fn default_tags_priority_follows_gate() {
    let user = tags(&[("k1", "v1"), ("k2", "v2"), ("k3", "v3")]);
    let defaults = tags(&[("k1", "v10"), ("k2", "v20"), ("k4", "v40")]);
    assert_eq!(
        with_default_tags(&user, &defaults, false),
        tags(&[("k1", "v10"), ("k2", "v20"), ("k3", "v3"), ("k4", "v40")])
    );
    assert_eq!(
        with_default_tags(&user, &defaults, true),
        tags(&[("k1", "v1"), ("k2", "v2"), ("k3", "v3"), ("k4", "v40")])
    );
}

#[test]
fn tracking_tags_override_user_tags() {
    let group = GroupId::implicit("ns-1", "ing-1");
    let user = tags(&[("team", "a"), (TAG_CLUSTER, "spoofed")]);
    let got = with_tracking_tags(&user, "cluster-1", &group, "80:1");
    assert_eq!(
        got,
        tags(&[
            (TAG_CLUSTER, "cluster-1"),
            (TAG_INGRESS_RESOURCE, "80:1"),
            (TAG_INGRESS_STACK, "ns-1/ing-1"),
            ("team", "a"),
        ])
    );
    let explicit = GroupId::explicit("shared").expect("valid name");
    assert_eq!(
        stack_tags("c", &explicit),
        tags(&[(TAG_CLUSTER, "c"), (TAG_INGRESS_STACK, "shared")])
    );
}

#[test]
fn binding_labels_by_group_kind() {
    let explicit = GroupId::explicit("shared").expect("valid name");
    assert_eq!(
        target_group_binding_labels(&explicit),
        tags(&[(LABEL_STACK, "shared")])
    );
    assert_eq!(
        target_group_binding_labels(&GroupId::implicit("ns", "ing")),
        tags(&[(LABEL_STACK_NAME, "ing"), (LABEL_STACK_NAMESPACE, "ns")])
    );
}
