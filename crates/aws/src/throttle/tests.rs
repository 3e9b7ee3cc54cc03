use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::aws::AwsClients;
use crate::canned_http::CannedHttp;

const ELBV2: &str = "Elastic Load Balancing v2";

#[test]
fn the_defaults_are_upstreams() {
    let config = ThrottleConfig::default();
    let elbv2: Vec<(&str, f64, u32)> = config
        .rules(ELBV2)
        .iter()
        .map(|r| (r.operations.as_str(), r.rate, r.burst))
        .collect();
    assert_eq!(
        elbv2,
        [
            ("^RegisterTargets|^DeregisterTargets", 4.0, 20),
            ("^Describe", 50.0, 200),
            ("^Modify", 3.0, 20)
        ]
    );
    assert_eq!(config.rules("WAFV2").len(), 2);
    assert_eq!(config.rules("WAF Regional").len(), 2);
    assert!(config.rules("EC2").is_empty());
}

#[test]
fn a_service_given_in_the_flag_loses_its_defaults_and_others_keep_theirs() {
    let config: ThrottleConfig =
        "Elastic Load Balancing v2:RegisterTargets|DeregisterTargets=10:40,EC2:Describe.*=5.5:10"
            .parse()
            .expect("valid");
    assert_eq!(config.rules(ELBV2).len(), 1);
    assert_eq!(
        config.rules(ELBV2)[0].operations.as_str(),
        "RegisterTargets|DeregisterTargets"
    );
    assert_eq!(config.rules("EC2")[0].rate, 5.5);
    assert_eq!(
        config.rules("WAFV2"),
        ThrottleConfig::default().rules("WAFV2")
    );
    // What it prints parses back to the same configuration.
    let again: ThrottleConfig = ThrottleConfig::none()
        .with_overrides(&config.to_string())
        .expect("its own rendering parses");
    assert_eq!(again, config);
}

#[test]
fn malformed_values_are_refused_with_upstreams_messages() {
    let cases = [
        (
            "EC2:Describe.*",
            "EC2:Describe.* must be formatted as serviceID:operationRegex=rate:burst",
        ),
        (
            "EC2=1:2",
            "EC2 must be formatted as serviceID:operationRegex",
        ),
        ("EC2:X=1", "1 must be formatted as rate:burst"),
        (
            "EC2:(=1:2",
            "( must be valid regex expression for operation",
        ),
        (
            "EC2:X=fast:2",
            "fast must be valid float number as rate for operations per second",
        ),
        (
            "EC2:X=1:-2",
            "-2 must be valid integer as burst for operations",
        ),
    ];
    for (text, message) in cases {
        let error = text.parse::<ThrottleConfig>().expect_err(text);
        assert_eq!(error.to_string(), message, "{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_bucket_lets_the_burst_through_then_spaces_calls_by_its_rate() {
    let throttle = Throttle::new(
        &ThrottleConfig::none()
            .with_overrides("EC2:^Describe=2:3")
            .expect("valid"),
    );
    let waits: Vec<Duration> = (0..5)
        .map(|_| throttle.reserve("EC2", "DescribeSubnets"))
        .collect();
    assert_eq!(
        waits,
        [
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_millis(1000)
        ]
    );
    // Other operations and services are not limited.
    assert_eq!(throttle.reserve("EC2", "CreateTags"), Duration::ZERO);
    assert_eq!(throttle.reserve(ELBV2, "DescribeRules"), Duration::ZERO);
    // Time refills the bucket.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(throttle.reserve("EC2", "DescribeVpcs"), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn every_matching_rule_of_a_service_is_waited_on() {
    let throttle = Throttle::new(
        &ThrottleConfig::none()
            .with_overrides("EC2:.*=100:100,EC2:^DescribeSubnets$=1:1")
            .expect("valid"),
    );
    assert_eq!(throttle.reserve("EC2", "DescribeSubnets"), Duration::ZERO);
    assert_eq!(
        throttle.reserve("EC2", "DescribeSubnets"),
        Duration::from_secs(1)
    );
    assert_eq!(throttle.reserve("EC2", "DescribeVpcs"), Duration::ZERO);
}

const EMPTY_DESCRIBE_LOAD_BALANCERS: &str = r#"<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeLoadBalancersResult><LoadBalancers/></DescribeLoadBalancersResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</DescribeLoadBalancersResponse>"#;

/// Through a real SDK client: the call counter's interceptor names the operation, the
/// connector waits for its bucket before the request leaves.
#[tokio::test(start_paused = true)]
async fn sdk_calls_leave_at_the_throttled_rate() {
    let canned = CannedHttp::new(EMPTY_DESCRIBE_LOAD_BALANCERS);
    let throttle = Arc::new(Throttle::new(
        &ThrottleConfig::none()
            .with_overrides("Elastic Load Balancing v2:^DescribeLoadBalancers$=2:1")
            .expect("valid"),
    ));
    let sdk = CannedHttp::sdk_config(ThrottledHttpClient::new(canned.shared(), throttle));
    let clients = AwsClients::new(&sdk, &[]);
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        clients
            .elbv2
            .describe_load_balancers()
            .send()
            .await
            .expect("the canned answer parses");
    }
    let offsets: Vec<Duration> = canned
        .seen()
        .iter()
        .map(|(_, at)| at.duration_since(start))
        .collect();
    assert_eq!(
        offsets,
        [
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_millis(1000)
        ]
    );
    // An operation without a rule is not delayed.
    let before = tokio::time::Instant::now();
    let _ = clients.elbv2.describe_target_groups().send().await;
    assert_eq!(canned.seen().len(), 4);
    assert_eq!(canned.seen()[3].1, before);
}
