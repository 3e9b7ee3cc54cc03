//! Actions, conditions and transforms of listeners and rules, in the ELBv2 API's shape. The
//! model builder converts the annotation parser's types into these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ActionType, OnUnauthenticatedRequest, RuleConditionField, StringToken, TransformType};

/// A listener or rule action, in the ELBv2 API's shape: `action_type` says which config is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(rename = "type")]
    pub action_type: ActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticate_cognito_config: Option<AuthenticateCognitoConfig>,
    #[serde(
        rename = "authenticateOIDCConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authenticate_oidc_config: Option<AuthenticateOidcConfig>,
    #[serde(
        rename = "jwtValidationConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub jwt_validation_config: Option<JwtValidationConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_response_config: Option<FixedResponseConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_config: Option<RedirectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_config: Option<ForwardConfig>,
}

impl Action {
    fn bare(action_type: ActionType) -> Self {
        Self {
            action_type,
            authenticate_cognito_config: None,
            authenticate_oidc_config: None,
            jwt_validation_config: None,
            fixed_response_config: None,
            redirect_config: None,
            forward_config: None,
        }
    }

    pub fn forward(config: ForwardConfig) -> Self {
        Self {
            forward_config: Some(config),
            ..Self::bare(ActionType::Forward)
        }
    }

    /// Forward everything to one target group.
    pub fn forward_to(target_group_arn: impl Into<StringToken>) -> Self {
        Self::forward(ForwardConfig {
            target_groups: vec![TargetGroupTuple {
                target_group_arn: target_group_arn.into(),
                weight: None,
            }],
            target_group_stickiness_config: None,
        })
    }

    pub fn fixed_response(config: FixedResponseConfig) -> Self {
        Self {
            fixed_response_config: Some(config),
            ..Self::bare(ActionType::FixedResponse)
        }
    }

    pub fn redirect(config: RedirectConfig) -> Self {
        Self {
            redirect_config: Some(config),
            ..Self::bare(ActionType::Redirect)
        }
    }

    pub fn authenticate_cognito(config: AuthenticateCognitoConfig) -> Self {
        Self {
            authenticate_cognito_config: Some(config),
            ..Self::bare(ActionType::AuthenticateCognito)
        }
    }

    pub fn authenticate_oidc(config: AuthenticateOidcConfig) -> Self {
        Self {
            authenticate_oidc_config: Some(config),
            ..Self::bare(ActionType::AuthenticateOidc)
        }
    }

    pub fn jwt_validation(config: JwtValidationConfig) -> Self {
        Self {
            jwt_validation_config: Some(config),
            ..Self::bare(ActionType::JwtValidation)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateCognitoConfig {
    #[serde(rename = "userPoolARN")]
    pub user_pool_arn: String,
    #[serde(rename = "userPoolClientID")]
    pub user_pool_client_id: String,
    pub user_pool_domain: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authentication_request_extra_params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_unauthenticated_request: Option<OnUnauthenticatedRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cookie_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<i64>,
}

/// OIDC settings. The client credentials come from a Secret: like upstream, they serialise as
/// `[REDACTED]` so that logged or printed stacks never show them (the deployer uses the
/// in-memory value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateOidcConfig {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub user_info_endpoint: String,
    #[serde(rename = "clientID", serialize_with = "serialize_redacted")]
    pub client_id: String,
    #[serde(serialize_with = "serialize_redacted")]
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authentication_request_extra_params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_unauthenticated_request: Option<OnUnauthenticatedRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cookie_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<i64>,
}

/// What a redacted credential reads as.
pub const REDACTED: &str = "[REDACTED]";

fn serialize_redacted<S: serde::Serializer>(_: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(REDACTED)
}

impl AuthenticateOidcConfig {
    /// A copy with the client ID and secret replaced by `[REDACTED]`, for logs and plans.
    pub fn redacted(&self) -> Self {
        Self {
            client_id: REDACTED.to_owned(),
            client_secret: REDACTED.to_owned(),
            ..self.clone()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtValidationConfig {
    pub jwks_endpoint: String,
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_claims: Vec<JwtClaim>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtClaim {
    /// `single-string`, `string-array` or `space-separated-values`.
    pub format: String,
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedResponseConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
    pub status_code: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `HTTP_301` or `HTTP_302`.
    pub status_code: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardConfig {
    pub target_groups: Vec<TargetGroupTuple>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_stickiness_config: Option<TargetGroupStickinessConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupTuple {
    #[serde(rename = "targetGroupARN")]
    pub target_group_arn: StringToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupStickinessConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i32>,
}

/// A rule condition, in the ELBv2 API's shape: `field` says which config is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleCondition {
    pub field: RuleConditionField,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header_config: Option<ValuesConfig>,
    #[serde(
        rename = "httpHeaderConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_header_config: Option<HttpHeaderConfig>,
    #[serde(
        rename = "httpRequestMethodConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_request_method_config: Option<ValuesConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_pattern_config: Option<ValuesConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_config: Option<QueryStringConfig>,
    #[serde(
        rename = "sourceIPConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_ip_config: Option<ValuesConfig>,
}

impl RuleCondition {
    fn bare(field: RuleConditionField) -> Self {
        Self {
            field,
            host_header_config: None,
            http_header_config: None,
            http_request_method_config: None,
            path_pattern_config: None,
            query_string_config: None,
            source_ip_config: None,
        }
    }

    pub fn host_header(config: ValuesConfig) -> Self {
        Self {
            host_header_config: Some(config),
            ..Self::bare(RuleConditionField::HostHeader)
        }
    }

    pub fn path_pattern(config: ValuesConfig) -> Self {
        Self {
            path_pattern_config: Some(config),
            ..Self::bare(RuleConditionField::PathPattern)
        }
    }

    pub fn http_header(config: HttpHeaderConfig) -> Self {
        Self {
            http_header_config: Some(config),
            ..Self::bare(RuleConditionField::HttpHeader)
        }
    }

    pub fn http_request_method(config: ValuesConfig) -> Self {
        Self {
            http_request_method_config: Some(config),
            ..Self::bare(RuleConditionField::HttpRequestMethod)
        }
    }

    pub fn query_string(config: QueryStringConfig) -> Self {
        Self {
            query_string_config: Some(config),
            ..Self::bare(RuleConditionField::QueryString)
        }
    }

    pub fn source_ip(config: ValuesConfig) -> Self {
        Self {
            source_ip_config: Some(config),
            ..Self::bare(RuleConditionField::SourceIp)
        }
    }
}

/// Values (globs) or regex values of a host, path, method or source-IP condition. Host and
/// path conditions take exactly one of the two; the others only `values`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValuesConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regex_values: Vec<String>,
}

impl ValuesConfig {
    pub fn values<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Self {
        Self {
            values: values.into_iter().map(Into::into).collect(),
            regex_values: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeaderConfig {
    #[serde(rename = "httpHeaderName")]
    pub http_header_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regex_values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStringConfig {
    pub values: Vec<QueryStringKeyValue>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStringKeyValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

/// A request rewrite applied by a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transform {
    #[serde(rename = "type")]
    pub transform_type: TransformType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header_rewrite_config: Option<RewriteConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_rewrite_config: Option<RewriteConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewriteConfig {
    pub rewrites: Vec<Rewrite>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rewrite {
    pub regex: String,
    pub replace: String,
}
