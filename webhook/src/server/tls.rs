//! Serving certificate: loading from the mounted Secret, and reloading when it is rotated.
//!
//! Kubernetes mounts a Secret as `<dir>/tls.crt -> ..data/tls.crt`, and rotates it by pointing
//! the `..data` symlink at a new directory. File-system notifications on the file paths miss
//! that swap, so [`CertReloader`] polls the file *contents* instead and swaps the certificate in
//! a [`ReloadingResolver`] that every TLS handshake consults. A new pair that does not load
//! (half-written, corrupt, key not matching the certificate) is logged and the old pair kept.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, version};

/// Where upstream's Helm chart mounts the webhook serving certificate.
pub const DEFAULT_CERT_DIR: &str = "/tmp/k8s-webhook-server/serving-certs";
/// Default certificate file name in the cert dir (`--webhook-cert-file`).
pub const DEFAULT_CERT_FILE: &str = "tls.crt";
/// Default key file name in the cert dir (`--webhook-key-file`).
pub const DEFAULT_KEY_FILE: &str = "tls.key";
/// Default interval between two checks of the mounted files.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Where the serving certificate lives and how often to look for a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// `--webhook-cert-dir`.
    pub cert_dir: PathBuf,
    /// `--webhook-cert-file`: PEM certificate chain, leaf first, relative to `cert_dir`.
    pub cert_file: String,
    /// `--webhook-key-file`: PEM private key (PKCS#8, PKCS#1 or SEC1), relative to `cert_dir`.
    pub key_file: String,
    /// How often the files are re-read; must be non-zero.
    pub reload_interval: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert_dir: PathBuf::from(DEFAULT_CERT_DIR),
            cert_file: DEFAULT_CERT_FILE.to_string(),
            key_file: DEFAULT_KEY_FILE.to_string(),
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }
}

impl TlsSettings {
    /// Settings for `cert_dir` with the default file names and interval.
    pub fn in_dir(cert_dir: impl Into<PathBuf>) -> Self {
        TlsSettings {
            cert_dir: cert_dir.into(),
            ..TlsSettings::default()
        }
    }

    pub fn cert_path(&self) -> PathBuf {
        self.cert_dir.join(&self.cert_file)
    }

    pub fn key_path(&self) -> PathBuf {
        self.cert_dir.join(&self.key_file)
    }
}

/// Why the serving certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds no PEM `CERTIFICATE` block: {source}", path.display())]
    NoCertificate {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {source}", path.display())]
    NoPrivateKey {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("certificate {} and key {} do not form a usable pair: {source}", cert.display(), key.display())]
    InvalidPair {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot build the TLS server configuration: {0}")]
    Config(#[source] rustls::Error),
    #[error("certificate reload interval must be greater than zero")]
    ZeroReloadInterval,
}

/// The crypto provider the webhook uses: aws-lc-rs, independent of any process default.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Parse a PEM certificate chain and private key into a pair ready for handshakes.
///
/// Fails when either is missing or malformed, the certificate does not parse, or the key does
/// not belong to the leaf certificate.
pub fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|chain| {
            if chain.is_empty() {
                Err(rustls::pki_types::pem::Error::NoItemsFound)
            } else {
                Ok(chain)
            }
        })
        .map_err(|source| TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
            source,
        })?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| TlsError::NoPrivateKey {
        path: key_path.to_path_buf(),
        source,
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::InvalidPair {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        source,
    })
}

/// Hands the current certificate to every TLS handshake; the certificate can be swapped at any
/// time without disturbing established connections.
pub struct ReloadingResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingResolver").finish_non_exhaustive()
    }
}

impl ReloadingResolver {
    pub fn new(initial: Arc<CertifiedKey>) -> Self {
        ReloadingResolver {
            current: RwLock::new(initial),
        }
    }

    /// The certificate handshakes currently get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Serve `next` to every handshake from now on.
    pub fn replace(&self, next: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// What one look at the mounted files found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The files hold what is being served (or the same bad pair as last time).
    Unchanged,
    /// A new pair was loaded and is now served.
    Reloaded,
}

/// Loads the serving certificate from files and keeps a [`ReloadingResolver`] up to date.
#[derive(Debug)]
pub struct CertReloader {
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    resolver: Arc<ReloadingResolver>,
    /// File contents (cert, key) of the pair being served.
    served: (Vec<u8>, Vec<u8>),
    /// File contents of the last pair that failed to load, so it is reported only once.
    rejected: Option<(Vec<u8>, Vec<u8>)>,
}

impl CertReloader {
    /// Load the pair named by `settings`; fails if it cannot be served.
    pub fn load(settings: TlsSettings, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        if settings.reload_interval.is_zero() {
            return Err(TlsError::ZeroReloadInterval);
        }
        let (cert, key) = read_files(&settings)?;
        let pair = parse_pair(
            &cert,
            &key,
            &settings.cert_path(),
            &settings.key_path(),
            &provider,
        )?;
        Ok(CertReloader {
            resolver: Arc::new(ReloadingResolver::new(Arc::new(pair))),
            settings,
            provider,
            served: (cert, key),
            rejected: None,
        })
    }

