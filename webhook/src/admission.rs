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
        match endpoint {
            Endpoint::ValidateIngress => self.review_as::<Ingress>(endpoint, body).await,
            Endpoint::ValidateIngressClassParams => {
                self.review_as::<IngressClassParams>(endpoint, body).await
            }
            Endpoint::MutateTargetGroupBinding | Endpoint::ValidateTargetGroupBinding => {
                self.review_as::<TargetGroupBinding>(endpoint, body).await
            }
            Endpoint::MutatePod => self.review_as::<Pod>(endpoint, body).await,
            Endpoint::MutateService | Endpoint::ValidateService => {
                self.review_as::<Service>(endpoint, body).await
            }
        }
    }

    /// [`Admission::review`] on an endpoint whose objects are `K`s.
    async fn review_as<K: Admitted>(
        &self,
        endpoint: Endpoint,
        body: &[u8],
    ) -> Result<Reviewed, BadRequest> {
        let (api_version, mut request) = read_review::<K>(body)?;
        if request.uid.is_empty() {
            return Err(BadRequest("AdmissionReview request has no uid".to_string()));
        }
        let answer = self.answer(endpoint, &mut request).await;
        tracing::debug!(
            webhook = endpoint.name(),
            uid = %request.uid,
            namespace = request.namespace.as_deref().unwrap_or_default(),
            name = request.name.as_deref().unwrap_or_default(),
            operation = %request.operation,
            decision = answer.decision().as_str(),
            "admission review"
        );
        Ok(answer.encode(&api_version, &request.uid))
    }

    async fn answer<K: Admitted>(&self, endpoint: Endpoint, request: &mut Request<K>) -> Answer {
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
        match decode(request, op) {
            Ok((new, old)) => K::answer(self, endpoint, request, op, new, old).await,
            Err(answer) => answer,
        }
    }
}

/// An object kind the webhooks admit, and how its endpoints answer a request once its objects
/// are decoded (`old` only on UPDATE).
trait Admitted: DeserializeOwned + Send + Sized {
    async fn answer(
        admission: &Admission,
        endpoint: Endpoint,
        request: &Request<Self>,
        op: Op,
        new: Self,
        old: Option<Self>,
    ) -> Answer;
}

impl Admitted for Ingress {
    async fn answer(
        admission: &Admission,
        _: Endpoint,
        request: &Request<Self>,
        op: Op,
        new: Self,
        old: Option<Self>,
    ) -> Answer {
        let mut verdict = validate::ingress::validate(
            op,
            &new,
            old.as_ref(),
            admission.cluster.as_ref(),
            &admission.config,
        );
        // The group is built only for a change the Ingress alone allows, and never for one that
        // must not be blocked (deletion, metadata other than annotations).
        if let Some(check) = &admission.group_check
            && verdict.allowed()
            && validate::ingress::changes_what_is_validated(op, &new, old.as_ref())
        {
            add_findings(&mut verdict, check.check(&new, old.as_ref()));
        }
        Answer::from_verdict(verdict, &object_name("Ingress", request))
    }
}

