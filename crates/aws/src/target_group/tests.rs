//! Target group creation against scripted AWS answers: what is created is confirmed ours by one
//! `DescribeTags` for the stack before anything is changed on it, and a taken name falls back to
//! the lookup by name.

use std::collections::BTreeMap;

use model::stack::{Attribute, Protocol, Stack, StackKind, TargetGroupSpec, TargetType};
use model::tags::{TAG_CLUSTER, TAG_INGRESS_RESOURCE, TAG_INGRESS_STACK};

use super::sync;
use crate::call::{Ctx, Mode};
use crate::canned_http::{CannedHttp, Scripted};
use crate::error::{DeployError, ErrorCategory};
use crate::resolve::Resolver;
use crate::{AwsClients, DeployConfig};

const CLUSTER: &str = "c1";
const STACK: &str = "ns/ing";

fn spec(name: &str, attributes: &[(&str, &str)]) -> TargetGroupSpec {
    TargetGroupSpec {
        name: name.into(),
        target_type: TargetType::Ip,
        port: 8080,
        protocol: Protocol::Http,
        protocol_version: None,
        ip_address_type: None,
        health_check_config: None,
        target_group_attributes: attributes
            .iter()
            .map(|(k, v)| Attribute {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
        target_control_port: None,
        alb_targets: vec![],
        tags: Default::default(),
    }
}

/// A stack of two target groups, `a` with an attribute, `b` without.
fn stack() -> Stack {
    let mut stack = Stack::new(STACK);
    stack
        .add_target_group(
            "a",
            spec(
                "k8s-ns-a-0123456789",
                &[("slow_start.duration_seconds", "30")],
            ),
        )
        .unwrap();
    stack
        .add_target_group("b", spec("k8s-ns-b-0123456789", &[]))
        .unwrap();
    stack
}

fn arn(name: &str) -> String {
    format!("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/{name}/abc")
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn target_group_xml(name: &str) -> String {
    format!(
        "<member><TargetGroupArn>{}</TargetGroupArn><TargetGroupName>{name}</TargetGroupName>\
         <Protocol>HTTP</Protocol><Port>8080</Port><VpcId>vpc-1</VpcId>\
         <TargetType>ip</TargetType></member>",
        arn(name)
    )
}

fn created(name: &str) -> &'static str {
    leak(format!(
        "<CreateTargetGroupResponse><CreateTargetGroupResult><TargetGroups>{}\
         </TargetGroups></CreateTargetGroupResult></CreateTargetGroupResponse>",
        target_group_xml(name)
    ))
}

fn described(name: &str) -> &'static str {
    leak(format!(
        "<DescribeTargetGroupsResponse><DescribeTargetGroupsResult><TargetGroups>{}\
         </TargetGroups></DescribeTargetGroupsResult></DescribeTargetGroupsResponse>",
        target_group_xml(name)
    ))
}

/// `DescribeTags` answering these target groups (name, resource ID), each tagged as the
/// cluster `cluster`'s.
fn tags(cluster: &str, groups: &[(&str, &str)]) -> &'static str {
    let members: String = groups
        .iter()
        .map(|(name, id)| {
            format!(
                "<member><ResourceArn>{}</ResourceArn><Tags>\
                 <member><Key>{TAG_CLUSTER}</Key><Value>{cluster}</Value></member>\
                 <member><Key>{TAG_INGRESS_STACK}</Key><Value>{STACK}</Value></member>\
                 <member><Key>{TAG_INGRESS_RESOURCE}</Key><Value>{id}</Value></member>\
                 </Tags></member>",
                arn(name)
            )
        })
        .collect();
    leak(format!(
        "<DescribeTagsResponse><DescribeTagsResult><TagDescriptions>{members}\
         </TagDescriptions></DescribeTagsResult></DescribeTagsResponse>"
    ))
}

const OK_ATTRIBUTES: &str = "<ModifyTargetGroupAttributesResponse><ModifyTargetGroupAttributesResult>\
     <Attributes/></ModifyTargetGroupAttributesResult></ModifyTargetGroupAttributesResponse>";

const NAME_TAKEN: &str = "<ErrorResponse><Error><Type>Sender</Type>\
     <Code>DuplicateTargetGroupName</Code>\
     <Message>A target group with the same name already exists</Message></Error>\
     <RequestId>r</RequestId></ErrorResponse>";

