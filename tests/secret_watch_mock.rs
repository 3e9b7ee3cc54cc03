//! Watches on referenced Secrets against kube's tower-test mock API server: one metadata-only
//! watch per Secret with a `metadata.name` field selector; the first list and every new
//! `resourceVersion` are reported; an unreferenced Secret's watch stops.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use controller::keys::ObjKey;
use controller::secrets::SecretWatches;
use http::{Request, Response};
use kube::client::Body;
use serde_json::json;
use tower_test::mock;

fn secret_meta(rv: &str) -> serde_json::Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
           "metadata": {"name": "oidc", "namespace": "ns", "resourceVersion": rv}})
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_rotated_secret_is_reported_and_an_unreferenced_one_is_no_longer_watched() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requests.clone();
    let server = tokio::spawn(async move {
        let mut parked = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let uri = request.uri().to_string();
            let accept = request
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            seen.lock().unwrap().push(format!("{uri} accept={accept}"));
            if uri.contains("watch=true") {
                if parked.is_empty() {
                    // The first watch brings one rotation and ends; the watcher then watches
                    // again from there, and that watch stays open.
                    let event = json!({"type": "MODIFIED", "object": secret_meta("2")});
                    let mut line = serde_json::to_vec(&event).unwrap();
                    line.push(b'\n');
                    send.send_response(
                        Response::builder()
                            .status(200)
                            .body(Body::from(line))
                            .unwrap(),
                    );
                    parked.push(None);
                } else {
                    parked.push(Some(send));
                }
                continue;
            }
            let list = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                              "metadata": {"resourceVersion": "1"}, "items": [secret_meta("1")]});
            send.send_response(
                Response::builder()
                    .status(200)
                    .body(Body::from(serde_json::to_vec(&list).unwrap()))
                    .unwrap(),
            );
        }
    });

    let reported = Arc::new(Mutex::new(Vec::<ObjKey>::new()));
    let sink = reported.clone();
    let watches = SecretWatches::new(
        client,
        Arc::new(move |key: &ObjKey| sink.lock().unwrap().push(key.clone())),
    );
    let oidc = ObjKey::new("ns", "oidc");
    watches.sync(&BTreeSet::from([oidc.clone()]));
    assert_eq!(watches.watched(), BTreeSet::from([oidc.clone()]));

    wait_for("the first list and the rotation", || {
        reported.lock().unwrap().len() >= 2
    })
    .await;
    assert_eq!(*reported.lock().unwrap(), [oidc.clone(), oidc.clone()]);

    let requests = requests.lock().unwrap().clone();
    let list = requests
        .iter()
        .find(|r| !r.contains("watch=true"))
        .expect("a list");
    assert!(
        list.starts_with("/api/v1/namespaces/ns/secrets?")
            && list.contains("fieldSelector=metadata.name%3Doidc"),
        "one Secret, by name, in its namespace: {list}"
    );
    assert!(
        list.contains("as=PartialObjectMetadataList"),
        "metadata only, the data never travels: {list}"
    );

    watches.sync(&BTreeSet::new());
    assert!(watches.watched().is_empty());
    server.abort();
}
