//! The Service (NLB) model builder behind the controller's [`ServiceStackBuilder`]: the pure
//! [`model::service::build_service`] over the shared facts, with the Service's existing NLB
//! (scheme, subnets, security groups) read from AWS once and then followed from the stacks
//! built, and the backend security group obtained when the build needs it.

use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::api::core::v1::Service;

use contract::service::Selection;
use controller::backend_sg::BackendSecurityGroup;
use controller::backends::{BackendError, BoxFuture, ServiceStackBuilder};
use model::ClusterFacts;
use model::builder::ExistingLoadBalancer;
use model::service::{ServiceInputs, build_service, stack_id};
use model::stack::{Stack, StackKind};

use crate::adapters::KnownLoadBalancers;

/// Builds Services' stacks over facts that can be refreshed.
pub struct ServiceModelBuilder {
    facts: Arc<RwLock<ClusterFacts>>,
    selection: Selection,
    clients: Option<crate::AwsClients>,
    backend_security_group: Option<BackendSecurityGroup>,
    /// What each Service's NLB is (or is about to be, once its stack is deployed).
    known: KnownLoadBalancers<String>,
    /// The deployer whose resync snapshot answers first.
    prefetched: Option<crate::Deployer>,
}

impl ServiceModelBuilder {
    /// `facts` are shared with the Ingress builder (one refresh serves both).
    pub fn new(facts: Arc<RwLock<ClusterFacts>>, selection: Selection) -> Self {
        Self {
            facts,
            selection,
            clients: None,
            backend_security_group: None,
            known: KnownLoadBalancers::default(),
            prefetched: None,
        }
    }

    /// Takes a Service's existing NLB from `deployer`'s resync snapshot when that may serve the
    /// Service, before reading it.
    pub fn with_prefetched(mut self, deployer: crate::Deployer) -> Self {
        self.prefetched = Some(deployer);
        self
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
        self.known
            .get_or_read(id.to_owned(), self.clients.as_ref(), |clients| {
                crate::adapters::read_existing(
                    self.prefetched.as_ref(),
                    clients,
                    cluster,
                    StackKind::Service,
                    id,
                )
            })
            .await
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
            self.known.remember(stack.id.clone(), &stack);
            Ok(stack)
        })
    }
}
