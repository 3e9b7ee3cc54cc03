//! ELBv2 clients in the account of a role to assume (`iamRoleArnToAssume`, with
//! `assumeRoleExternalId`), made once per role and external ID and kept: the target group
//! lookups of the TargetGroupBinding webhooks and the target registrar share this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_elasticloadbalancingv2::Client as Elbv2;
use aws_sdk_elasticloadbalancingv2::config::SharedCredentialsProvider;

use crate::AwsClients;
pub use controller::backends::AssumeRole;

/// The session name of roles assumed for `iamRoleArnToAssume`.
const SESSION_NAME: &str = "aws-load-balancer-controller";

/// The controller's own ELBv2 client, or one with the assumed role's credentials.
#[derive(Clone)]
pub struct AssumedRoles {
    clients: AwsClients,
    cache: Arc<Mutex<HashMap<AssumeRole, Elbv2>>>,
}

impl AssumedRoles {
    pub fn new(clients: AwsClients) -> Self {
        Self {
            clients,
            cache: Arc::default(),
        }
    }

    /// The client to reach a target group in `role`'s account (ours when `None`). Its calls
    /// are counted, and pass the leader write gate, like every other client's.
    pub async fn elbv2(&self, role: Option<&AssumeRole>) -> Elbv2 {
        let Some(role) = role else {
            return self.clients.elbv2.clone();
        };
        if let Some(client) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(role)
        {
            return client.clone();
        }
        let sdk = self.clients.sdk_config();
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
            .session_name(SESSION_NAME)
            .configure(sdk);
        if let Some(external_id) = &role.external_id {
            provider = provider.external_id(external_id);
        }
        let config = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
            .credentials_provider(SharedCredentialsProvider::new(provider.build().await))
            .interceptor(self.clients.calls().interceptor())
            .build();
        let client = Elbv2::from_conf(config);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(role.clone(), client.clone());
        client
    }
}

impl std::fmt::Debug for AssumedRoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let roles: Vec<String> = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .map(|r| r.role_arn.clone())
            .collect();
        f.debug_struct("AssumedRoles")
            .field("roles", &roles)
            .finish()
    }
}
