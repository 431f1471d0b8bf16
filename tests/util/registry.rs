//! A real image registry for a test: Debian's `docker-registry` (the
//! Distribution registry) serving a temporary directory on a free port,
//! killed when dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::skip;

/// The login `htpasswd` of [`Registry::start`] accepts: user `covtools`,
/// password `U*U` (a published bcrypt test vector, so no tool is needed to
/// make it).
pub const HTPASSWD: &str = "covtools:$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

pub struct Registry {
    child: Child,
    /// `HOST:PORT`, as image references name it.
    pub addr: String,
}

impl Registry {
    /// A registry listening on `host` (a free port), its storage and config
    /// under `dir`; with `auth`, it asks for the [`HTPASSWD`] login. `None`
    /// (a counted skip; a failure in CI) without `docker-registry`.
    pub fn start(dir: &Path, host: &str, auth: bool) -> Option<Registry> {
        let Ok(program) = which::which("docker-registry") else {
            skip::skip_unless_ci(
                "no docker-registry (Debian's package docker-registry) to push images to",
            );
            return None;
        };
        let port = TcpListener::bind((host, 0))
            .unwrap_or_else(|e| panic!("binding {host}:0: {e}"))
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("{host}:{port}");
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("storage").display()
        );
        if auth {
            std::fs::write(dir.join("htpasswd"), format!("{HTPASSWD}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: covtools\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(program)
            .args(["serve", &dir.join("config.yml").display().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry { child, addr };
        // Up when /v2/ answers (401 when it asks for a login).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match covtarget::http::get(&registry.addr, "/v2/", Duration::from_secs(2)) {
                Ok(r) if r.status == 200 || r.status == 401 => break,
                _ if Instant::now() > deadline => panic!(
                    "docker-registry on {} did not answer within 30s:\n{}",
                    registry.addr,
                    std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
                ),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        Some(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
