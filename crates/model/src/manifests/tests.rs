//! Reading manifests: kinds, errors and Secrets.

use super::*;

#[test]
fn reads_multi_document_streams_by_kind() {
    let text = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: alb}
spec: {controller: ingress.k8s.aws/alb}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec: {ports: [{port: 80}]}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
---
"#;
    let mut m = Manifests::default();
    m.add_documents(Path::new("test.yaml"), text)
        .expect("valid stream");
    assert_eq!(m.ingress_classes.len(), 1);
    assert_eq!(m.services.len(), 1);
    assert_eq!(m.skipped, vec!["ConfigMap".to_string()]);
}

#[test]
fn errors_name_file_document_and_object() {
    let text = "kind: Service\nmetadata: {name: a}\n---\nkind: Ingress\nmetadata: {name: web}\nspec: {rules: oops}\n";
    let err = Manifests::default()
        .add_documents(Path::new("bad.yaml"), text)
        .expect_err("spec.rules is not a list");
    let message = err.to_string();
    assert!(
        message.starts_with("bad.yaml: document 1: Ingress web: "),
        "{message}"
    );
}

#[test]
fn a_document_without_kind_is_an_error() {
    let err = Manifests::default()
        .add_documents(Path::new("x.yaml"), "metadata: {name: a}\n")
        .expect_err("no kind");
    assert_eq!(err.to_string(), "x.yaml: document 0: document has no kind");
}

/// `clientID: my-client`, `clientSecret: s3cr3t-from-data`, base64-encoded.
const DATA_SECRET: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: oidc, namespace: shop}
type: Opaque
data:
  clientID: bXktY2xpZW50
  clientSecret: czNjcjN0LWZyb20tZGF0YQ==
"#;

fn load(text: &str) -> Result<Manifests, ManifestError> {
    let mut manifests = Manifests::default();
    manifests.add_documents(Path::new("secrets.yaml"), text)?;
    Ok(manifests)
}

fn value<'a>(manifests: &'a Manifests, namespace: &str, name: &str, key: &str) -> Option<&'a [u8]> {
    manifests
        .secrets
        .get(&(namespace.to_owned(), name.to_owned()))?
        .data
        .as_ref()?
        .get(key)
        .map(|b| b.0.as_slice())
}

#[test]
fn secret_data_is_decoded_from_base64() {
    let m = load(DATA_SECRET).expect("valid Secret");
    assert_eq!(m.secrets.len(), 1);
    assert_eq!(
        value(&m, "shop", "oidc", "clientID"),
        Some(&b"my-client"[..])
    );
    assert_eq!(
        value(&m, "shop", "oidc", "clientSecret"),
        Some(&b"s3cr3t-from-data"[..])
    );
    let secret = m
        .secrets
        .get(&("shop".to_owned(), "oidc".to_owned()))
        .expect("keyed by namespace and name");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert!(secret.string_data.is_none());
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
}

#[test]
fn secret_string_data_is_kept_as_bytes_in_the_default_namespace() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: plain}\nstringData: {clientID: abc, clientSecret: 'x y'}\n";
    let m = load(text).expect("valid Secret");
    assert_eq!(value(&m, "default", "plain", "clientID"), Some(&b"abc"[..]));
    assert_eq!(
        value(&m, "default", "plain", "clientSecret"),
        Some(&b"x y"[..])
    );
    let secret = m
        .secrets
        .get(&("default".to_owned(), "plain".to_owned()))
        .expect("present");
    assert_eq!(secret.metadata.namespace.as_deref(), Some("default"));
    assert!(secret.string_data.is_none());
}

#[test]
fn secret_string_data_is_merged_over_data() {
    let text = format!("{DATA_SECRET}stringData: {{clientSecret: from-string-data, extra: e}}\n");
    let m = load(&text).expect("valid Secret");
    assert_eq!(
        value(&m, "shop", "oidc", "clientID"),
        Some(&b"my-client"[..])
    );
    assert_eq!(
        value(&m, "shop", "oidc", "clientSecret"),
        Some(&b"from-string-data"[..])
    );
    assert_eq!(value(&m, "shop", "oidc", "extra"), Some(&b"e"[..]));
}

#[test]
fn a_later_secret_document_replaces_an_earlier_one() {
    let text = format!(
        "{DATA_SECRET}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: oidc, namespace: shop}}\nstringData: {{clientID: second}}\n"
    );
    let m = load(&text).expect("valid Secrets");
    assert_eq!(m.secrets.len(), 1);
    assert_eq!(value(&m, "shop", "oidc", "clientID"), Some(&b"second"[..]));
    assert_eq!(value(&m, "shop", "oidc", "clientSecret"), None);
}