impl Admitted for IngressClassParams {
    async fn answer(
        _: &Admission,
        _: Endpoint,
        request: &Request<Self>,
        _: Op,
        new: Self,
        _: Option<Self>,
    ) -> Answer {
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
}

impl Admitted for TargetGroupBinding {
    async fn answer(
        admission: &Admission,
        endpoint: Endpoint,
        request: &Request<Self>,
        op: Op,
        new: Self,
        old: Option<Self>,
    ) -> Answer {
        let deny = |message: String| {
            Answer::deny(
                "target_group_binding",
                format!("{}: {message}", object_name("TargetGroupBinding", request)),
            )
        };
        if endpoint.is_mutating() {
            match mutate::target_group_binding::mutate(op, &new, admission.target_groups.as_ref())
                .await
            {
                Ok(patch) => Answer::allow().with_patch(patch),
                Err(message) => deny(message),
            }
        } else {
            let result = validate::target_group_binding::validate(
                op,
                &new,
                old.as_ref(),
                admission.cluster.as_ref(),
                admission.target_groups.as_ref(),
                &admission.config,
            )
            .await;
            match result {
                Ok(()) => Answer::allow(),
                Err(message) => deny(message),
            }
        }
    }
}

impl Admitted for Pod {
    async fn answer(
        admission: &Admission,
        _: Endpoint,
        request: &Request<Self>,
        _: Op,
        pod: Self,
        _: Option<Self>,
    ) -> Answer {
        // The request's namespace: a new pod's own metadata may not carry one yet.
        let namespace = request.namespace.clone().unwrap_or_default();
        let bindings = admission.cluster.target_group_bindings();
        let selector = |service: &str| admission.cluster.service_selector(&namespace, service);
        let patch = mutate::pod::mutate(&pod, &namespace, &bindings, &selector);
        Answer::allow().with_patch(patch)
    }
}

impl Admitted for Service {
    async fn answer(
        admission: &Admission,
        endpoint: Endpoint,
        request: &Request<Self>,
        op: Op,
        new: Self,
        old: Option<Self>,
    ) -> Answer {
        if endpoint.is_mutating() {
            let class = &admission.config.load_balancer_class;
            let patch = mutate::service::mutate(op, &new, old.as_ref(), class);
            return Answer::allow().with_patch(patch);
        }
        let config = &admission.config;
        let mut verdict = validate::service::validate(op, &new, old.as_ref(), config);
        // The NLB is built only for a Service of ours whose annotations pass, and never for a
        // change that must not be blocked.
        if let Some(check) = &admission.group_check
            && verdict.allowed()
            && validate::service::is_ours(&new, config)
            && validate::service::changes_what_is_validated(op, &new, old.as_ref())
        {
            add_findings(&mut verdict, check.check_service(&new, old.as_ref()));
        }
        Answer::from_verdict(verdict, &object_name("Service", request))
    }
}

/// What building the group (or the NLB) found: refusals become errors, the rest warnings.
fn add_findings(verdict: &mut Verdict, findings: contract::group_check::GroupFindings) {
    for refusal in findings.refusals {
        verdict.error(refusal.category, refusal.message);
    }
    for warning in findings.warnings {
        verdict.warn(warning);
    }
}

/// The parts of an incoming AdmissionReview we read, its objects as `O`. Unknown fields are
/// ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<O> {
    #[serde(default)]
    api_version: String,
    request: Option<RequestIn<O>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<O> {
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
    // Absent is `None`, as for every `Option` (`#[serde(default)]` would ask `O: Default`).
    object: Option<O>,
    old_object: Option<O>,
}

impl<O> RequestIn<O> {
    fn map_objects<P>(self, to: impl Fn(O) -> P) -> RequestIn<P> {
        RequestIn {
            uid: self.uid,
            kind: self.kind,
            name: self.name,
            namespace: self.namespace,
            operation: self.operation,
            object: self.object.map(&to),
            old_object: self.old_object.map(&to),
        }
    }
}

#[derive(Deserialize, Default)]
struct KindIn {
    #[serde(default)]
    kind: String,
}

/// One object of a request: decoded with the whole review, or its JSON when the review did not
/// decode as a whole.
enum Object<K> {
    Decoded(K),
    Raw(Box<RawValue>),
}

impl<K: DeserializeOwned> Object<K> {
    fn into_decoded(self) -> Result<K, serde_json::Error> {
        match self {
            Object::Decoded(object) => Ok(object),
            Object::Raw(raw) => serde_json::from_str(raw.get()),
        }
    }
}

/// A request whose objects are `K`s.
type Request<K> = RequestIn<Object<K>>;

/// Read an AdmissionReview whose objects are `K`s.
///
/// The body is read once when the whole review decodes (the usual case). Otherwise it is read
/// again with its objects kept as JSON, exactly as when objects were always decoded apart: a
/// body that is no AdmissionReview is a [`BadRequest`], and an object that is not a `K` is a
/// denial from [`decode`] (only the object it concerns, and `oldObject` only on UPDATE).
fn read_review<K: DeserializeOwned>(body: &[u8]) -> Result<(String, Request<K>), BadRequest> {
    // The raw reading refuses invalid UTF-8 anywhere in an object, even in fields a `K`
    // ignores: such a body takes that path.
    let whole = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<ReviewIn<K>>(text).ok());
    let (api_version, request) = match whole {
        Some(review) => (
            review.api_version,
            review.request.map(|r| r.map_objects(Object::Decoded)),
        ),
        None => {
            let review: ReviewIn<Box<RawValue>> = serde_json::from_slice(body)
                .map_err(|e| BadRequest(format!("body is not an AdmissionReview: {e}")))?;
            (
                review.api_version,
                review.request.map(|r| r.map_objects(Object::Raw)),
            )
        }
    };
    let request =
        request.ok_or_else(|| BadRequest("AdmissionReview has no request".to_string()))?;
    Ok((api_version, request))
}

/// Take `object` (and `oldObject` on UPDATE) out of the request as `K`s, or a denial.
fn decode<K: DeserializeOwned>(request: &mut Request<K>, op: Op) -> Result<(K, Option<K>), Answer> {
    let object = request.object.take();
    let old_object = request.old_object.take();
    let malformed = |which: &str, e: serde_json::Error| {
        Answer::deny(
            "request",
            format!(
                "{}: {which} is malformed: {e}",
                object_name("object", request)
            ),
        )
    };
    let object =
        object.ok_or_else(|| Answer::deny("request", "AdmissionReview request has no object"))?;
    let new = object.into_decoded().map_err(|e| malformed("object", e))?;
    let old = match (op, old_object) {
        (Op::Update, Some(old)) => Some(old.into_decoded().map_err(|e| malformed("oldObject", e))?),
        _ => None,
    };
    Ok((new, old))
}

fn object_name<O>(kind: &str, request: &RequestIn<O>) -> String {
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
