//! Authentication annotations: `auth-*` (backend-scoped) and `jwt-validation` (Ingress).

use super::json::{Field, Shape, decode, leaf};
use super::primitives::string_enum;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

string_enum! {
    /// `auth-type`.
    pub enum AuthType as "authType" {
        None = "none",
        Oidc = "oidc",
        Cognito = "cognito",
    }
}

string_enum! {
    /// `auth-on-unauthenticated-request`.
    pub enum OnUnauthenticatedRequest as "auth-on-unauthenticated-request" {
        Authenticate = "authenticate",
        Allow = "allow",
        Deny = "deny",
    }
}

/// Upstream defaults for the authenticate actions.
pub const DEFAULT_AUTH_SCOPE: &str = "openid";
pub const DEFAULT_AUTH_SESSION_COOKIE: &str = "AWSELBAuthSessionCookie";
pub const DEFAULT_AUTH_SESSION_TIMEOUT: i64 = 604_800;

/// `auth-idp-cognito`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthIdpCognito {
    #[serde(rename = "userPoolARN", default)]
    pub user_pool_arn: String,
    #[serde(rename = "userPoolClientID", default)]
    pub user_pool_client_id: String,
    #[serde(rename = "userPoolDomain", default)]
    pub user_pool_domain: String,
    #[serde(
        rename = "authenticationRequestExtraParams",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authentication_request_extra_params: Option<BTreeMap<String, String>>,
}

/// `auth-idp-oidc`. The client id and secret come from the Secret `secretName` in the Ingress
/// namespace (keys `clientID` or legacy `clientId`, and `clientSecret`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthIdpOidc {
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: String,
    #[serde(default)]
    pub token_endpoint: String,
    #[serde(default)]
    pub user_info_endpoint: String,
    #[serde(default)]
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_request_extra_params: Option<BTreeMap<String, String>>,
}

const EXTRA_PARAMS: Field = Field {
    name: "authenticationRequestExtraParams",
    shape: Shape::Map(&Shape::Leaf),
};

const COGNITO: Shape = Shape::Struct(&[
    leaf("userPoolARN"),
    leaf("userPoolClientID"),
    leaf("userPoolDomain"),
    EXTRA_PARAMS,
]);

const OIDC: Shape = Shape::Struct(&[
    leaf("issuer"),
    leaf("authorizationEndpoint"),
    leaf("tokenEndpoint"),
    leaf("userInfoEndpoint"),
    leaf("secretName"),
    EXTRA_PARAMS,
]);

fn required(fields: &[(&str, &str)]) -> Result<(), String> {
    match fields.iter().find(|(_, value)| value.is_empty()) {
        Some((name, _)) => Err(format!("{name} is required")),
        None => Ok(()),
    }
}

/// Parses `auth-idp-cognito`; `userPoolARN`, `userPoolClientID` and `userPoolDomain` are required.
pub fn parse_cognito(raw: &str) -> Result<AuthIdpCognito, String> {
    let idp: AuthIdpCognito = decode(raw, &COGNITO)?;
    required(&[
        ("userPoolARN", &idp.user_pool_arn),
        ("userPoolClientID", &idp.user_pool_client_id),
        ("userPoolDomain", &idp.user_pool_domain),
    ])?;
    Ok(idp)
}

/// Parses `auth-idp-oidc`; the endpoints, issuer and `secretName` are required.
pub fn parse_oidc(raw: &str) -> Result<AuthIdpOidc, String> {
    let idp: AuthIdpOidc = decode(raw, &OIDC)?;
    required(&[
        ("issuer", &idp.issuer),
        ("authorizationEndpoint", &idp.authorization_endpoint),
        ("tokenEndpoint", &idp.token_endpoint),
        ("userInfoEndpoint", &idp.user_info_endpoint),
        ("secretName", &idp.secret_name),
    ])?;
    Ok(idp)
}

/// The identity provider of an authenticate action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthIdp {
    Cognito(AuthIdpCognito),
    Oidc(AuthIdpOidc),
}

/// A backend's authentication, resolved with upstream's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    pub idp: AuthIdp,
    pub on_unauthenticated_request: OnUnauthenticatedRequest,
    pub scope: String,
    pub session_cookie: String,
    pub session_timeout: i64,
}

/// JWT validation (Ingress) and authentication (backend) are mutually exclusive.
pub fn check_jwt_and_auth(
    jwt: Option<&JwtValidation>,
    auth: Option<&AuthConfig>,
) -> Result<(), String> {
    if jwt.is_some() && auth.is_some() {
        return Err("authentication and jwt validation can't both be configured".to_owned());
    }
    Ok(())
}

string_enum! {
    /// How a JWT claim's value is encoded.
    pub enum JwtClaimFormat as "claim format" {
        SingleString = "single-string",
        StringArray = "string-array",
        SpaceSeparatedValues = "space-separated-values",
    }
}

/// One additional claim a JWT must carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JwtClaim {
    pub format: JwtClaimFormat,
    pub name: String,
    pub values: Vec<String>,
}

/// `jwt-validation`: validate a bearer JWT before routing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtValidation {
    pub jwks_endpoint: String,
    pub issuer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_claims: Vec<JwtClaim>,
}

#[derive(Deserialize)]
struct RawJwtClaim {
    #[serde(default)]
    format: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawJwtValidation {
    #[serde(default)]
    jwks_endpoint: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    additional_claims: Vec<RawJwtClaim>,
}

const JWT: Shape = Shape::Struct(&[
    leaf("jwksEndpoint"),
    leaf("issuer"),
    Field {
        name: "additionalClaims",
        shape: Shape::List(&Shape::Struct(&[
            leaf("format"),
            leaf("name"),
            leaf("values"),
        ])),
    },
]);

fn validate_claim(raw: RawJwtClaim) -> Result<JwtClaim, String> {
    if raw.format.is_empty() {
        return Err("format is a required field for jwt validation additional claims".to_owned());
    }
    if raw.name.is_empty() {
        return Err("name is a required field for jwt validation additional claims".to_owned());
    }
    let format: JwtClaimFormat = raw
        .format
        .parse()
        .map_err(|e| format!("{e} for jwt validation additional claim {}", raw.name))?;
    if raw.values.is_empty() {
        return Err(format!(
            "values must not be empty for jwt validation additional claim {}",
            raw.name
        ));
    }
    Ok(JwtClaim {
        format,
        name: raw.name,
        values: raw.values,
    })
}

/// Parses and validates `jwt-validation`.
pub fn parse_jwt_validation(raw: &str) -> Result<JwtValidation, String> {
    let raw: RawJwtValidation = decode(raw, &JWT)?;
    if raw.jwks_endpoint.is_empty() {
        return Err("jwksEndpoint is a required field for jwt validation".to_owned());
    }
    if raw.issuer.is_empty() {
        return Err("issuer is a required field for jwt validation".to_owned());
    }
    Ok(JwtValidation {
        jwks_endpoint: raw.jwks_endpoint,
        issuer: raw.issuer,
        additional_claims: raw
            .additional_claims
            .into_iter()
            .map(validate_claim)
            .collect::<Result<_, _>>()?,
    })
}
