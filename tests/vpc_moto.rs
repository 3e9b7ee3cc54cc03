//! `--aws-vpc-tags` against moto: `DescribeVpcs` with `tag:<key>` filters must find exactly one
//! VPC, and the tags win over instance metadata.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use aws_io::vpc::{VpcError, VpcSource, imds_client, resolve_vpc_id, tag_map, vpc_by_tags};
use aws_sdk_ec2::types::Tag;
use support::moto::Account;

/// A 127.0.0.1 endpoint nobody listens on, so any IMDS call would fail.
fn refused_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

async fn tag(account: &Account, id: &str, tags: &[(&str, &str)]) {
    let mut call = account.clients.ec2.create_tags().resources(id);
    for (key, value) in tags {
        call = call.tags(Tag::builder().key(*key).value(*value).build());
    }
    call.send().await.expect("CreateTags");
}

async fn another_vpc(account: &Account, cidr: &str) -> String {
    account
        .clients
        .ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .expect("create VPC")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("VPC ID")
        .to_owned()
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tag_map(&pairs).expect("distinct keys")
}

#[tokio::test]
async fn vpc_tags_select_the_one_matching_vpc() {
    let account = Account::new().await;
    let net = support::network(&account.clients).await;
    tag(
        &account,
        &net.vpc_id,
        &[("Name", "my-vpc"), ("env", "prod")],
    )
    .await;
    // Same Name, other env: only the full set of tags tells them apart.
    let other = another_vpc(&account, "10.1.0.0/16").await;
    tag(&account, &other, &[("Name", "my-vpc"), ("env", "dev")]).await;
    // IMDS is unreachable: the tags must decide without it.
    let imds = imds_client(Some(&refused_endpoint())).expect("IMDS client");

    let wanted = tags(&[("Name", "my-vpc"), ("env", "prod")]);
    let found = resolve_vpc_id(None, &wanted, &account.clients.ec2, &imds)
        .await
        .expect("one VPC matches");
    assert_eq!(found.id, net.vpc_id);
    assert_eq!(
        found.source,
        VpcSource::Tags("Name=my-vpc,env=prod".to_owned())
    );

    let found = vpc_by_tags(&account.clients.ec2, &tags(&[("env", "dev")]))
        .await
        .expect("one dev VPC");
    assert_eq!(found, other);
}

#[tokio::test]
async fn vpc_tags_matching_none_or_several_name_the_tags_and_the_count() {
    let account = Account::new().await;
    let net = support::network(&account.clients).await;
    tag(&account, &net.vpc_id, &[("Name", "shared")]).await;
    let other = another_vpc(&account, "10.1.0.0/16").await;
    tag(&account, &other, &[("Name", "shared")]).await;
    let imds = imds_client(Some(&refused_endpoint())).expect("IMDS client");

    let err = resolve_vpc_id(
        None,
        &tags(&[("Name", "shared")]),
        &account.clients.ec2,
        &imds,
    )
    .await
    .expect_err("two VPCs match");
    let message = err.to_string();
    match &err {
        VpcError::TagMatchCount { count, ids, .. } => {
            assert_eq!(*count, 2);
            let mut want = vec![net.vpc_id.clone(), other.clone()];
            want.sort();
            assert_eq!(*ids, want);
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        message.starts_with("--aws-vpc-tags Name=shared must match exactly one VPC, but 2 match"),
        "{message}"
    );

    let err = resolve_vpc_id(
        None,
        &tags(&[("Name", "missing")]),
        &account.clients.ec2,
        &imds,
    )
    .await
    .expect_err("no VPC matches");
    assert_eq!(
        err.to_string(),
        "--aws-vpc-tags Name=missing must match exactly one VPC, but 0 match"
    );
}
