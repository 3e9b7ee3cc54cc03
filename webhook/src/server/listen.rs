//! The TLS listener: accept, handshake, serve HTTP/1.1 or HTTP/2, shut down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::tls::{self, CertReloader, TlsError, TlsSettings};

/// A client that has not finished the TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// An HTTP/1.1 client that has not sent its request headers by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 keep-alive pings on otherwise idle connections.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight before dropping their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Pause after an accept error that is not about one connection (e.g. out of file descriptors).
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Why the webhook server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("webhook serving certificate: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A listening socket with its certificate loaded; [`BoundServer::serve`] starts answering.
pub struct BoundServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    reloader: CertReloader,
    acceptor: TlsAcceptor,
    ready: watch::Sender<bool>,
}

/// Load the serving certificate and listen on `addr` (port 0 picks a free port).
///
/// Fails when the certificate cannot be loaded, so a misconfigured pod never reports ready.
pub async fn bind(addr: SocketAddr, settings: TlsSettings) -> Result<BoundServer, ServerError> {
    let reloader = CertReloader::load(settings, tls::crypto_provider())?;
    let acceptor = TlsAcceptor::from(Arc::new(reloader.server_config()?));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    let (ready, _) = watch::channel(false);
    Ok(BoundServer {
        listener,
        local_addr,
        reloader,
        acceptor,
        ready,
    })
}

/// Bind `addr` and serve `router` over TLS until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    settings: TlsSettings,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    bind(addr, settings).await?.serve(router, shutdown).await;
    Ok(())
}

impl BoundServer {
    /// The address actually bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `true` while the server accepts connections: from the start of [`BoundServer::serve`]
    /// until shutdown begins. Feed it to the `/ready` probe.
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// Answer requests with `router` until `shutdown` completes, then stop accepting, let
    /// requests in flight finish (up to a grace period) and return. Certificate reloads run
    /// for as long as this does.
    pub async fn serve(self, router: Router, shutdown: impl Future<Output = ()> + Send) {
        let BoundServer {
            listener,
            local_addr,
            reloader,
            acceptor,
            ready,
        } = self;
        let reload = AbortOnDrop(tokio::spawn(reloader.run()));
        let builder = Arc::new(http_builder());
        let service = TowerToHyperService::new(router);
        let graceful = GracefulShutdown::new();

        ready.send_replace(true);
        tracing::info!(%local_addr, "admission webhook listening");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tokio::spawn(serve_connection(
                            stream,
                            peer,
                            acceptor.clone(),
                            Arc::clone(&builder),
                            service.clone(),
                            graceful.watcher(),
                        ));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accepting a webhook connection failed");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }

        ready.send_replace(false);
        drop(listener);
        drop(reload);
        tracing::info!(
            connections = graceful.count(),
            "admission webhook shutting down"
        );
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("admission webhook connections still open after the grace period");
        }
    }
}

fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE_INTERVAL);
    builder
}

/// Handshake, then serve HTTP on one connection until the client closes it or shutdown.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: TowerToHyperService<Router>,
    watcher: Watcher,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "webhook TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "webhook TLS handshake timed out");
            return;
        }
    };
    let connection = builder.serve_connection(TokioIo::new(tls), service);
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%peer, %error, "webhook connection ended with an error");
    }
}

/// Aborts the task when dropped, so the certificate poller stops with the server.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
