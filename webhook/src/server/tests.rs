//! Router tests without TLS: requests go straight into the axum service.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tower::ServiceExt;

use super::*;
use crate::config::WebhookConfig;
use contract::cluster::StaticCluster;

fn admission() -> Admission {
    // One IngressClass of another controller, so its Ingresses are allowed untouched.
    let nginx: k8s_openapi::api::networking::v1::IngressClass = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}),
    )
    .unwrap();
    let cluster = Arc::new(StaticCluster {
        ingress_classes: vec![Arc::new(nginx)],
        ..StaticCluster::default()
    });
    Admission {
        cluster: cluster.clone(),
        target_groups: cluster,
        config: Arc::new(WebhookConfig::default()),
        group_check: None,
    }
}

fn app() -> (Router, Registry) {
    let mut registry = Registry::default();
    let metrics = Arc::new(WebhookMetrics::register(&mut registry));
    (router(admission(), metrics), registry)
}

fn post_json(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Response<()>, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    (parts.status, Response::from_parts(parts, ()), text)
}

fn content_type(response: &Response<()>) -> &str {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).unwrap();
    out
}

/// A v1 AdmissionReview creating an Ingress of a class this controller does not handle.
fn foreign_ingress_review(uid: &str) -> String {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "name": "web",
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "tester"},
            "object": {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"ingressClassName": "nginx", "defaultBackend": {
                    "service": {"name": "web", "port": {"number": 80}}
                }}
            },
            "dryRun": false
        }
    })
    .to_string()
}

#[tokio::test]
async fn garbage_is_400_with_the_reason_on_every_endpoint() {
    let (router, registry) = app();
    for endpoint in Endpoint::ALL {
        let (status, response, body) = send(&router, post_json(endpoint.path(), "{not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", endpoint.path());
        assert!(content_type(&response).starts_with("text/plain"));
        assert!(body.contains("AdmissionReview"), "reason missing: {body}");
    }
    let text = metrics_text(&registry);
    assert!(text.contains(
        r#"awslbc_webhook_requests_total{webhook="vtargetgroupbinding.elbv2.k8s.aws",decision="bad_request"} 1"#
    ));
}

#[tokio::test]
async fn review_is_200_json_echoing_the_uid() {
    let (router, registry) = app();
    let path = Endpoint::ValidateIngress.path();
    let (status, response, body) =
        send(&router, post_json(path, foreign_ingress_review("uid-42"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type(&response), "application/json");
    let review: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["response"]["uid"], "uid-42");
    assert_eq!(review["response"]["allowed"], true);

    let text = metrics_text(&registry);
    assert!(text.contains(
        r#"awslbc_webhook_requests_total{webhook="vingress.elbv2.k8s.aws",decision="allowed"} 1"#
    ));
    assert!(text.contains(
        r#"awslbc_webhook_request_duration_seconds_count{webhook="vingress.elbv2.k8s.aws"} 1"#
    ));
}

#[tokio::test]
async fn json_with_charset_is_accepted() {
    let (router, _) = app();
    let mut request = post_json(
        Endpoint::ValidateIngress.path(),
        foreign_ingress_review("u"),
    );
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        "Application/JSON; charset=utf-8".parse().unwrap(),
    );
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let (router, registry) = app();
    let path = Endpoint::ValidateIngress.path();
    let mut request = post_json(path, foreign_ingress_review("u"));
    request
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/yaml".parse().unwrap());
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        body.contains("text/yaml") && body.contains("application/json"),
        "{body}"
    );

    let mut request = post_json(path, foreign_ingress_review("u"));
    request.headers_mut().remove(header::CONTENT_TYPE);
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(body.contains("missing Content-Type"), "{body}");

    assert!(metrics_text(&registry).contains(
        r#"awslbc_webhook_requests_total{webhook="vingress.elbv2.k8s.aws",decision="unsupported_media_type"} 2"#
    ));
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let (router, registry) = app();
    let path = Endpoint::ValidateIngress.path();
    let (status, _, body) = send(&router, post_json(path, vec![b' '; MAX_BODY_BYTES + 1])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("larger than"), "{body}");
    assert!(metrics_text(&registry).contains(
        r#"awslbc_webhook_requests_total{webhook="vingress.elbv2.k8s.aws",decision="payload_too_large"} 1"#
    ));

    // Exactly at the limit the body is read (and then refused as not an AdmissionReview).
    let (status, _, _) = send(&router, post_json(path, vec![b' '; MAX_BODY_BYTES])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_smaller_limit_applies_to_a_body_of_unknown_length() {
    let metrics = Arc::new(WebhookMetrics::default());
    let router = router_with_body_limit(admission(), metrics, 1024);
    let body = Body::new(Chunks(vec![Bytes::from(vec![b' '; 512]); 4]));
    let (status, _, _) = send(&router, post_json(Endpoint::ValidateIngress.path(), body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// A body sent in chunks, with no length known up front (like `Transfer-Encoding: chunked`).
struct Chunks(Vec<Bytes>);

impl axum::body::HttpBody for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let next = if self.0.is_empty() {
            None
        } else {
            Some(Ok(hyper::body::Frame::data(self.0.remove(0))))
        };
        std::task::Poll::Ready(next)
    }
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405() {
    let (router, registry) = app();
    let (status, _, body) = send(&router, post_json("/validate-v1-secret", "{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("/validate-v1-secret"), "{body}");

    let request = Request::builder()
        .method(Method::GET)
        .uri(Endpoint::ValidateIngress.path())
        .body(Body::empty())
        .unwrap();
    let (status, response, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get(header::ALLOW).unwrap(), "POST");
    assert!(body.contains("GET"), "{body}");

    let text = metrics_text(&registry);
    assert!(
        text.contains(r#"awslbc_webhook_requests_total{webhook="unknown",decision="not_found"} 1"#)
    );
    assert!(text.contains(
        r#"awslbc_webhook_requests_total{webhook="vingress.elbv2.k8s.aws",decision="method_not_allowed"} 1"#
    ));
}
