//! The Service (NLB) model builder behind the controller's [`ServiceStackBuilder`]: the pure
//! [`model::service::build_service`] over the shared facts, with the Service's existing NLB
//! (scheme, subnets, security groups) read from AWS once and then followed from the stacks
//! built, and the backend security group obtained when the build needs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use k8s_openapi::api::core::v1::Service;

use contract::service::Selection;
use controller::backend_sg::BackendSecurityGroup;
use controller::backends::{BackendError, BoxFuture, ServiceStackBuilder};
use model::ClusterFacts;
use model::builder::ExistingLoadBalancer;
use model::service::{ServiceInputs, build_service, stack_id};
use model::stack::{Stack, StackKind, StringToken};

/// Builds Services' stacks over facts that can be refreshed.
pub struct ServiceModelBuilder {
    facts: Arc<RwLock<ClusterFacts>>,
    selection: Selection,
    clients: Option<crate::AwsClients>,
    backend_security_group: Option<BackendSecurityGroup>,
    /// What each Service's NLB is (or is about to be, once its stack is deployed).
    known: Mutex<HashMap<String, Option<ExistingLoadBalancer>>>,
}

impl ServiceModelBuilder {
    /// `facts` are shared with the Ingress builder (one refresh serves both).
    pub fn new(facts: Arc<RwLock<ClusterFacts>>, selection: Selection) -> Self {
        Self {
            facts,
            selection,
            clients: None,
            backend_security_group: None,
            known: Mutex::default(),
        }
    }

    /// Reads each Service's existing NLB from AWS the first time it is built.
    pub fn with_existing_load_balancers(mut self, clients: crate::AwsClients) -> Self {
        self.clients = Some(clients);
        self
    }

    /// Obtains the backend security group from `provider` when the facts have none.
    pub fn with_backend_security_group(mut self, provider: BackendSecurityGroup) -> Self {
        self.backend_security_group = Some(provider);
        self
    }

    async fn existing(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<Option<ExistingLoadBalancer>, BackendError> {
        if let Some(known) = self
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return Ok(known.clone());
        }
        let Some(clients) = &self.clients else {
            return Ok(None);
        };
        let found =
            crate::adapters::existing_load_balancer(clients, cluster, StackKind::Service, id)
                .await?;
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), found.clone());
        Ok(found)
    }

    /// Remembers the NLB a built stack describes (the deploy makes AWS match it).
    fn remember(&self, stack: &Stack) {
        let lb = stack
            .resources
            .load_balancers
            .values()
            .next()
            .map(|lb| ExistingLoadBalancer {
                scheme: lb.spec.scheme,
                subnet_ids: lb
                    .spec
                    .subnet_mappings
                    .iter()
                    .map(|m| m.subnet_id.clone())
                    .collect(),
                // A managed group not created yet is stood for by its reference.
                security_groups: lb
                    .spec
                    .security_groups
                    .iter()
                    .map(|token| match token {
                        StringToken::Literal(id) => id.clone(),
                        StringToken::Ref(r) => r.pointer(),
                    })
                    .collect(),
            });
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(stack.id.clone(), lb);
    }
}

impl ServiceStackBuilder for ServiceModelBuilder {
    fn build_service<'a>(
        &'a self,
        service: &'a Service,
    ) -> BoxFuture<'a, Result<Stack, BackendError>> {
        let mut facts = self
            .facts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Box::pin(async move {
            let ours = self.selection.is_supported(service);
            if ours
                && facts.enable_backend_security_group
                && facts.backend_security_group.is_none()
                && let Some(provider) = &self.backend_security_group
            {
                facts.backend_security_group = Some(provider.get().await?);
            }
            let id = stack_id(service);
            let existing = if ours {
                self.existing(&facts.cluster_name, &id).await?
            } else {
                None
            };
            let stack = build_service(&ServiceInputs {
                service,
                facts: &facts,
                selection: &self.selection,
                existing_lb: existing.as_ref(),
            })
            .map_err(|e| BackendError::new(e.category(), e.to_string()).with_source(e))?;
            self.remember(&stack);
            Ok(stack)
        })
    }
}
