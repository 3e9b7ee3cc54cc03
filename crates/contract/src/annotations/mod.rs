//! The one parser of `alb.ingress.kubernetes.io/*` annotations, shared by the admission webhook
//! and the controller's model builder.
//!
//! * [`check_all`] validates every present key independently and lists unknown keys (with a
//!   "did you mean" suggestion), for admission errors and warnings;
//! * [`IngressAnnotations::parse`] gives the typed Ingress-level settings;
//! * [`BackendAnnotations::parse`] gives the typed per-backend settings, Service over Ingress;
//! * [`ANNOTATIONS`] describes every key (kind, scope, default, docs).
//!
//! Encodings follow upstream (`pkg/annotations/parser.go`): Go `ParseBool` spellings, base-10
//! integers, comma lists, `k=v` maps with backslash escapes, and JSON decoded like Go's
//! `encoding/json` (field names case-insensitive, unknown fields ignored).

use serde::Serialize;
use std::collections::BTreeMap;

mod actions;
mod auth;
mod backend;
mod conditions;
mod frontend_nlb;
mod ingress;
mod json;
mod keys;
mod listener;
mod primitives;
mod service;
mod spec;
mod table;
mod values;

#[cfg(test)]
mod tests;

pub use actions::{
    Action, FixedResponseConfig, ForwardConfig, RedirectConfig, RewriteConfig, RewriteConfigObject,
    TargetGroupStickinessConfig, TargetGroupTuple, Transform,
};
pub use auth::{
    AuthConfig, AuthIdp, AuthIdpCognito, AuthIdpOidc, AuthType, DEFAULT_AUTH_SCOPE,
    DEFAULT_AUTH_SESSION_COOKIE, DEFAULT_AUTH_SESSION_TIMEOUT, JwtClaim, JwtClaimFormat,
    JwtValidation, OnUnauthenticatedRequest, check_jwt_and_auth,
};
pub use backend::{BackendAnnotations, ServicePortKey};
pub use conditions::{
    HttpHeaderConfig, PlainValuesConfig, QueryStringConfig, QueryStringKeyValuePair, RuleCondition,
    RuleConditionField, ValuesConfig,
};
pub use frontend_nlb::{FrontendNlb, FrontendNlbHealthCheck};
pub use ingress::{CAPACITY_UNITS, IngressAnnotations};
pub use json::IntOrString;
pub use keys::ANNOTATIONS;
pub use listener::{
    AdvertiseTrustStoreCaNames, ListenPort, ListenerKey, MutualAuthentication,
    MutualAuthenticationMode,
};
pub use primitives::{Cidr, ParseEnumError, parse_string_list};
pub use service::{
    AUTO_ASSIGNED, AlpnPolicy, NlbHealthCheckProtocol, NlbIpAddressType, NlbScheme, OnOff,
    SERVICE_ANNOTATIONS, SERVICE_PREFIX, ServiceAnnotationSpec, ServiceAnnotations,
    ServiceValueKind, check_service_annotations, lookup_service,
};
pub use table::{AnnotationSpec, Scope, ValueKind, lookup};
pub use values::{
    HealthCheckPort, IpAddressType, Protocol, ProtocolVersion, RESERVED_TAG_KEYS, Scheme,
    TargetType, WafSetting,
};

/// The prefix of every annotation this module parses.
pub const PREFIX: &str = "alb.ingress.kubernetes.io/";

/// Object annotations, as in `metadata.annotations`.
pub type Annotations = BTreeMap<String, String>;

/// One bad annotation. Displays as `<full key>: <message>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{key}: {message}")]
pub struct AnnotationError {
    pub key: String,
    pub message: String,
}

/// An `alb.ingress.kubernetes.io/*` key that is not known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownAnnotation {
    pub key: String,
    /// A known key within a small edit distance, if any.
    pub suggestion: Option<String>,
}

/// The result of [`check_all`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One error per bad key, in key order.
    pub errors: Vec<AnnotationError>,
    /// Unknown keys, in key order.
    pub unknown: Vec<UnknownAnnotation>,
}

impl Report {
    /// Whether no key is bad (unknown keys are only warnings).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks every `alb.ingress.kubernetes.io/*` key present, each on its own: a key is reported in
/// `errors` exactly when the typed parse ([`IngressAnnotations::parse`] or
/// [`BackendAnnotations::parse`]) rejects it.
pub fn check_all(annotations: &Annotations) -> Report {
    let mut report = Report::default();
    for (key, raw) in annotations {
        let Some(suffix) = key.strip_prefix(PREFIX) else {
            continue;
        };
        match lookup(suffix) {
            Some(spec) => {
                let param = suffix.get(spec.suffix.len()..).unwrap_or_default();
                if let Err(message) = spec.check(param, raw) {
                    report.errors.push(AnnotationError {
                        key: key.clone(),
                        message,
                    });
                }
            }
            None => report.unknown.push(table::unknown(key, suffix)),
        }
    }
    report
}

/// Reads typed values out of annotations, collecting one error per bad key.
struct Reader<'a> {
    annotations: &'a Annotations,
    /// The key prefix: [`PREFIX`], or the Service annotations' prefix.
    prefix: &'static str,
    errors: Vec<AnnotationError>,
}

impl<'a> Reader<'a> {
    fn new(annotations: &'a Annotations) -> Self {
        Self::with_prefix(annotations, PREFIX)
    }

    fn with_prefix(annotations: &'a Annotations, prefix: &'static str) -> Self {
        Self {
            annotations,
            prefix,
            errors: Vec::new(),
        }
    }

    fn has(&self, suffix: &str) -> bool {
        self.annotations
            .contains_key(&format!("{}{suffix}", self.prefix))
    }

    /// Parses `prefix + suffix` if present; a parse error is recorded and yields `None`.
    fn get<T>(&mut self, suffix: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let key = format!("{}{suffix}", self.prefix);
        let raw = self.annotations.get(&key)?;
        match parse(raw) {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(AnnotationError { key, message });
                None
            }
        }
    }

    /// Parses every key of a templated family (`prefix + head + param`) into a map.
    fn family<K: Ord, V>(
        &mut self,
        head: &str,
        parse: impl Fn(&str, &str) -> Result<(K, V), String>,
    ) -> BTreeMap<K, V> {
        let start = format!("{}{head}", self.prefix);
        let mut out = BTreeMap::new();
        for (key, raw) in self.annotations.range(start.clone()..) {
            let Some(param) = key.strip_prefix(&start) else {
                break;
            };
            match parse(param, raw) {
                Ok((k, v)) => {
                    out.insert(k, v);
                }
                Err(message) => self.errors.push(AnnotationError {
                    key: key.clone(),
                    message,
                }),
            }
        }
        out
    }

    /// The parsed value, or every recorded error in key order.
    fn finish<T>(mut self, value: T) -> Result<T, Vec<AnnotationError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            self.errors.sort_by(|a, b| a.key.cmp(&b.key));
            Err(self.errors)
        }
    }
}