    pub fn resolver(&self) -> Arc<ReloadingResolver> {
        Arc::clone(&self.resolver)
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// A server configuration for the webhook: TLS 1.3 and 1.2 only, ALPN `h2` and `http/1.1`,
    /// no client authentication, certificate from this reloader's resolver.
    pub fn server_config(&self) -> Result<ServerConfig, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&version::TLS13, &version::TLS12])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(self.resolver());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Read the files once; serve their pair if it differs from the served one and loads.
    ///
    /// An error means the files changed but the new pair cannot be served; the old pair stays.
    /// The same bad contents are reported once, then count as [`ReloadOutcome::Unchanged`].
    pub fn check(&mut self) -> Result<ReloadOutcome, TlsError> {
        let (cert, key) = read_files(&self.settings)?;
        if self.served.0 == cert && self.served.1 == key {
            self.rejected = None;
            return Ok(ReloadOutcome::Unchanged);
        }
        if let Some((bad_cert, bad_key)) = &self.rejected
            && *bad_cert == cert
            && *bad_key == key
        {
            return Ok(ReloadOutcome::Unchanged);
        }
        match parse_pair(
            &cert,
            &key,
            &self.settings.cert_path(),
            &self.settings.key_path(),
            &self.provider,
        ) {
            Ok(pair) => {
                self.resolver.replace(Arc::new(pair));
                self.served = (cert, key);
                self.rejected = None;
                Ok(ReloadOutcome::Reloaded)
            }
            Err(error) => {
                self.rejected = Some((cert, key));
                Err(error)
            }
        }
    }

    /// Check the files every `reload_interval`, forever; logs reloads and failures.
    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.settings.reload_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once; the pair was just loaded.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match self.check() {
                Ok(ReloadOutcome::Unchanged) => {}
                Ok(ReloadOutcome::Reloaded) => tracing::info!(
                    cert = %self.settings.cert_path().display(),
                    "reloaded webhook serving certificate"
                ),
                Err(error) => tracing::warn!(
                    %error,
                    "new webhook serving certificate not loaded; still serving the previous one"
                ),
            }
        }
    }
}

fn read_files(settings: &TlsSettings) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read =
        |path: PathBuf| std::fs::read(&path).map_err(|source| TlsError::Read { path, source });
    Ok((read(settings.cert_path())?, read(settings.key_path())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    struct Pem {
        cert: String,
        key: String,
        der: Vec<u8>,
    }

    fn self_signed(name: &str) -> Pem {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    fn write(dir: &Path, pem: &Pem) {
        std::fs::write(dir.join(DEFAULT_CERT_FILE), &pem.cert).unwrap();
        std::fs::write(dir.join(DEFAULT_KEY_FILE), &pem.key).unwrap();
    }

    fn served_der(reloader: &CertReloader) -> Vec<u8> {
        reloader.resolver().current().cert[0].to_vec()
    }

    fn settings(dir: &Path) -> TlsSettings {
        TlsSettings {
            reload_interval: Duration::from_millis(50),
            ..TlsSettings::in_dir(dir)
        }
    }

    #[test]
    fn loads_and_reloads_on_content_change() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (self_signed("a.example"), self_signed("b.example"));
        write(dir.path(), &a);
        let mut reloader = CertReloader::load(settings(dir.path()), crypto_provider()).unwrap();
        assert_eq!(served_der(&reloader), a.der);
        assert_eq!(reloader.check().unwrap(), ReloadOutcome::Unchanged);

        write(dir.path(), &b);
        assert_eq!(reloader.check().unwrap(), ReloadOutcome::Reloaded);
        assert_eq!(served_der(&reloader), b.der);
        assert_eq!(reloader.check().unwrap(), ReloadOutcome::Unchanged);
    }

    #[test]
    fn bad_new_pair_keeps_the_old_one_and_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (self_signed("a.example"), self_signed("b.example"));
        write(dir.path(), &a);
        let mut reloader = CertReloader::load(settings(dir.path()), crypto_provider()).unwrap();

        // B's certificate with A's key: a half-finished rotation.
        std::fs::write(dir.path().join(DEFAULT_CERT_FILE), &b.cert).unwrap();
        let err = reloader.check().unwrap_err();
        assert!(matches!(err, TlsError::InvalidPair { .. }), "{err}");
        assert_eq!(served_der(&reloader), a.der);
        assert_eq!(reloader.check().unwrap(), ReloadOutcome::Unchanged);

        // Corrupt certificate file.
        std::fs::write(dir.path().join(DEFAULT_CERT_FILE), "not a certificate").unwrap();
        let err = reloader.check().unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        assert!(err.to_string().contains("tls.crt"), "{err}");
        assert_eq!(served_der(&reloader), a.der);

        // The rotation completes: B is served.
        write(dir.path(), &b);
        assert_eq!(reloader.check().unwrap(), ReloadOutcome::Reloaded);
        assert_eq!(served_der(&reloader), b.der);
    }

    #[test]
    fn missing_files_fail_at_load_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = CertReloader::load(settings(dir.path()), crypto_provider()).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }));
        assert!(err.to_string().contains("tls.crt"), "{err}");

        let a = self_signed("a.example");
        std::fs::write(dir.path().join(DEFAULT_CERT_FILE), &a.cert).unwrap();
        std::fs::write(dir.path().join(DEFAULT_KEY_FILE), "garbage").unwrap();
        let err = CertReloader::load(settings(dir.path()), crypto_provider()).unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
    }

    #[test]
    fn custom_file_names_and_zero_interval() {
        let dir = tempfile::tempdir().unwrap();
        let a = self_signed("a.example");
        std::fs::write(dir.path().join("cert.pem"), &a.cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), &a.key).unwrap();
        let named = TlsSettings {
            cert_file: "cert.pem".to_string(),
            key_file: "key.pem".to_string(),
            ..settings(dir.path())
        };
        let reloader = CertReloader::load(named.clone(), crypto_provider()).unwrap();
        assert_eq!(served_der(&reloader), a.der);
        let config = reloader.server_config().unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );

        let zero = TlsSettings {
            reload_interval: Duration::ZERO,
            ..named
        };
        assert!(matches!(
            CertReloader::load(zero, crypto_provider()),
            Err(TlsError::ZeroReloadInterval)
        ));
    }
}
