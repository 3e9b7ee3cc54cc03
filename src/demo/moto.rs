//! A moto server started for the embedded demo: on a free port of 127.0.0.1, stopped by PID.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `make venv` installs moto, relative to the repository.
pub const MOTO_SERVER: &str = ".venv/bin/moto_server";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server; dropping it kills the process it started (and only that one).
#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Start `moto_server` found under `repo` and wait until it accepts connections.
    pub fn start(repo: &Path) -> Result<Moto, String> {
        let program: PathBuf = repo.join(MOTO_SERVER);
        if !program.exists() {
            return Err(format!(
                "{} not found: run `make venv` (or `make run`, which does it)",
                program.display()
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?
            .port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!("moto_server exited early: {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not listen on port {port} within 60 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Our own child, by PID: kill and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
