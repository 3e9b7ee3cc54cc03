//! VPC resolution without AWS: tag maps and messages, the order of the sources, and IMDSv2
//! against a fake metadata server on 127.0.0.1.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use super::*;

const TOKEN: &str = "fake-imds-token";
const MAC: &str = "0e:1a:2b:3c:4d:5e";
const VPC: &str = "vpc-0123456789abcdef0";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A 127.0.0.1 port nobody listens on (bound, then released).
fn refused_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// An EC2 client for an endpoint, with fake credentials and a single attempt.
fn ec2_client(endpoint: &str) -> aws_sdk_ec2::Client {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

/// What the fake metadata server answers and what it was asked.
#[derive(Clone, Default)]
struct FakeImds {
    /// MAC → VPC ID of that interface.
    vpcs: BTreeMap<String, String>,
    /// Every request, as `METHOD path`.
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeImds {
    fn record(&self, entry: String) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    fn seen(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok())
        == Some(TOKEN)
}

async fn token(State(fake): State<FakeImds>, headers: HeaderMap) -> Response {
    fake.record("PUT /latest/api/token".to_owned());
    if !headers.contains_key("x-aws-ec2-metadata-token-ttl-seconds") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    ([("x-aws-ec2-metadata-token-ttl-seconds", "21600")], TOKEN).into_response()
}

async fn mac(State(fake): State<FakeImds>, headers: HeaderMap) -> Response {
    fake.record(format!("GET {IMDS_MAC_PATH}"));
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // The real service answers without a trailing newline; be lenient and send one.
    format!("{MAC}\n").into_response()
}

async fn vpc_id(
    State(fake): State<FakeImds>,
    Path(mac): Path<String>,
    headers: HeaderMap,
) -> Response {
    fake.record(format!("GET {}", imds_vpc_path(&mac)));
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match fake.vpcs.get(&mac) {
        Some(vpc) => vpc.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `fake` on 127.0.0.1 until the test's runtime ends; returns its endpoint.
async fn serve(fake: FakeImds) -> String {
    let app = Router::new()
        .route("/latest/api/token", put(token))
        .route(IMDS_MAC_PATH, get(mac))
        .route(
            "/latest/meta-data/network/interfaces/macs/{mac}/vpc-id",
            get(vpc_id),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake IMDS");
    let addr = listener.local_addr().expect("fake IMDS address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[test]
fn vpc_tag_map_keeps_one_value_per_key() {
    let tags = tag_map(&pairs(&[
        ("env", "prod"),
        ("Name", "my-vpc"),
        ("env", "prod"),
    ]))
    .expect("a repeated identical pair is fine");
    assert_eq!(tags.len(), 2);
    assert_eq!(render_tags(&tags), "Name=my-vpc,env=prod");

    let err = tag_map(&pairs(&[("env", "prod"), ("env", "dev")])).expect_err("conflict");
    let message = err.to_string();
    assert!(matches!(err, VpcError::DuplicateTag { ref key, .. } if key == "env"));
    assert!(message.contains("\"env\""), "{message}");
    assert!(
        message.contains("\"prod\"") && message.contains("\"dev\""),
        "{message}"
    );
}

#[test]
fn vpc_error_messages_name_the_source_and_the_fix() {
    let none = VpcError::TagMatchCount {
        tags: "Name=my-vpc".to_owned(),
        count: 0,
        ids: Vec::new(),
    };
    assert_eq!(
        none.to_string(),
        "--aws-vpc-tags Name=my-vpc must match exactly one VPC, but 0 match"
    );
    let ids: Vec<String> = (0..7).map(|i| format!("vpc-{i:08x}")).collect();
    let many = VpcError::TagMatchCount {
        tags: "env=prod".to_owned(),
        count: ids.len(),
        ids,
    };
    let message = many.to_string();
    assert!(message.contains("but 7 match (vpc-00000000, "), "{message}");
    assert!(message.contains("vpc-00000004, ...)"), "{message}");
    assert!(!message.contains("vpc-00000005"), "{message}");

    let imds = VpcError::Imds {
        what: "the instance's MAC address",
        path: IMDS_MAC_PATH.to_owned(),
        reason: "connection refused".to_owned(),
    };
    assert_eq!(
        imds.to_string(),
        "cannot read the VPC from instance metadata (the instance's MAC address, \
         /latest/meta-data/mac): connection refused; set --aws-vpc-id or --aws-vpc-tags"
    );
    assert_eq!(
        VpcSource::Tags("Name=x".to_owned()).to_string(),
        "--aws-vpc-tags Name=x"
    );
}

#[test]
fn vpc_imds_endpoint_must_be_a_uri() {
    let err = imds_client(Some("not a uri")).expect_err("invalid endpoint");
    assert!(err.to_string().contains("\"not a uri\""), "{err}");
}

#[tokio::test]
async fn explicit_vpc_id_wins_without_any_call() {
    let fake = FakeImds::default();
    let endpoint = serve(fake.clone()).await;
    let imds = imds_client(Some(&endpoint)).expect("client");
    let ec2 = ec2_client(&refused_endpoint());
    let tags = tag_map(&pairs(&[("Name", "other")])).expect("tags");

    let found = resolve_vpc_id(Some(" vpc-0aaaabbbbccccdddd "), &tags, &ec2, &imds)
        .await
        .expect("explicit ID");
    assert_eq!(found.id, "vpc-0aaaabbbbccccdddd");
    assert_eq!(found.source, VpcSource::Flag);
    assert!(fake.seen().is_empty(), "IMDS was asked: {:?}", fake.seen());

    let err = resolve_vpc_id(Some("  "), &tags, &ec2, &imds)
        .await
        .expect_err("empty flag");
    assert!(matches!(err, VpcError::EmptyId), "{err}");
}

#[tokio::test]
async fn vpc_tags_come_before_metadata_and_name_the_tags_on_failure() {
    let fake = FakeImds {
        vpcs: BTreeMap::from([(MAC.to_owned(), VPC.to_owned())]),
        ..FakeImds::default()
    };
    let endpoint = serve(fake.clone()).await;
    let imds = imds_client(Some(&endpoint)).expect("client");
    let ec2 = ec2_client(&refused_endpoint());
    let tags = tag_map(&pairs(&[("env", "prod"), ("Name", "my-vpc")])).expect("tags");

    let err = resolve_vpc_id(None, &tags, &ec2, &imds)
        .await
        .expect_err("EC2 is unreachable");
    let message = err.to_string();
    assert!(matches!(err, VpcError::DescribeVpcs { .. }), "{message}");
    assert!(
        message.starts_with("cannot find the VPC tagged Name=my-vpc,env=prod (--aws-vpc-tags)"),
        "{message}"
    );
    assert!(fake.seen().is_empty(), "IMDS was asked: {:?}", fake.seen());
}

/// An EC2 endpoint that refuses every call the way AWS does when the role lacks a permission.
async fn denying_ec2() -> String {
    const BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <Response><Errors><Error><Code>UnauthorizedOperation</Code>\
        <Message>You are not authorized to perform this operation.</Message></Error></Errors>\
        <RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>";
    let app = Router::new().route(
        "/",
        post(|| async { (StatusCode::FORBIDDEN, [("content-type", "text/xml")], BODY) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake EC2");
    let addr = listener.local_addr().expect("fake EC2 address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn vpc_tags_denied_by_aws_show_the_code_and_message() {
    let ec2 = ec2_client(&denying_ec2().await);
    let tags = tag_map(&pairs(&[("Name", "my-vpc")])).expect("tags");
    let err = vpc_by_tags(&ec2, &tags).await.expect_err("denied");
    assert_eq!(
        err.to_string(),
        "cannot find the VPC tagged Name=my-vpc (--aws-vpc-tags): DescribeVpcs failed: \
         UnauthorizedOperation: You are not authorized to perform this operation."
    );
}

#[tokio::test]
async fn vpc_id_is_read_from_instance_metadata() {
    let fake = FakeImds {
        vpcs: BTreeMap::from([(MAC.to_owned(), VPC.to_owned())]),
        ..FakeImds::default()
    };
    let endpoint = serve(fake.clone()).await;
    let imds = imds_client(Some(&endpoint)).expect("client");
    let ec2 = ec2_client(&refused_endpoint());

    let found = resolve_vpc_id(None, &BTreeMap::new(), &ec2, &imds)
        .await
        .expect("VPC from IMDS");
    assert_eq!(found.id, VPC);
    assert_eq!(
        found.source,
        VpcSource::InstanceMetadata {
            mac: MAC.to_owned()
        }
    );
    // IMDSv2: a session token first, then the two reads (the token is reused).
    assert_eq!(
        fake.seen(),
        [
            "PUT /latest/api/token".to_owned(),
            format!("GET {IMDS_MAC_PATH}"),
            format!("GET /latest/meta-data/network/interfaces/macs/{MAC}/vpc-id"),
        ]
    );
}

#[tokio::test]
async fn vpc_metadata_without_the_interface_names_the_path() {
    let fake = FakeImds {
        vpcs: BTreeMap::from([("02:00:00:00:00:01".to_owned(), VPC.to_owned())]),
        ..FakeImds::default()
    };
    let endpoint = serve(fake).await;
    let imds = imds_client(Some(&endpoint)).expect("client");

    let err = vpc_from_metadata(&imds).await.expect_err("404 for our MAC");
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "(the VPC of its interface, /latest/meta-data/network/interfaces/macs/{MAC}/vpc-id)"
        )),
        "{message}"
    );
    assert!(
        message.contains("): IMDS answered 404 (not found); set"),
        "{message}"
    );
    assert!(
        message.ends_with("set --aws-vpc-id or --aws-vpc-tags"),
        "{message}"
    );
}

#[tokio::test]
async fn vpc_unreachable_metadata_fails_fast_with_the_fix() {
    let imds = imds_client(Some(&refused_endpoint())).expect("client");
    let ec2 = ec2_client(&refused_endpoint());
    let started = Instant::now();
    let err = resolve_vpc_id(None, &BTreeMap::new(), &ec2, &imds)
        .await
        .expect_err("nothing listens");
    let elapsed = started.elapsed();
    let message = err.to_string();
    assert!(
        matches!(err, VpcError::Imds { what, .. } if what == "the instance's MAC address"),
        "{message}"
    );
    assert!(
        message.contains("set --aws-vpc-id or --aws-vpc-tags"),
        "{message}"
    );
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn vpc_silent_metadata_fails_within_the_timeout() {
    // Accepts connections (the kernel's backlog) but never answers, like a black hole that
    // completes the handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let imds = imds_client(Some(&endpoint)).expect("client");
    let ec2 = ec2_client(&refused_endpoint());
    let started = Instant::now();
    let err = resolve_vpc_id(None, &BTreeMap::new(), &ec2, &imds)
        .await
        .expect_err("no answer");
    let elapsed = started.elapsed();
    assert!(
        err.to_string()
            .contains("set --aws-vpc-id or --aws-vpc-tags"),
        "{err}"
    );
    assert!(
        elapsed < IMDS_LOOKUP_TIMEOUT + Duration::from_secs(1),
        "took {elapsed:?}"
    );
    drop(listener);
}
