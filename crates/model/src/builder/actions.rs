//! Rule and default actions: authentication (Cognito, OIDC) or JWT validation first on HTTPS
//! listeners, then the backend's forward, redirect or fixed response.

use contract::annotations::{AuthType, OnUnauthenticatedRequest as AnnotationUnauthenticated};
use contract::annotations::{
    DEFAULT_AUTH_SCOPE, DEFAULT_AUTH_SESSION_COOKIE, DEFAULT_AUTH_SESSION_TIMEOUT,
};

use super::Task;
use super::backend::{BackendAction, EnhancedBackend, TupleTarget};
use super::errors::BuildError;
use crate::stack::{
    Action, AuthenticateCognitoConfig, AuthenticateOidcConfig, ForwardConfig, JwtClaim,
    JwtValidationConfig, OnUnauthenticatedRequest, Protocol, TargetGroupTuple,
};

fn to_unauthenticated(value: Option<AnnotationUnauthenticated>) -> OnUnauthenticatedRequest {
    match value {
        None | Some(AnnotationUnauthenticated::Authenticate) => {
            OnUnauthenticatedRequest::Authenticate
        }
        Some(AnnotationUnauthenticated::Allow) => OnUnauthenticatedRequest::Allow,
        Some(AnnotationUnauthenticated::Deny) => OnUnauthenticatedRequest::Deny,
    }
}