#[test]
fn bad_base64_names_the_secret_and_key_but_not_the_value() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: oidc, namespace: shop}\ndata: {clientID: bXktY2xpZW50, clientSecret: 'hunter2!'}\n";
    let err = load(text).expect_err("not base64");
    let message = err.to_string();
    assert_eq!(
        message,
        "secrets.yaml: document 0: Secret shop/oidc: data.clientSecret is not valid base64"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn non_string_secret_values_are_refused_by_key() {
    let err = load("kind: Secret\nmetadata: {name: s}\nstringData: {port: 8080}\n")
        .expect_err("a number");
    assert_eq!(
        err.to_string(),
        "secrets.yaml: document 0: Secret default/s: stringData.port must be a string"
    );
    let err =
        load("kind: Secret\nmetadata: {name: s, namespace: n}\ndata: [a]\n").expect_err("a list");
    assert_eq!(
        err.to_string(),
        "secrets.yaml: document 0: Secret n/s: data must be a map of strings"
    );
    let err = load("kind: Secret\nmetadata: {namespace: n}\n").expect_err("no name");
    assert_eq!(
        err.to_string(),
        "secrets.yaml: document 0: Secret has no metadata.name"
    );
}

#[test]
fn debug_lists_secrets_by_name_only() {
    let m = load(DATA_SECRET).expect("valid Secret");
    let debug = format!("{m:?}");
    assert!(debug.contains("\"shop/oidc\""), "{debug}");
    // Neither the decoded bytes nor the base64 text appear.
    for needle in ["czNjcjN0", "115, 51, 99", "s3cr3t"] {
        assert!(!debug.contains(needle), "{needle} in {debug}");
    }
}

/// The loaded Secrets are what the builder reads: the OIDC action carries the merged values.
#[test]
fn the_builder_reads_loaded_secrets() {
    use crate::ClusterFacts;
    use crate::builder::{self, GroupInputs, Member};
    use crate::group::GroupId;

    let text = format!(
        r#"{DATA_SECRET}stringData: {{clientSecret: merged-secret}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  annotations:
    alb.ingress.kubernetes.io/listen-ports: '[{{"HTTPS": 443}}]'
    alb.ingress.kubernetes.io/certificate-arn: arn:aws:acm:us-west-2:111122223333:certificate/one
    alb.ingress.kubernetes.io/auth-type: oidc
    alb.ingress.kubernetes.io/auth-idp-oidc: '{{"issuer":"https://idp","authorizationEndpoint":"https://idp/auth","tokenEndpoint":"https://idp/token","userInfoEndpoint":"https://idp/user","secretName":"oidc"}}'
spec:
  defaultBackend: {{service: {{name: web, port: {{number: 80}}}}}}
---
kind: ClusterFacts
backendSecurityGroup: sg-0backend
subnets:
  - {{id: subnet-a, az: us-west-2a, vpcId: vpc-1, availableIps: 250, tags: {{kubernetes.io/role/internal-elb: "1"}}}}
  - {{id: subnet-b, az: us-west-2b, vpcId: vpc-1, availableIps: 250, tags: {{kubernetes.io/role/internal-elb: "1"}}}}
"#
    );
    let m = load(&text).expect("valid manifests");
    let facts = crate::facts::overlay(&ClusterFacts::new("demo", "vpc-1"), &m.cluster_facts)
        .expect("valid facts");
    let ingress = m.ingresses.first().expect("one Ingress");
    let services = builder::ObjectMap::new();
    let inputs = GroupInputs {
        group: GroupId::implicit("shop".to_owned(), "web".to_owned()),
        members: vec![Member {
            ingress,
            params: None,
        }],
        inactive_members: Vec::new(),
        services: &services,
        secrets: &m.secrets,
        facts: &facts,
        existing_lb: None,
    };
    let stack = builder::build(&inputs).expect("builds with the loaded Secret");
    let auth = stack
        .resources
        .listeners
        .get("443")
        .and_then(|l| l.spec.default_actions.first())
        .and_then(|a| a.authenticate_oidc_config.clone())
        .expect("the HTTPS listener authenticates first");
    assert_eq!(auth.client_id, "my-client");
    assert_eq!(auth.client_secret, "merged-secret");

    let empty = builder::ObjectMap::new();
    let err = builder::build(&GroupInputs {
        secrets: &empty,
        ..inputs.clone()
    })
    .expect_err("no Secret");
    assert!(
        err.to_string()
            .contains("secrets \"oidc\" not found in namespace shop"),
        "{err}"
    );
}
