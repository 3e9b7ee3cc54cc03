//! The admission chain run in-process over manifests, exactly as the API server would call it:
//! the mutating webhook first, its patch applied, then the validating webhook.
//!
//! `plan`, `check` and the embedded demo use it, so offline verdicts are the webhook's verdicts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::admission::{Admission, Endpoint};

/// What the webhooks said about one object.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalVerdict {
    /// The object after the mutating webhook's patch.
    pub object: Value,
    pub allowed: bool,
    /// The denial message (names the object and what is wrong).
    pub message: Option<String>,
    pub warnings: Vec<String>,
}

/// Admit `object` (a full manifest with apiVersion/kind/metadata) as a CREATE.
pub async fn admit(admission: &Admission, object: &Value) -> LocalVerdict {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (mutating, validating) = match kind {
        "Ingress" => (None, Endpoint::ValidateIngress),
        "IngressClassParams" => (None, Endpoint::ValidateIngressClassParams),
        "TargetGroupBinding" => (
            Some(Endpoint::MutateTargetGroupBinding),
            Endpoint::ValidateTargetGroupBinding,
        ),
        "Service" => (Some(Endpoint::MutateService), Endpoint::ValidateService),
        other => {
            return LocalVerdict {
                object: object.clone(),
                allowed: true,
                message: None,
                warnings: vec![format!("no admission webhook for kind {other:?}")],
            };
        }
    };
    let mut object = object.clone();
    let mut warnings = Vec::new();
    if let Some(endpoint) = mutating {
        let response = call(admission, endpoint, &object).await;
        if let Err(denied) = read(&response, &mut warnings) {
            return LocalVerdict {
                object,
                allowed: false,
                message: Some(denied),
                warnings,
            };
        }
        if let Some(patched) = apply_patch(&object, &response) {
            object = patched;
        }
    }
    let response = call(admission, validating, &object).await;
    let result = read(&response, &mut warnings);
    LocalVerdict {
        object,
        allowed: result.is_ok(),
        message: result.err(),
        warnings,
    }
}

async fn call(admission: &Admission, endpoint: Endpoint, object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or(Value::Null);
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "local",
            "kind": {"kind": endpoint.kind()},
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "operation": "CREATE",
            "object": object,
        }
    });
    let body = serde_json::to_vec(&review).unwrap_or_default();
    match admission.review(endpoint, &body).await {
        Ok(reviewed) => serde_json::from_slice::<Value>(&reviewed.body)
            .ok()
            .and_then(|v| v.get("response").cloned())
            .unwrap_or(Value::Null),
        Err(bad) => json!({"allowed": false, "status": {"message": bad.to_string()}}),
    }
}

/// `Ok` when allowed; warnings are collected either way.
fn read(response: &Value, warnings: &mut Vec<String>) -> Result<(), String> {
    if let Some(list) = response.get("warnings").and_then(Value::as_array) {
        warnings.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if response.get("allowed").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    Err(response
        .pointer("/status/message")
        .and_then(Value::as_str)
        .unwrap_or("denied without a message")
        .to_string())
}

fn apply_patch(object: &Value, response: &Value) -> Option<Value> {
    let encoded = response.get("patch")?.as_str()?;
    let bytes = BASE64.decode(encoded).ok()?;
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).ok()?;
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).ok()?;
    Some(patched)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::admission::WebhookConfig;
    use contract::cluster::StaticCluster;

    fn admission() -> Admission {
        let cluster = Arc::new(StaticCluster::default());
        Admission {
            cluster: cluster.clone(),
            target_groups: cluster,
            config: Arc::new(WebhookConfig::default()),
            group_check: None,
        }
    }

    fn service(annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    }

    #[tokio::test]
    async fn a_class_less_load_balancer_is_claimed_then_validated() {
        let key = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval";
        // The mutator's class makes the Service ours, so the validator reads its annotations.
        let bad = admit(&admission(), &service(json!({key: "abc"}))).await;
        assert!(!bad.allowed);
        let message = bad.message.unwrap_or_default();
        assert!(
            message.starts_with(&format!("Service shop/web: {key}: ")),
            "{message}"
        );
        let good = admit(&admission(), &service(json!({key: "10"}))).await;
        assert!(good.allowed, "{good:?}");
        assert_eq!(
            good.object["spec"]["loadBalancerClass"],
            "service.k8s.aws/nlb"
        );
        assert!(good.warnings.is_empty(), "{good:?}");
    }
}
