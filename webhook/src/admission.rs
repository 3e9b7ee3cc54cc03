//! AdmissionReview in, AdmissionReview out: decoding, dispatch by webhook path, encoding.
//!
//! [`Admission::review`] never panics on input: a body that is not an AdmissionReview is a
//! [`BadRequest`] (HTTP 400 with the reason); a well-formed review whose object is malformed is
//! answered with a denial that echoes the request uid.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use json_patch::Patch;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use crate::config::WebhookConfig;
use crate::validate::{Op, Verdict};
use crate::{mutate, validate};
use contract::cluster::{ClusterView, TargetGroupLookup};
use contract::crd::{IngressClassParams, TargetGroupBinding};
use contract::group_check::GroupCheck;

/// The admission endpoints this server answers, on upstream's paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    ValidateIngress,
    ValidateIngressClassParams,
    MutateTargetGroupBinding,
    ValidateTargetGroupBinding,
    MutatePod,
    MutateService,
    ValidateService,
}

impl Endpoint {
    pub const ALL: [Endpoint; 7] = [
        Endpoint::ValidateIngress,
        Endpoint::ValidateIngressClassParams,
        Endpoint::MutateTargetGroupBinding,
        Endpoint::ValidateTargetGroupBinding,
        Endpoint::MutatePod,
        Endpoint::MutateService,
        Endpoint::ValidateService,
    ];

    /// The HTTP path the API server calls.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ValidateIngress => "/validate-networking-v1-ingress",
            Endpoint::ValidateIngressClassParams => {
                "/validate-elbv2-k8s-aws-v1beta1-ingressclassparams"
            }
            Endpoint::MutateTargetGroupBinding => {
                "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding"
            }
            Endpoint::ValidateTargetGroupBinding => {
                "/validate-elbv2-k8s-aws-v1beta1-targetgroupbinding"
            }
            Endpoint::MutatePod => "/mutate-v1-pod",
            Endpoint::MutateService => "/mutate-v1-service",
            Endpoint::ValidateService => "/validate-v1-service",
        }
    }

    /// The webhook name used in the webhook configurations and as a metric label.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::ValidateIngress => "vingress.elbv2.k8s.aws",
            Endpoint::ValidateIngressClassParams => "vingressclassparams.elbv2.k8s.aws",
            Endpoint::MutateTargetGroupBinding => "mtargetgroupbinding.elbv2.k8s.aws",
            Endpoint::ValidateTargetGroupBinding => "vtargetgroupbinding.elbv2.k8s.aws",
            Endpoint::MutatePod => "mpod.elbv2.k8s.aws",
            Endpoint::MutateService => "mservice.elbv2.k8s.aws",
            Endpoint::ValidateService => "vservice.elbv2.k8s.aws",
        }
    }

    /// The object kind the endpoint admits.
    pub fn kind(self) -> &'static str {
        match self {
            Endpoint::ValidateIngress => "Ingress",
            Endpoint::ValidateIngressClassParams => "IngressClassParams",
            Endpoint::MutateTargetGroupBinding | Endpoint::ValidateTargetGroupBinding => {
                "TargetGroupBinding"
            }
            Endpoint::MutatePod => "Pod",
            Endpoint::MutateService | Endpoint::ValidateService => "Service",
        }
    }

    pub fn from_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.path() == path)
    }

    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Endpoint::MutateTargetGroupBinding | Endpoint::MutatePod | Endpoint::MutateService
        )
    }
}

/// What the webhook decided, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    Allowed,
    Patched,
    Denied,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Patched => "patched",
            Decision::Denied => "denied",
        }
    }
}

/// The encoded AdmissionReview response and what it decided.
#[derive(Clone, Debug)]
pub struct Reviewed {
    /// JSON of the `admission.k8s.io/v1` AdmissionReview to send back with HTTP 200.
    pub body: Vec<u8>,
    pub decision: Decision,
    /// A stable category for denials (metric label), e.g. `annotation`, `ingress_class`.
    pub category: Option<&'static str>,
}

/// The request body was not an AdmissionReview: answer HTTP 400 with this reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad admission request: {0}")]
pub struct BadRequest(pub String);

/// Everything the admission handlers need; cheap to clone.
#[derive(Clone)]
pub struct Admission {
    pub cluster: Arc<dyn ClusterView>,
    pub target_groups: Arc<dyn TargetGroupLookup>,
    pub config: Arc<WebhookConfig>,
    /// Builds an Ingress's whole group with the change in it; `None` checks each Ingress alone.
    pub group_check: Option<Arc<dyn GroupCheck>>,
}

