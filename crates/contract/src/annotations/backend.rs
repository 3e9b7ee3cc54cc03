//! [`BackendAnnotations`]: the per-backend (target group and authentication) annotations, read
//! from the Service's annotations merged over the Ingress's (Service wins per key).

use super::auth::{
    AuthConfig, AuthIdp, AuthIdpCognito, AuthIdpOidc, AuthType, DEFAULT_AUTH_SCOPE,
    DEFAULT_AUTH_SESSION_COOKIE, DEFAULT_AUTH_SESSION_TIMEOUT, OnUnauthenticatedRequest,
    parse_cognito, parse_oidc,
};
use super::frontend_nlb::parse_health_check_protocol;
use super::primitives::ok_string;
use super::primitives::{
    parse_bool, parse_enum, parse_i32, parse_i64, parse_port, parse_string_map, strict_port,
};
use super::values::parse_tags;
use super::values::{HealthCheckPort, Protocol, ProtocolVersion, TargetType, parse_success_codes};
use super::{AnnotationError, Annotations, PREFIX, Reader};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The Service and port a `target-control-port.${svc}.${port}` annotation applies to.
/// Serialises as `svc.port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePortKey {
    pub service: String,
    pub port: u16,
}

impl fmt::Display for ServicePortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.service, self.port)
    }
}

impl Serialize for ServicePortKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Typed backend-scoped annotations. `None` means absent from both objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendAnnotations {
    pub target_type: Option<TargetType>,
    pub target_node_labels: Option<BTreeMap<String, String>>,
    pub backend_protocol: Option<Protocol>,
    pub backend_protocol_version: Option<ProtocolVersion>,
    pub target_group_attributes: Option<BTreeMap<String, String>>,
    pub healthcheck_port: Option<HealthCheckPort>,
    pub healthcheck_protocol: Option<Protocol>,
    pub healthcheck_path: Option<String>,
    pub healthcheck_interval_seconds: Option<i32>,
    pub healthcheck_timeout_seconds: Option<i32>,
    pub healthy_threshold_count: Option<i32>,
    pub unhealthy_threshold_count: Option<i32>,
    pub success_codes: Option<String>,
    pub multi_cluster_target_group: Option<bool>,
    /// `target-control-port.${svc}.${port}`, by Service and port.
    pub target_control_ports: BTreeMap<ServicePortKey, u16>,
    pub auth_type: Option<AuthType>,
    pub auth_idp_cognito: Option<AuthIdpCognito>,
    pub auth_idp_oidc: Option<AuthIdpOidc>,
    pub auth_on_unauthenticated_request: Option<OnUnauthenticatedRequest>,
    pub auth_scope: Option<String>,
    pub auth_session_cookie: Option<String>,
    pub auth_session_timeout: Option<i64>,
    /// `tags` as seen by the target group (the Service's value wins).
    pub tags: Option<BTreeMap<String, String>>,
}

