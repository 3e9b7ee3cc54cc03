use super::*;

const VPC: &str = "vpc-1";
const CLUSTER: &str = "cluster-a";

fn subnet(id: &str, az: &str, tags: &[(&str, &str)]) -> Subnet {
    Subnet {
        id: id.to_owned(),
        az: az.to_owned(),
        az_id: None,
        vpc_id: VPC.to_owned(),
        available_ips: 100,
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ipv6_cidrs: Vec::new(),
        cidr: None,
        locale: SubnetLocale::AvailabilityZone,
    }
}

fn resolver(subnets: &[Subnet]) -> SubnetResolver<'_> {
    SubnetResolver {
        vpc_id: VPC,
        cluster_name: CLUSTER,
        subnets,
        route_tables: None,
        cluster_tag_check: true,
        alb_single_subnet: false,
        discovery_by_reachability: true,
    }
}

fn ids(subnets: &[Subnet]) -> Vec<&str> {
    subnets.iter().map(|s| s.id.as_str()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

const PUBLIC: (&str, &str) = (TAG_ROLE_ELB, "1");
const PRIVATE: (&str, &str) = (TAG_ROLE_INTERNAL_ELB, "");
const OURS: (&str, &str) = ("kubernetes.io/cluster/cluster-a", "owned");
const THEIRS: (&str, &str) = ("kubernetes.io/cluster/cluster-b", "shared");

fn internet_facing() -> ResolveOptions {
    ResolveOptions::alb(Scheme::InternetFacing)
}

#[test]
fn discovery_picks_role_tagged_subnets_one_per_az() {
    let mut other_vpc = subnet("subnet-00", "az-c", &[PUBLIC]);
    other_vpc.vpc_id = "vpc-2".into();
    let subnets = vec![
        subnet("subnet-b", "az-b", &[PUBLIC]),
        subnet("subnet-a", "az-a", &[PUBLIC]),
        subnet("subnet-p1", "az-a", &[PRIVATE]),
        subnet("subnet-p2", "az-b", &[PRIVATE]),
        subnet("subnet-zero", "az-c", &[(TAG_ROLE_ELB, "0")]),
        other_vpc,
    ];
    let r = resolver(&subnets);
    let got = r
        .resolve_via_discovery(internet_facing())
        .expect("two public AZs");
    assert_eq!(ids(&got), ["subnet-a", "subnet-b"]);
    let got = r
        .resolve_via_discovery(ResolveOptions::alb(Scheme::Internal))
        .expect("two private AZs");
    assert_eq!(ids(&got), ["subnet-p1", "subnet-p2"]);
}

#[test]
fn discovery_tie_breaks_by_cluster_tag_then_id() {
    let subnets = vec![
        // az-a: only subnet-a3 carries our cluster tag; it beats lower IDs.
        subnet("subnet-a1", "az-a", &[PUBLIC]),
        subnet("subnet-a3", "az-a", &[PUBLIC, OURS]),
        subnet("subnet-a2", "az-a", &[PUBLIC]),
        // az-b: no cluster tags, lowest ID wins.
        subnet("subnet-b9", "az-b", &[PUBLIC]),
        subnet("subnet-b2", "az-b", &[PUBLIC]),
        // az-c: both ours, lowest ID wins.
        subnet("subnet-c5", "az-c", &[PUBLIC, OURS]),
        subnet("subnet-c4", "az-c", &[PUBLIC, OURS]),
    ];
    let got = resolver(&subnets)
        .resolve_via_discovery(internet_facing())
        .expect("three AZs");
    assert_eq!(ids(&got), ["subnet-a3", "subnet-b2", "subnet-c4"]);
}

#[test]
fn discovery_filters_other_clusters_and_small_subnets() {
    let mut small = subnet("subnet-a1", "az-a", &[PUBLIC]);
    small.available_ips = 7;
    let mut just_enough = subnet("subnet-b1", "az-b", &[PUBLIC]);
    just_enough.available_ips = 8;
    let subnets = vec![
        small,
        just_enough,
        subnet("subnet-a2", "az-a", &[PUBLIC, THEIRS]),
        // Tagged for another cluster and for ours: still ours.
        subnet("subnet-c1", "az-c", &[PUBLIC, THEIRS, OURS]),
    ];
    let got = resolver(&subnets)
        .resolve_via_discovery(internet_facing())
        .expect("b1 and c1 remain");
    assert_eq!(ids(&got), ["subnet-b1", "subnet-c1"]);

    let mut unchecked = resolver(&subnets);
    unchecked.cluster_tag_check = false;
    let got = unchecked
        .resolve_via_discovery(internet_facing())
        .expect("cluster tags ignored");
    assert_eq!(ids(&got), ["subnet-a2", "subnet-b1", "subnet-c1"]);
}

#[test]
fn discovery_reports_why_nothing_was_eligible() {
    let mut small = subnet("subnet-a1", "az-a", &[PUBLIC]);
    small.available_ips = 2;
    let subnets = vec![
        small,
        subnet("subnet-b1", "az-b", &[PUBLIC, THEIRS]),
        subnet("subnet-c1", "az-c", &[PUBLIC, THEIRS]),
    ];
    let err = resolver(&subnets)
        .resolve_via_discovery(internet_facing())
        .expect_err("nothing eligible");
    assert_eq!(
        err.to_string(),
        "unable to resolve at least one subnet. Evaluated 3 subnets: 2 are tagged for other clusters, and 1 have insufficient available IP addresses"
    );
    let err = resolver(&[])
        .resolve_via_discovery(internet_facing())
        .expect_err("no subnets");
    assert_eq!(
        err.to_string(),
        "unable to resolve at least one subnet. Evaluated 0 subnets: 0 are tagged for other clusters, and 0 have insufficient available IP addresses"
    );
}

#[test]
fn single_az_needs_the_single_subnet_gate_for_albs() {
    let subnets = vec![
        subnet("subnet-a1", "az-a", &[PUBLIC]),
        subnet("subnet-a2", "az-a", &[PUBLIC]),
    ];
    let err = resolver(&subnets)
        .resolve_via_discovery(internet_facing())
        .expect_err("one AZ");
    assert_eq!(
        err.to_string(),
        "subnets count less than minimal required count: 1 < 2"
    );

    let mut single = resolver(&subnets);
    single.alb_single_subnet = true;
    let got = single
        .resolve_via_discovery(internet_facing())
        .expect("gate allows one");
    assert_eq!(ids(&got), ["subnet-a1"]);

    let nlb = ResolveOptions {
        lb_type: LoadBalancerType::Network,
        ..internet_facing()
    };
    let got = resolver(&subnets)
        .resolve_via_discovery(nlb)
        .expect("NLBs need one");
    assert_eq!(ids(&got), ["subnet-a1"]);
}

#[test]
fn local_zone_subnets_need_only_one_and_one_locale() {
    let mut lz = subnet("subnet-lz", "lz-a", &[PUBLIC]);
    lz.locale = SubnetLocale::LocalZone;
    let got = resolver(std::slice::from_ref(&lz))
        .resolve_via_discovery(internet_facing())
        .expect("local zone minimum is one");
    assert_eq!(ids(&got), ["subnet-lz"]);

    let subnets = vec![lz, subnet("subnet-a", "az-a", &[PUBLIC])];
    let err = resolver(&subnets)
        .resolve_via_discovery(internet_facing())
        .expect_err("mixed locales");
    assert_eq!(
        err.to_string(),
        "subnets in multiple locales: [availability-zone local-zone]"
    );
}

#[test]
fn dualstack_requires_ipv6_cidrs() {
    let mut v6 = subnet("subnet-b", "az-b", &[PUBLIC]);
    v6.ipv6_cidrs = vec!["2600:1f14::/64".into()];
    let mut v6_2 = subnet("subnet-c", "az-c", &[PUBLIC]);
    v6_2.ipv6_cidrs = vec!["2600:1f15::/64".into()];
    let subnets = vec![subnet("subnet-a", "az-a", &[PUBLIC]), v6, v6_2];
    let dualstack = ResolveOptions {
        require_ipv6: true,
        ..internet_facing()
    };
    let got = resolver(&subnets)
        .resolve_via_discovery(dualstack)
        .expect("two v6 subnets");
    assert_eq!(ids(&got), ["subnet-b", "subnet-c"]);

    let err = resolver(&subnets[..1])
        .resolve_via_discovery(dualstack)
        .expect_err("no v6");
    assert_eq!(
        err,
        SubnetError::NoneEligible {
            evaluated: 1,
            other_cluster: 0,
            insufficient_ips: 0,
            without_ipv6: Some(1),
        }
    );
    assert!(
        err.to_string()
            .ends_with("; 1 have no IPv6 CIDR block, which dualstack requires")
    );
}

fn route_tables() -> Vec<RouteTable> {
    vec![
        RouteTable {
            id: "rtb-main".into(),
            main: true,
            subnet_ids: vec![],
            gateway_ids: vec!["local".into(), "nat-1".into()],
        },
        RouteTable {
            id: "rtb-public".into(),
            main: false,
            subnet_ids: vec!["subnet-pub-a".into(), "subnet-pub-b".into()],
            gateway_ids: vec!["local".into(), "igw-1".into()],
        },
    ]
}

#[test]
fn discovery_falls_back_to_reachability() {
    let subnets = vec![
        subnet("subnet-pub-a", "az-a", &[]),
        subnet("subnet-pub-b", "az-b", &[]),
        subnet("subnet-priv-a", "az-a", &[]),
        subnet("subnet-priv-b", "az-b", &[]),
    ];
    let tables = route_tables();
    let mut r = resolver(&subnets);
    r.route_tables = Some(&tables);
    let got = r
        .resolve_via_discovery(internet_facing())
        .expect("public via igw");
    assert_eq!(ids(&got), ["subnet-pub-a", "subnet-pub-b"]);
    let got = r
        .resolve_via_discovery(ResolveOptions::alb(Scheme::Internal))
        .expect("private via main table");
    assert_eq!(ids(&got), ["subnet-priv-a", "subnet-priv-b"]);

    // Gate off, or no route tables known: nothing to evaluate.
    let mut gated = r;
    gated.discovery_by_reachability = false;
    let no_tables = resolver(&subnets);
    for r in [gated, no_tables] {
        let err = r
            .resolve_via_discovery(internet_facing())
            .expect_err("no candidates");
        assert!(
            matches!(err, SubnetError::NoneEligible { evaluated: 0, .. }),
            "{err}"
        );
    }

    // Role tags, when present, win over reachability.
    let mut tagged = subnets.clone();
    tagged.push(subnet("subnet-tag-a", "az-a", &[PUBLIC]));
    tagged.push(subnet("subnet-tag-c", "az-c", &[PUBLIC]));
    let mut r = resolver(&tagged);
    r.route_tables = Some(&tables);
    let got = r.resolve_via_discovery(internet_facing()).expect("tagged");
    assert_eq!(ids(&got), ["subnet-tag-a", "subnet-tag-c"]);
}

#[test]
fn reachability_without_main_table_is_an_error() {
    let subnets = vec![subnet("subnet-x", "az-a", &[])];
    let tables = vec![RouteTable {
        id: "rtb-1".into(),
        main: false,
        subnet_ids: vec!["subnet-other".into()],
        gateway_ids: vec!["igw-1".into()],
    }];
    let mut r = resolver(&subnets);
    r.route_tables = Some(&tables);
    let err = r
        .resolve_via_discovery(internet_facing())
        .expect_err("no main table");
    assert_eq!(
        err.to_string(),
        "could not identify main route table for vpc: vpc-1"
    );
}

fn named(id: &str, az: &str, name: &str) -> Subnet {
    subnet(id, az, &[(NAME_TAG, name)])
}

#[test]
fn explicit_names_and_ids_keep_the_given_order() {
    let subnets = vec![
        named("subnet-1", "az-a", "web-a"),
        named("subnet-2", "az-b", "web-b"),
        named("subnet-3", "az-c", "web-c"),
    ];
    let r = resolver(&subnets);
    let got = r
        .resolve_via_names_or_ids(&strings(&["web-c", "subnet-1", "web-b"]), internet_facing())
        .expect("all exist");
    assert_eq!(ids(&got), ["subnet-3", "subnet-1", "subnet-2"]);
}

#[test]
fn explicit_lookup_errors() {
    let mut foreign = named("subnet-9", "az-c", "web-x");
    foreign.vpc_id = "vpc-2".into();
    let subnets = vec![
        named("subnet-1", "az-a", "web-a"),
        named("subnet-2", "az-b", "shared"),
        named("subnet-3", "az-c", "shared"),
        foreign,
    ];
    let r = resolver(&subnets);
    let cases: &[(&[&str], &str)] = &[
        (
            &["subnet-1", "subnet-404"],
            "failed to list subnets by names or IDs: couldn't find all subnets, want: [subnet-1 subnet-404], found: [subnet-1]",
        ),
        (
            &["subnet-1", "subnet-1"],
            "failed to list subnets by names or IDs: couldn't find all subnets, want: [subnet-1 subnet-1], found: [subnet-1]",
        ),
        (
            // Names are looked up in the cluster VPC only.
            &["web-a", "nope", "web-x"],
            "failed to list subnets by names or IDs: couldn't find all subnets, missing names: [nope web-x]",
        ),
        (
            &["shared", "shared", "shared"],
            "failed to list subnets by names or IDs: subnet with Name tag \"shared\" requested 3 times but only 2 subnet(s) found with that name",
        ),
        (
            &["subnet-2", "subnet-1", "web-a"],
            "multiple subnets in same Availability Zone az-a: [subnet-1 subnet-1]",
        ),
        (
            &["web-a"],
            "subnets count less than minimal required count: 1 < 2",
        ),
        (&[], "unable to resolve at least one subnet"),
    ];
    for (input, want) in cases {
        let err = r
            .resolve_via_names_or_ids(&strings(input), internet_facing())
            .expect_err(want);
        assert_eq!(err.to_string(), *want, "{input:?}");
    }
    // A shared name listed once per subnet yields each subnet once.
    let got = r
        .resolve_via_names_or_ids(&strings(&["shared", "shared", "web-a"]), internet_facing())
        .expect("two subnets share the name");
    assert_eq!(ids(&got), ["subnet-2", "subnet-3", "subnet-1"]);
}

#[test]
fn explicit_subnets_may_come_from_any_vpc_by_id() {
    let mut foreign = subnet("subnet-f", "az-f", &[]);
    foreign.vpc_id = "vpc-2".into();
    let subnets = vec![subnet("subnet-1", "az-a", &[]), foreign];
    let got = resolver(&subnets)
        .resolve_via_names_or_ids(&strings(&["subnet-f", "subnet-1"]), internet_facing())
        .expect("ids are not VPC-filtered");
    assert_eq!(ids(&got), ["subnet-f", "subnet-1"]);
}

#[test]
fn explicit_subnets_skip_eligibility_filters() {
    let mut small = subnet("subnet-1", "az-a", &[THEIRS]);
    small.available_ips = 0;
    let subnets = vec![small, subnet("subnet-2", "az-b", &[])];
    let got = resolver(&subnets)
        .resolve_via_names_or_ids(&strings(&["subnet-1", "subnet-2"]), internet_facing())
        .expect("user's choice is kept");
    assert_eq!(ids(&got), ["subnet-1", "subnet-2"]);
}

#[test]
fn selector_by_ids_and_by_tags() {
    let subnets = vec![
        subnet("subnet-1", "az-a", &[("tier", "web-1")]),
        subnet("subnet-2", "az-a", &[("tier", "web-2"), OURS]),
        subnet("subnet-3", "az-b", &[("tier", "web-3")]),
        subnet("subnet-4", "az-c", &[("tier", "db")]),
        subnet("subnet-5", "az-c", &[("other", "x")]),
    ];
    let r = resolver(&subnets);
    let got = r
        .resolve_via_selector(
            &SubnetSelector::Ids(strings(&["subnet-4", "subnet-1"])),
            internet_facing(),
        )
        .expect("ids");
    assert_eq!(ids(&got), ["subnet-4", "subnet-1"]);

    let err = r
        .resolve_via_selector(
            &SubnetSelector::Ids(strings(&["subnet-7"])),
            internet_facing(),
        )
        .expect_err("missing");
    assert_eq!(
        err.to_string(),
        "failed to list subnets by IDs: couldn't find all subnets, want: [subnet-7], found: []"
    );

    let filters = BTreeMap::from([("tier".to_owned(), strings(&["web-*"]))]);
    let got = r
        .resolve_via_selector(&SubnetSelector::Tags(filters), internet_facing())
        .expect("tags");
    assert_eq!(ids(&got), ["subnet-2", "subnet-3"]);

    let any_tier = BTreeMap::from([("tier".to_owned(), Vec::new())]);
    let got = r
        .resolve_via_selector(&SubnetSelector::Tags(any_tier), internet_facing())
        .expect("tag key only");
    assert_eq!(ids(&got), ["subnet-2", "subnet-3", "subnet-4"]);
}

#[test]
fn selector_json_matches_ingress_class_params_shape() {
    let by_ids: SubnetSelector =
        serde_json::from_str(r#"{"ids": ["subnet-1"]}"#).expect("ids selector");
    assert_eq!(by_ids, SubnetSelector::Ids(strings(&["subnet-1"])));
    let by_tags: SubnetSelector =
        serde_json::from_str(r#"{"tags": {"k": ["v1", "v2"]}}"#).expect("tags selector");
    assert_eq!(
        by_tags,
        SubnetSelector::Tags(BTreeMap::from([("k".to_owned(), strings(&["v1", "v2"]))]))
    );
}

#[test]
fn glob_matching() {
    let cases = [
        ("web-*", "web-1", true),
        ("web-*", "web-", true),
        ("web-*", "db-1", false),
        ("*", "", true),
        ("", "", true),
        ("", "a", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*-a-*", "x-a-y-a-z", true),
        ("*b", "aaa", false),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
    ];
    for (pattern, text, want) in cases {
        assert_eq!(glob_match(pattern, text), want, "{pattern:?} ~ {text:?}");
    }
}

#[test]
fn resolver_from_facts_uses_feature_gates() {
    let mut facts = ClusterFacts::new(CLUSTER, VPC);
    facts.subnets = vec![subnet("subnet-a", "az-a", &[PUBLIC])];
    facts.features.alb_single_subnet = true;
    let got = SubnetResolver::from_facts(&facts)
        .resolve_via_discovery(internet_facing())
        .expect("single subnet allowed");
    assert_eq!(ids(&got), ["subnet-a"]);
}