impl Admission {
    /// Answer one AdmissionReview body received on `endpoint`.
    ///
    /// `Err` only when the body is not an AdmissionReview with a request uid; every other
    /// problem (wrong kind, malformed object) is a denial that echoes the uid.
    pub async fn review(&self, endpoint: Endpoint, body: &[u8]) -> Result<Reviewed, BadRequest> {
        let review: ReviewIn = serde_json::from_slice(body)
            .map_err(|e| BadRequest(format!("body is not an AdmissionReview: {e}")))?;
        let request = review
            .request
            .ok_or_else(|| BadRequest("AdmissionReview has no request".to_string()))?;
        if request.uid.is_empty() {
            return Err(BadRequest("AdmissionReview request has no uid".to_string()));
        }
        let answer = self.answer(endpoint, &request).await;
        tracing::debug!(
            webhook = endpoint.name(),
            uid = %request.uid,
            namespace = request.namespace.as_deref().unwrap_or_default(),
            name = request.name.as_deref().unwrap_or_default(),
            operation = %request.operation,
            decision = answer.decision().as_str(),
            "admission review"
        );
        Ok(answer.encode(&review.api_version, &request.uid))
    }

    async fn answer(&self, endpoint: Endpoint, request: &RequestIn) -> Answer {
        let op = match request.operation.as_str() {
            "CREATE" => Op::Create,
            "UPDATE" => Op::Update,
            // Deletes and connects are never refused: refusing a delete strands finalizers.
            _ => return Answer::allow(),
        };
        if endpoint == Endpoint::MutatePod
            && (op != Op::Create || !self.config.enable_pod_readiness_gate_inject)
        {
            return Answer::allow();
        }
        let expected = endpoint.kind();
        if !request.kind.kind.eq_ignore_ascii_case(expected) {
            return Answer::deny(
                "request",
                format!(
                    "webhook {} handles {expected}, got {}",
                    endpoint.name(),
                    request.kind.kind
                ),
            );
        }
        match endpoint {
            Endpoint::ValidateIngress => {
                let (new, old) = match decode::<Ingress>(request, op) {
                    Ok(objects) => objects,
                    Err(answer) => return answer,
                };
                let mut verdict = validate::ingress::validate(
                    op,
                    &new,
                    old.as_ref(),
                    self.cluster.as_ref(),
                    &self.config,
                );
                // The group is built only for a change the Ingress alone allows, and never for
                // one that must not be blocked (deletion, metadata other than annotations).
                if let Some(check) = &self.group_check
                    && verdict.allowed()
                    && validate::ingress::changes_what_is_validated(op, &new, old.as_ref())
                {
                    let findings = check.check(&new, old.as_ref());
                    for refusal in findings.refusals {
                        verdict.error(refusal.category, refusal.message);
                    }
                    for warning in findings.warnings {
                        verdict.warn(warning);
                    }
                }
                Answer::from_verdict(verdict, &object_name("Ingress", request))
            }
            Endpoint::ValidateIngressClassParams => {
                let (new, _) = match decode::<IngressClassParams>(request, op) {
                    Ok(objects) => objects,
                    Err(answer) => return answer,
                };
                match contract::params_check::validate(&new.spec) {
                    Ok(()) => Answer::allow(),
                    Err(errors) => Answer::deny(
                        "ingress_class_params",
                        format!(
                            "{}: {}",
                            object_name("IngressClassParams", request),
                            errors.join("; ")
                        ),
                    ),
                }
            }
            Endpoint::MutateTargetGroupBinding => {
                let (new, _) = match decode::<TargetGroupBinding>(request, op) {
                    Ok(objects) => objects,
                    Err(answer) => return answer,
                };
                match mutate::target_group_binding::mutate(op, &new, self.target_groups.as_ref())
                    .await
                {
                    Ok(patch) => Answer::allow().with_patch(patch),
                    Err(message) => Answer::deny(
                        "target_group_binding",
                        format!("{}: {message}", object_name("TargetGroupBinding", request)),
                    ),
                }
            }
            Endpoint::MutatePod => {
                let (pod, _) = match decode::<Pod>(request, op) {
                    Ok(objects) => objects,
                    Err(answer) => return answer,
                };
                // The request's namespace: a new pod's own metadata may not carry one yet.
                let namespace = request.namespace.clone().unwrap_or_default();
                let bindings = self.cluster.target_group_bindings();
                let selector = |service: &str| self.cluster.service_selector(&namespace, service);
                let patch = mutate::pod::mutate(&pod, &namespace, &bindings, &selector);
                Answer::allow().with_patch(patch)
            }
            Endpoint::MutateService => {
                let (new, old) = match decode::<Service>(request, op) {
                    Ok(objects) => objects,
                    Err(answer) => return answer,
                };
                let patch = mutate::service::mutate(
                    op,
                    &new,
                    old.as_ref(),
                    &self.config.load_balancer_class,
                );
                Answer::allow().with_patch(patch)
            }
            Endpoint::ValidateService => {
                let (new, old) = match decode::<Service>(request, op) {
                    Ok(objects) => objects,
                    Err(answer) => return answer,
                };
                let mut verdict = validate::service::validate(op, &new, old.as_ref(), &self.config);
                // The NLB is built only for a Service of ours whose annotations pass, and
                // never for a change that must not be blocked.
                if let Some(check) = &self.group_check
                    && verdict.allowed()
                    && validate::service::is_ours(&new, &self.config)
                    && validate::service::changes_what_is_validated(op, &new, old.as_ref())
                {
                    let findings = check.check_service(&new, old.as_ref());
                    for refusal in findings.refusals {
                        verdict.error(refusal.category, refusal.message);
                    }
                    for warning in findings.warnings {
                        verdict.warn(warning);
                    }
                }
                Answer::from_verdict(verdict, &object_name("Service", request))
            }
            Endpoint::ValidateTargetGroupBinding => {
                let (new, old) = match decode::<TargetGroupBinding>(request, op) {
                    Ok(objects) => objects,
                    Err(answer) => return answer,
                };
                let result = validate::target_group_binding::validate(
                    op,
                    &new,
                    old.as_ref(),
                    self.cluster.as_ref(),
                    self.target_groups.as_ref(),
                    &self.config,
                )
                .await;
                match result {
                    Ok(()) => Answer::allow(),
                    Err(message) => Answer::deny(
                        "target_group_binding",
                        format!("{}: {message}", object_name("TargetGroupBinding", request)),
                    ),
                }
            }
        }
    }
}