impl BackendAnnotations {
    /// Parses the backend-scoped keys of `service` merged over `ingress`: for each key the
    /// Service's value wins. Errors name the key; bad values hidden by the Service are not reported.
    pub fn parse(
        service: &Annotations,
        ingress: &Annotations,
    ) -> Result<Self, Vec<AnnotationError>> {
        let mut merged = ingress.clone();
        merged.extend(
            service
                .iter()
                .filter(|(key, _)| key.starts_with(PREFIX))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let mut r = Reader::new(&merged);
        let parsed = Self {
            target_type: r.get("target-type", parse_enum),
            target_node_labels: r.get("target-node-labels", parse_string_map),
            backend_protocol: r.get("backend-protocol", parse_backend_protocol),
            backend_protocol_version: r
                .get("backend-protocol-version", parse_backend_protocol_version),
            target_group_attributes: r.get("target-group-attributes", parse_string_map),
            healthcheck_port: r.get("healthcheck-port", parse_health_check_port),
            healthcheck_protocol: r.get("healthcheck-protocol", parse_health_check_protocol),
            healthcheck_path: r.get("healthcheck-path", ok_string),
            healthcheck_interval_seconds: r.get("healthcheck-interval-seconds", parse_i32),
            healthcheck_timeout_seconds: r.get("healthcheck-timeout-seconds", parse_i32),
            healthy_threshold_count: r.get("healthy-threshold-count", parse_i32),
            unhealthy_threshold_count: r.get("unhealthy-threshold-count", parse_i32),
            success_codes: r.get("success-codes", parse_success_codes),
            multi_cluster_target_group: r.get("multi-cluster-target-group", parse_bool),
            target_control_ports: r.family("target-control-port.", |param, raw| {
                Ok((
                    parse_target_control_key(param)?,
                    parse_target_control_port(raw)?,
                ))
            }),
            auth_type: r.get("auth-type", parse_enum),
            auth_idp_cognito: r.get("auth-idp-cognito", parse_cognito),
            auth_idp_oidc: r.get("auth-idp-oidc", parse_oidc),
            auth_on_unauthenticated_request: r.get("auth-on-unauthenticated-request", parse_enum),
            auth_scope: r.get("auth-scope", ok_string),
            auth_session_cookie: r.get("auth-session-cookie", ok_string),
            auth_session_timeout: r.get("auth-session-timeout", parse_i64),
            tags: r.get("tags", parse_tags),
        };
        r.finish(parsed)
    }

    /// The authentication to apply (`None` for `auth-type` none or absent), with upstream's
    /// defaults for scope, session cookie, session timeout and unauthenticated requests. An
    /// `auth-type` whose IdP annotation is missing is an error on that IdP key.
    pub fn auth(&self) -> Result<Option<AuthConfig>, AnnotationError> {
        let missing = |suffix: &str, kind: AuthType| AnnotationError {
            key: format!("{PREFIX}{suffix}"),
            message: format!("required when auth-type is {kind}"),
        };
        let idp = match self.auth_type.unwrap_or(AuthType::None) {
            AuthType::None => return Ok(None),
            AuthType::Cognito => AuthIdp::Cognito(
                self.auth_idp_cognito
                    .clone()
                    .ok_or_else(|| missing("auth-idp-cognito", AuthType::Cognito))?,
            ),
            AuthType::Oidc => AuthIdp::Oidc(
                self.auth_idp_oidc
                    .clone()
                    .ok_or_else(|| missing("auth-idp-oidc", AuthType::Oidc))?,
            ),
        };
        Ok(Some(AuthConfig {
            idp,
            on_unauthenticated_request: self
                .auth_on_unauthenticated_request
                .unwrap_or(OnUnauthenticatedRequest::Authenticate),
            scope: self
                .auth_scope
                .clone()
                .unwrap_or_else(|| DEFAULT_AUTH_SCOPE.to_owned()),
            session_cookie: self
                .auth_session_cookie
                .clone()
                .unwrap_or_else(|| DEFAULT_AUTH_SESSION_COOKIE.to_owned()),
            session_timeout: self
                .auth_session_timeout
                .unwrap_or(DEFAULT_AUTH_SESSION_TIMEOUT),
        }))
    }

    /// The target control port for a Service port, if annotated.
    pub fn target_control_port(&self, service: &str, port: u16) -> Option<u16> {
        self.target_control_ports
            .get(&ServicePortKey {
                service: service.to_owned(),
                port,
            })
            .copied()
    }
}

/// `backend-protocol`: `HTTP` or `HTTPS`.
pub fn parse_backend_protocol(raw: &str) -> Result<Protocol, String> {
    raw.parse()
        .map_err(|_| format!("backend protocol must be within [HTTP, HTTPS]: {raw}"))
}

/// `backend-protocol-version`: `HTTP1`, `HTTP2` or `GRPC`.
pub fn parse_backend_protocol_version(raw: &str) -> Result<ProtocolVersion, String> {
    raw.parse()
        .map_err(|_| format!("backend protocol version must be within [HTTP1, HTTP2, GRPC]: {raw}"))
}

/// `healthcheck-port`: `traffic-port`, a port number or a Service port name.
pub fn parse_health_check_port(raw: &str) -> Result<HealthCheckPort, String> {
    HealthCheckPort::parse(raw, true)
}

/// The `${svc}.${port}` part of a `target-control-port.` key.
pub fn parse_target_control_key(param: &str) -> Result<ServicePortKey, String> {
    let invalid = || {
        format!(
            "target control port key must be target-control-port.<service-name>.<port>, got target-control-port.{param}"
        )
    };
    let (service, port) = param.split_once('.').ok_or_else(invalid)?;
    let valid_service = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let port = strict_port(port)
        .filter(|_| valid_service)
        .ok_or_else(invalid)?;
    Ok(ServicePortKey {
        service: service.to_owned(),
        port,
    })
}

/// A `target-control-port.*` value: the agent port within [1, 65535].
pub fn parse_target_control_port(raw: &str) -> Result<u16, String> {
    parse_port(raw, "target control port")
}