impl Task<'_> {
    /// The actions of a rule (or listener default) routing to `backend` on a listener with
    /// `protocol`.
    pub(crate) fn build_actions(
        &mut self,
        member_index: usize,
        protocol: Protocol,
        backend: &EnhancedBackend,
    ) -> Result<Vec<Action>, BuildError> {
        let mut actions = Vec::new();
        if protocol == Protocol::Https {
            let auth = self.auth_action(member_index, backend)?;
            let member = self.member(member_index)?;
            let jwt = member.parsed.jwt_validation.as_ref().map(|jwt| {
                Action::jwt_validation(JwtValidationConfig {
                    jwks_endpoint: jwt.jwks_endpoint.clone(),
                    issuer: jwt.issuer.clone(),
                    additional_claims: jwt
                        .additional_claims
                        .iter()
                        .map(|c| JwtClaim {
                            format: c.format.as_str().to_owned(),
                            name: c.name.clone(),
                            values: c.values.clone(),
                        })
                        .collect(),
                })
            });
            match (auth, jwt) {
                (Some(_), Some(_)) => {
                    return Err(BuildError::Auth {
                        ingress: member.key.clone(),
                        message: "authentication and jwt validation can't both be configured"
                            .to_owned(),
                    });
                }
                (Some(action), None) | (None, Some(action)) => actions.push(action),
                (None, None) => {}
            }
        }
        actions.push(self.backend_action(member_index, &backend.action)?);
        Ok(actions)
    }

    fn backend_action(
        &mut self,
        member_index: usize,
        action: &BackendAction,
    ) -> Result<Action, BuildError> {
        match action {
            BackendAction::FixedResponse(config) => Ok(Action::fixed_response(config.clone())),
            BackendAction::Redirect(config) => Ok(Action::redirect(config.clone())),
            BackendAction::Forward { tuples, stickiness } => {
                if tuples.len() > 1 && !self.facts.features.weighted_target_groups {
                    let member = self.member(member_index)?;
                    return Err(BuildError::rule(
                        &member.key,
                        "forwarding to several target groups needs the WeightedTargetGroups feature gate",
                    ));
                }
                let mut target_groups = Vec::with_capacity(tuples.len());
                for tuple in tuples {
                    let arn = match &tuple.target {
                        TupleTarget::Arn(arn) => arn.clone().into(),
                        TupleTarget::Name(name) => {
                            let member = self.member(member_index)?;
                            return Err(BuildError::rule(
                                &member.key,
                                format!(
                                    "forward to targetGroupName {name} needs its ARN looked up in AWS; give targetGroupARN instead"
                                ),
                            ));
                        }
                        TupleTarget::Service { name, port } => {
                            self.target_group(member_index, name, port)?.into()
                        }
                    };
                    target_groups.push(TargetGroupTuple {
                        target_group_arn: arn,
                        weight: tuple.weight,
                    });
                }
                Ok(Action::forward(ForwardConfig {
                    target_groups,
                    target_group_stickiness_config: stickiness.clone(),
                }))
            }
        }
    }

    /// The authenticate action of a backend, if `auth-type` asks for one. A forward to exactly
    /// one Service reads the auth annotations of that Service merged over the Ingress's.
    fn auth_action(
        &mut self,
        member_index: usize,
        backend: &EnhancedBackend,
    ) -> Result<Option<Action>, BuildError> {
        let namespace = self.member(member_index)?.namespace;
        let service = backend
            .action
            .single_service()
            .and_then(|name| self.service(namespace, name));
        let config = self.backend_annotations(member_index, service)?;
        if matches!(config.auth_type, None | Some(AuthType::None)) {
            return Ok(None);
        }
        let key = self.member(member_index)?.key.clone();
        let scope = config
            .auth_scope
            .clone()
            .unwrap_or_else(|| DEFAULT_AUTH_SCOPE.to_owned());
        let cookie = config
            .auth_session_cookie
            .clone()
            .unwrap_or_else(|| DEFAULT_AUTH_SESSION_COOKIE.to_owned());
        let timeout = config
            .auth_session_timeout
            .unwrap_or(DEFAULT_AUTH_SESSION_TIMEOUT);
        let on_unauthenticated = to_unauthenticated(config.auth_on_unauthenticated_request);
        match config.auth_type {
            None | Some(AuthType::None) => Ok(None),
            Some(AuthType::Cognito) => {
                let Some(idp) = &config.auth_idp_cognito else {
                    return Err(BuildError::Auth {
                        ingress: key,
                        message: format!(
                            "{}auth-idp-cognito is required when auth-type is cognito",
                            contract::annotations::PREFIX
                        ),
                    });
                };
                Ok(Some(Action::authenticate_cognito(
                    AuthenticateCognitoConfig {
                        user_pool_arn: idp.user_pool_arn.clone(),
                        user_pool_client_id: idp.user_pool_client_id.clone(),
                        user_pool_domain: idp.user_pool_domain.clone(),
                        authentication_request_extra_params: idp
                            .authentication_request_extra_params
                            .clone()
                            .unwrap_or_default(),
                        on_unauthenticated_request: Some(on_unauthenticated),
                        scope: Some(scope),
                        session_cookie_name: Some(cookie),
                        session_timeout: Some(timeout),
                    },
                )))
            }
            Some(AuthType::Oidc) => {
                let Some(idp) = &config.auth_idp_oidc else {
                    return Err(BuildError::Auth {
                        ingress: key,
                        message: format!(
                            "{}auth-idp-oidc is required when auth-type is oidc",
                            contract::annotations::PREFIX
                        ),
                    });
                };
                let (client_id, client_secret) =
                    self.oidc_credentials(&key, namespace, &idp.secret_name)?;
                Ok(Some(Action::authenticate_oidc(AuthenticateOidcConfig {
                    issuer: idp.issuer.clone(),
                    authorization_endpoint: idp.authorization_endpoint.clone(),
                    token_endpoint: idp.token_endpoint.clone(),
                    user_info_endpoint: idp.user_info_endpoint.clone(),
                    client_id,
                    client_secret,
                    authentication_request_extra_params: idp
                        .authentication_request_extra_params
                        .clone()
                        .unwrap_or_default(),
                    on_unauthenticated_request: Some(on_unauthenticated),
                    scope: Some(scope),
                    session_cookie_name: Some(cookie),
                    session_timeout: Some(timeout),
                })))
            }
        }
    }

    /// `clientID` (or legacy `clientId`) and `clientSecret` of the OIDC Secret.
    fn oidc_credentials(
        &self,
        ingress: &str,
        namespace: &str,
        secret_name: &str,
    ) -> Result<(String, String), BuildError> {
        let auth_error = |message: String| BuildError::Auth {
            ingress: ingress.to_owned(),
            message,
        };
        let secret = self
            .secrets
            .get(&(namespace.to_owned(), secret_name.to_owned()))
            .ok_or_else(|| {
                auth_error(format!(
                    "secrets \"{secret_name}\" not found in namespace {namespace}"
                ))
            })?;
        let value = |key: &str| -> Option<String> {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                .or_else(|| {
                    secret
                        .string_data
                        .as_ref()
                        .and_then(|d| d.get(key))
                        .cloned()
                })
        };
        let client_id = value("clientID")
            .or_else(|| value("clientId"))
            .ok_or_else(|| {
                auth_error(format!(
                    "missing clientID, secret: {namespace}/{secret_name}"
                ))
            })?;
        let client_secret = value("clientSecret").ok_or_else(|| {
            auth_error(format!(
                "missing clientSecret, secret: {namespace}/{secret_name}"
            ))
        })?;
        Ok((client_id.trim_end().to_owned(), client_secret))
    }
}