/// `sync` of [`stack`] with nothing found by tags, against these answers: the ARNs by ID (or
/// the error) and the request bodies.
async fn run(
    answers: Vec<(u16, &'static str)>,
) -> (Result<BTreeMap<String, String>, DeployError>, Vec<String>) {
    let http = Scripted::answering(answers);
    let clients = AwsClients::new(&CannedHttp::sdk_config(http.clone()), &[]);
    let config = DeployConfig::new(CLUSTER, "vpc-1");
    let ctx = Ctx::new(
        &clients,
        &config,
        StackKind::Ingress,
        STACK,
        Mode::Apply,
        None,
    );
    let mut resolver = Resolver::default();
    let result = sync(&ctx, &stack(), Vec::new(), &mut resolver)
        .await
        .map(|(arns, _)| arns);
    (result, http.bodies())
}

fn action(body: &str) -> &str {
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or_default()
}

fn actions(bodies: &[String]) -> Vec<&str> {
    bodies.iter().map(|b| action(b)).collect()
}

#[tokio::test]
async fn created_target_groups_are_confirmed_by_one_describe_tags_before_their_attributes() {
    let (result, bodies) = run(vec![
        (200, created("k8s-ns-a-0123456789")),
        (200, created("k8s-ns-b-0123456789")),
        (
            200,
            tags(
                CLUSTER,
                &[("k8s-ns-a-0123456789", "a"), ("k8s-ns-b-0123456789", "b")],
            ),
        ),
        (200, OK_ATTRIBUTES),
    ])
    .await;
    let arns = result.expect("sync");
    assert_eq!(arns["a"], arn("k8s-ns-a-0123456789"));
    assert_eq!(arns["b"], arn("k8s-ns-b-0123456789"));
    assert_eq!(
        actions(&bodies),
        [
            "CreateTargetGroup",
            "CreateTargetGroup",
            "DescribeTags",
            "ModifyTargetGroupAttributes"
        ],
        "no lookup by name ahead of the creations: {bodies:#?}"
    );
    let encoded = |a: String| a.replace(':', "%3A").replace('/', "%2F");
    assert!(
        bodies[2].contains(&encoded(arn("k8s-ns-a-0123456789")))
            && bodies[2].contains(&encoded(arn("k8s-ns-b-0123456789"))),
        "both ARNs in the one DescribeTags: {}",
        bodies[2]
    );
    assert!(
        bodies[3].contains(&encoded(arn("k8s-ns-a-0123456789")))
            && bodies[3].contains("slow_start.duration_seconds"),
        "{}",
        bodies[3]
    );
}

#[tokio::test]
async fn a_target_group_aws_answers_with_that_is_not_ours_is_refused_untouched() {
    // AWS answers a CreateTargetGroup whose name and settings match an existing target group
    // with that one: here another cluster's.
    let (result, bodies) = run(vec![
        (200, created("k8s-ns-a-0123456789")),
        (200, created("k8s-ns-b-0123456789")),
        (
            200,
            tags(
                "someone-else",
                &[("k8s-ns-a-0123456789", "a"), ("k8s-ns-b-0123456789", "b")],
            ),
        ),
    ])
    .await;
    let err = result.expect_err("not ours");
    assert!(matches!(err, DeployError::NotOwned { .. }), "{err}");
    assert_eq!(err.category(), ErrorCategory::Conflict);
    assert!(err.to_string().contains("k8s-ns-a-0123456789"), "{err}");
    assert_eq!(
        actions(&bodies),
        ["CreateTargetGroup", "CreateTargetGroup", "DescribeTags"],
        "its attributes are not set: {bodies:#?}"
    );
}

#[tokio::test]
async fn a_taken_name_is_looked_up_and_our_leftover_adopted() {
    // Our own target group from an interrupted run, not yet listed by the tagging API, with
    // other settings than the create asked for (moto answers so even for equal settings).
    let (result, bodies) = run(vec![
        (400, NAME_TAKEN),
        (200, described("k8s-ns-a-0123456789")),
        (200, tags(CLUSTER, &[("k8s-ns-a-0123456789", "a")])),
        // Its attribute is read and set: it was never confirmed.
        (
            200,
            "<DescribeTargetGroupAttributesResponse><DescribeTargetGroupAttributesResult>\
             <Attributes/></DescribeTargetGroupAttributesResult>\
             </DescribeTargetGroupAttributesResponse>",
        ),
        (200, OK_ATTRIBUTES),
        (200, created("k8s-ns-b-0123456789")),
        (200, tags(CLUSTER, &[("k8s-ns-b-0123456789", "b")])),
    ])
    .await;
    let arns = result.expect("sync");
    assert_eq!(arns["a"], arn("k8s-ns-a-0123456789"));
    assert_eq!(
        actions(&bodies),
        [
            "CreateTargetGroup",
            "DescribeTargetGroups",
            "DescribeTags",
            "DescribeTargetGroupAttributes",
            "ModifyTargetGroupAttributes",
            "CreateTargetGroup",
            "DescribeTags"
        ],
        "{bodies:#?}"
    );
}

#[tokio::test]
async fn a_taken_name_of_someone_else_is_refused() {
    let (result, bodies) = run(vec![
        (400, NAME_TAKEN),
        (200, described("k8s-ns-a-0123456789")),
        (200, tags("someone-else", &[("k8s-ns-a-0123456789", "a")])),
    ])
    .await;
    let err = result.expect_err("not ours");
    assert!(matches!(err, DeployError::NotOwned { .. }), "{err}");
    assert_eq!(
        actions(&bodies),
        ["CreateTargetGroup", "DescribeTargetGroups", "DescribeTags"]
    );
}
