//! A moto server (the AWS emulator of `make run` and of the tests): started on a free port of
//! 127.0.0.1, ready once it answers HTTP, killed (by its PID, and only it) when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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
    /// Where its output goes, if anywhere.
    pub log: Option<PathBuf>,
}

impl Moto {
    /// Start `moto_server` found under `repo`, output discarded, and wait until it answers.
    pub fn start(repo: &Path) -> Result<Moto, String> {
        Self::start_with(&repo.join(MOTO_SERVER), None)
    }

    /// Start `program` (a `moto_server`), its output into `log` when given, and wait until it
    /// answers HTTP on its port.
    pub fn start_with(program: &Path, log: Option<&Path>) -> Result<Moto, String> {
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
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                let copy = file
                    .try_clone()
                    .map_err(|e| format!("cannot share {}: {e}", path.display()))?;
                (Stdio::from(file), Stdio::from(copy))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log: log.map(Path::to_owned),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + READY_TIMEOUT;
        while !answers(addr) {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let output = moto
                    .log
                    .as_deref()
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .map(|text| format!("; its output:\n{text}"))
                    .unwrap_or_default();
                return Err(format!("moto_server exited early: {status}{output}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not answer on {addr} within {READY_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Whether an HTTP server answers on `addr` (moto's own API path).
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Our own child, by PID: kill and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
