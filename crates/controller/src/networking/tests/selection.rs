//! Which of a target ENI's security groups takes the rules ([`select_group`]).

use super::*;

#[test]
fn the_only_group_of_an_eni_is_taken_without_looking_at_tags() {
    let eni = Eni {
        id: "eni-1".into(),
        security_groups: vec!["sg-a".into()],
    };
    assert_eq!(
        select_group(&eni, &BTreeMap::new(), CLUSTER, &BTreeMap::new()),
        Ok("sg-a".into())
    );
}

#[test]
fn of_several_groups_the_one_tagged_for_the_cluster_is_taken() {
    let eni = Eni {
        id: "eni-1".into(),
        security_groups: vec!["sg-a".into(), "sg-b".into(), "sg-c".into()],
    };
    let tags = BTreeMap::from([
        (
            "sg-a".to_owned(),
            BTreeMap::from([("Name".to_owned(), "x".to_owned())]),
        ),
        (
            "sg-b".to_owned(),
            BTreeMap::from([("kubernetes.io/cluster/c1".to_owned(), "owned".to_owned())]),
        ),
        (
            "sg-c".to_owned(),
            BTreeMap::from([("kubernetes.io/cluster/other".to_owned(), "owned".to_owned())]),
        ),
    ]);
    assert_eq!(
        select_group(&eni, &tags, CLUSTER, &BTreeMap::new()),
        Ok("sg-b".into())
    );
}

#[test]
fn no_or_two_tagged_groups_is_an_error_naming_the_eni_and_the_cluster() {
    let eni = Eni {
        id: "eni-9".into(),
        security_groups: vec!["sg-a".into(), "sg-b".into()],
    };
    let error =
        select_group(&eni, &BTreeMap::new(), CLUSTER, &BTreeMap::new()).expect_err("none tagged");
    assert_eq!(
        error.to_string(),
        "expected exactly one securityGroup tagged with kubernetes.io/cluster/c1 for eni eni-9, got: [] (clusterName: c1)"
    );
    let tagged = BTreeMap::from([("kubernetes.io/cluster/c1".to_owned(), String::new())]);
    let tags = BTreeMap::from([
        ("sg-a".to_owned(), tagged.clone()),
        ("sg-b".to_owned(), tagged),
    ]);
    let error = select_group(&eni, &tags, CLUSTER, &BTreeMap::new()).expect_err("two tagged");
    assert_eq!(
        error.to_string(),
        "expected exactly one securityGroup tagged with kubernetes.io/cluster/c1 for eni eni-9, got: [sg-a sg-b] (clusterName: c1)"
    );
}

#[test]
fn extra_required_tags_pick_among_the_cluster_tagged_groups() {
    let eni = Eni {
        id: "eni-1".into(),
        security_groups: vec!["sg-a".into(), "sg-b".into(), "sg-c".into()],
    };
    let cluster = ("kubernetes.io/cluster/c1", "owned");
    let tags = BTreeMap::from([
        ("sg-a".to_owned(), tag_map(&[cluster, ("role", "node")])),
        (
            "sg-b".to_owned(),
            tag_map(&[cluster, ("role", "pod"), ("team", "web")]),
        ),
        // Every extra tag but no cluster tag: not a candidate.
        (
            "sg-c".to_owned(),
            tag_map(&[("role", "pod"), ("team", "web")]),
        ),
    ]);
    let required = tag_map(&[("role", "pod"), ("team", "web")]);
    assert_eq!(
        select_group(&eni, &tags, CLUSTER, &required),
        Ok("sg-b".into())
    );
    let required = tag_map(&[("role", "node")]);
    assert_eq!(
        select_group(&eni, &tags, CLUSTER, &required),
        Ok("sg-a".into())
    );
    // The only group of an ENI is still taken whatever it carries.
    let single = Eni {
        id: "eni-2".into(),
        security_groups: vec!["sg-c".into()],
    };
    assert_eq!(
        select_group(&single, &tags, CLUSTER, &required),
        Ok("sg-c".into())
    );
}

#[test]
fn no_group_with_every_required_tag_is_an_error_naming_the_tags() {
    let eni = Eni {
        id: "eni-9".into(),
        security_groups: vec!["sg-a".into(), "sg-b".into()],
    };
    let cluster = ("kubernetes.io/cluster/c1", "shared");
    let tags = BTreeMap::from([
        // A value that differs does not count.
        (
            "sg-a".to_owned(),
            tag_map(&[cluster, ("team", "api"), ("env", "prod")]),
        ),
        ("sg-b".to_owned(), tag_map(&[cluster, ("env", "prod")])),
    ]);
    let required = tag_map(&[("team", "web"), ("env", "prod")]);
    let error = select_group(&eni, &tags, CLUSTER, &required).expect_err("none has team=web");
    assert_eq!(
        error.to_string(),
        "expected exactly one securityGroup tagged with kubernetes.io/cluster/c1 and map[env:prod team:web] for eni eni-9, got: [] (clusterName: c1)"
    );
    let error =
        select_group(&eni, &tags, CLUSTER, &tag_map(&[("env", "prod")])).expect_err("both match");
    assert_eq!(
        error.to_string(),
        "expected exactly one securityGroup tagged with kubernetes.io/cluster/c1 and map[env:prod] for eni eni-9, got: [sg-a sg-b] (clusterName: c1)"
    );
}