/// The parts of an incoming AdmissionReview we read. Unknown fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    #[serde(default)]
    api_version: String,
    request: Option<RequestIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    kind: KindIn,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    object: Option<Box<RawValue>>,
    #[serde(default)]
    old_object: Option<Box<RawValue>>,
}

#[derive(Deserialize, Default)]
struct KindIn {
    #[serde(default)]
    kind: String,
}

/// Decode `object` (and `oldObject` on UPDATE) into the endpoint's type, or a denial.
fn decode<K: DeserializeOwned>(request: &RequestIn, op: Op) -> Result<(K, Option<K>), Answer> {
    let parse = |raw: &RawValue, which: &str| {
        serde_json::from_str::<K>(raw.get()).map_err(|e| {
            Answer::deny(
                "request",
                format!(
                    "{}: {which} is malformed: {e}",
                    object_name("object", request)
                ),
            )
        })
    };
    let object = request
        .object
        .as_deref()
        .ok_or_else(|| Answer::deny("request", "AdmissionReview request has no object"))?;
    let new = parse(object, "object")?;
    let old = match (op, request.old_object.as_deref()) {
        (Op::Update, Some(raw)) => Some(parse(raw, "oldObject")?),
        _ => None,
    };
    Ok((new, old))
}

fn object_name(kind: &str, request: &RequestIn) -> String {
    match request.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        Some(ns) => format!(
            "{kind} {ns}/{}",
            request.name.as_deref().unwrap_or_default()
        ),
        None => format!("{kind} {}", request.name.as_deref().unwrap_or_default()),
    }
}

/// One webhook answer before encoding.
#[derive(Debug, Default)]
struct Answer {
    denial: Option<(&'static str, String)>,
    patch: Option<Patch>,
    warnings: Vec<String>,
}

impl Answer {
    fn allow() -> Self {
        Answer::default()
    }

    fn deny(category: &'static str, message: impl Into<String>) -> Self {
        Answer {
            denial: Some((category, message.into())),
            ..Answer::default()
        }
    }

    fn from_verdict(verdict: Verdict, object: &str) -> Self {
        let denial = verdict
            .message(object)
            .map(|m| (verdict.category.unwrap_or("invalid"), m));
        Answer {
            denial,
            patch: None,
            warnings: verdict.warnings,
        }
    }

    fn with_patch(mut self, patch: Option<Patch>) -> Self {
        self.patch = patch.filter(|p| !p.0.is_empty());
        self
    }

    fn decision(&self) -> Decision {
        match (&self.denial, &self.patch) {
            (Some(_), _) => Decision::Denied,
            (None, Some(_)) => Decision::Patched,
            (None, None) => Decision::Allowed,
        }
    }

    fn encode(self, api_version: &str, uid: &str) -> Reviewed {
        let decision = self.decision();
        let category = self.denial.as_ref().map(|(c, _)| *c);
        let patch = self
            .patch
            .as_ref()
            .and_then(|p| serde_json::to_vec(p).ok())
            .map(|bytes| BASE64.encode(bytes));
        let status = self.denial.as_ref().map(|(_, message)| StatusOut {
            code: 403,
            reason: "Forbidden",
            message,
        });
        let response = ReviewOut {
            api_version: if api_version.is_empty() {
                "admission.k8s.io/v1"
            } else {
                api_version
            },
            kind: "AdmissionReview",
            response: ResponseOut {
                uid,
                allowed: self.denial.is_none(),
                status,
                patch_type: patch.as_ref().map(|_| "JSONPatch"),
                patch,
                warnings: &self.warnings,
            },
        };
        // Serialising plain strings, bools and numbers cannot fail; keep a denial as fallback.
        let body = serde_json::to_vec(&response).unwrap_or_else(|_| {
            format!(
                r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{{"uid":{},"allowed":false}}}}"#,
                serde_json::Value::String(uid.to_string())
            )
            .into_bytes()
        });
        Reviewed {
            body,
            decision,
            category,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'a str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Serialize)]
struct StatusOut<'a> {
    code: u16,
    reason: &'a str,
    message: &'a str,
}
