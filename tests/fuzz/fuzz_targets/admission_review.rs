//! Arbitrary request bodies on every admission endpoint: a body that is not an AdmissionReview
//! is a `BadRequest` (HTTP 400), anything else gets an answer that echoes the request's uid;
//! nothing panics, whatever the object inside (wrong kinds, malformed or deeply nested JSON).
#![no_main]

use std::sync::{Arc, OnceLock};

use contract::cluster::StaticCluster;
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use libfuzzer_sys::fuzz_target;
use webhook::admission::{Admission, Endpoint, WebhookConfig};

fn admission() -> &'static (Admission, tokio::runtime::Runtime) {
    static ADMISSION: OnceLock<(Admission, tokio::runtime::Runtime)> = OnceLock::new();
    ADMISSION.get_or_init(|| {
        let alb = IngressClass {
            metadata: ObjectMeta {
                name: Some("alb".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(IngressClassSpec {
                controller: Some("ingress.k8s.aws/alb".to_owned()),
                ..IngressClassSpec::default()
            }),
        };
        let cluster = Arc::new(StaticCluster {
            ingress_classes: vec![Arc::new(alb)],
            ..StaticCluster::default()
        });
        let admission = Admission {
            cluster: cluster.clone(),
            target_groups: cluster,
            config: Arc::new(WebhookConfig::default()),
            group_check: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        (admission, runtime)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let endpoint = Endpoint::ALL[usize::from(pick) % Endpoint::ALL.len()];
    let (admission, runtime) = admission();
    // Err is the 400 answer; Ok is an AdmissionReview answer. Either is fine; a panic is not.
    let _ = runtime.block_on(admission.review(endpoint, body));
});
