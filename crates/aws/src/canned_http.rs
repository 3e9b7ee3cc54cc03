//! Test HTTP clients: [`CannedHttp`] answers every request with one canned response and records
//! the URI and the time (tokio's clock) each request reached it; [`Scripted`] answers with
//! scripted responses in order and records each request's body.

use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct CannedHttp {
    body: &'static str,
    seen: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl CannedHttp {
    pub fn new(body: &'static str) -> Self {
        Self {
            body,
            seen: Arc::default(),
        }
    }

    pub fn shared(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }

    /// An SDK configuration (us-west-2, static test credentials) whose clients send through
    /// `client` — this one, or a wrapper around it.
    pub fn sdk_config(client: impl HttpClient + 'static) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-west-2"))
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                aws_sdk_ec2::config::Credentials::new("AKID", "SECRET", None, None, "test"),
            ))
            .http_client(client)
            .build()
    }

    /// `(uri, when)` of every request so far.
    pub fn seen(&self) -> Vec<(String, Instant)> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl HttpClient for CannedHttp {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for CannedHttp {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((request.uri().to_owned(), Instant::now()));
        let status = 200.try_into().expect("200 is a status code");
        let response = HttpResponse::new(status, SdkBody::from(self.body));
        HttpConnectorFuture::ready(Ok(response))
    }
}

/// A test HTTP client that answers with scripted `(status, body)` responses in order and
/// records the form body of each request.
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    pub answers: Arc<Mutex<Vec<(u16, &'static str)>>>,
    pub bodies: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    /// A client that answers these, in order.
    pub fn answering(answers: Vec<(u16, &'static str)>) -> Self {
        let scripted = Self::default();
        *scripted
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = answers;
        scripted
    }

    /// The form bodies of the requests so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl HttpClient for Scripted {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Scripted {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        self.bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(body);
        let (status, text) = self
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(0);
        let status = status.try_into().expect("a status code");
        HttpConnectorFuture::ready(Ok(HttpResponse::new(status, SdkBody::from(text))))
    }
}
