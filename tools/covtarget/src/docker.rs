//! The project's one way to drive Docker: the `docker` CLI ([`run`],
//! [`run_ok`]: found on PATH with `which`, stdin closed, bounded by a
//! timeout, errors naming the command and Docker's own message), and the
//! Engine API on its Unix socket ([`Engine`]) for what runs per container
//! and must be fast: exec, inspect. A `docker` process costs tens of
//! milliseconds before it does anything; a request on the socket well under
//! one.
//!
//! [`exec`] and [`inspect`] take the socket when the engine is local
//! (`DOCKER_HOST` unset or `unix://…`, no `DOCKER_CONTEXT`, the socket
//! present) and the CLI otherwise (remote engines, contexts);
//! `COVTOOLS_DOCKER=cli` forces the CLI. Both paths give the same results.

use std::ffi::OsStr;
use std::io::{BufReader, ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::Serialize;

use covcore::process::{process, Captured};

use crate::http;

mod api;

pub use api::Container;
use api::{Created, ErrorMessage, ExecCreate, ExecStart, ExecState};

/// No request body, for [`Engine::request`].
const NO_BODY: Option<&()> = None;
use crate::programs;

/// Set to `cli`, the environment variable that makes the tools use the
/// `docker` CLI even where the engine's socket is at hand.
pub const ENV_TRANSPORT: &str = "COVTOOLS_DOCKER";

/// The `docker` CLI on PATH (looked up once). Without one, where
/// `DOCKER_HOST` names a Unix socket that does not answer, that socket is
/// the cause to report: the CLI was only the fallback.
pub fn cli() -> anyhow::Result<PathBuf> {
    programs::tool("docker").map_err(|missing| match unreachable_host_socket() {
        Some(why) => anyhow!("{why}; no docker CLI on PATH to try instead"),
        None => missing,
    })
}

/// Why the Unix socket `DOCKER_HOST` names cannot be reached, if it names
/// one and it cannot.
fn unreachable_host_socket() -> Option<String> {
    let host = std::env::var("DOCKER_HOST").ok()?;
    let socket = host.strip_prefix("unix://")?;
    let err = UnixStream::connect(socket).err()?;
    Some(format!(
        "DOCKER_HOST={host}: cannot connect to the Docker Engine at {socket} ({err})"
    ))
}

/// `docker ARGS…`, stdin closed, both outputs captured, killed at `timeout`
/// (its status is then `None`).
pub fn run<S: AsRef<OsStr>>(args: &[S], timeout: Duration) -> anyhow::Result<Captured> {
    process(cli()?)
        .args(args)
        .output_within(timeout)
        .with_context(|| format!("running docker {}", shown(args)))
}

/// [`run`], and its stdout when it succeeded; otherwise an error naming the
/// command and Docker's message (or the timeout).
pub fn run_ok<S: AsRef<OsStr>>(args: &[S], timeout: Duration) -> anyhow::Result<String> {
    let out = run(args, timeout)?;
    if out.timed_out() {
        bail!(
            "docker {}: no result within {:.1}s",
            shown(args),
            timeout.as_secs_f64()
        );
    }
    if !out.success() {
        bail!("docker {} failed: {}", shown(args), out.error_line());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn shown<S: AsRef<OsStr>>(args: &[S]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let line = words.join(" ");
    match line.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// Where a container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    /// Created, exited, paused: its files are still there.
    Stopped,
    /// No such container, or one being removed (`docker rm` sets that
    /// before it kills the container) or dead.
    Removed,
}

/// The container's `docker inspect` object; `None` when there is no such container.
pub fn inspect(container: &str) -> anyhow::Result<Option<Container>> {
    if let Some(engine) = Engine::local() {
        let r = engine.request(
            "GET",
            &format!("/containers/{}/json", encode(container)),
            NO_BODY,
            Duration::from_secs(10),
        )?;
        return match r.status {
            200 => Ok(Some(serde_json::from_slice(&r.body).with_context(
                || format!("Docker Engine: inspect {container}: not JSON"),
            )?)),
            404 => Ok(None),
            _ => bail!("Docker Engine: inspect {container}: {}", message(&r)),
        };
    }
    let out = run(
        &["inspect", "--type", "container", container],
        Duration::from_secs(10),
    )?;
    if !out.success() {
        let msg = out.error_line();
        if msg.contains("No such") {
            return Ok(None);
        }
        bail!("docker inspect {container}: {msg}");
    }
    let mut all: Vec<Container> = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("docker inspect {container}: not JSON"))?;
    Ok(all.pop())
}

/// The container's [`State`].
pub fn state(container: &str) -> anyhow::Result<State> {
    let Some(info) = inspect(container)? else {
        return Ok(State::Removed);
    };
    Ok(match info.state.status.as_str() {
        "removing" | "dead" => State::Removed,
        _ if info.state.running => State::Running,
        _ => State::Stopped,
    })
}

/// The value of `key` in the container's configured environment.
pub fn env(container: &str, key: &str) -> anyhow::Result<Option<String>> {
    let info = inspect(container)?.ok_or_else(|| anyhow!("No such container: {container}"))?;
    Ok(env_of(&info, key))
}

/// Runs `argv` inside a running container (`docker exec CONTAINER ARGV…`),
/// bounded by `timeout`. When the exec could not start, the status is a
/// failure and stderr holds Docker's message, as the CLI prints it.
pub fn exec(container: &str, argv: &[&str], timeout: Duration) -> anyhow::Result<Captured> {
    match Engine::local() {
        Some(engine) => engine.exec(container, argv, timeout),
        None => {
            let mut args = vec!["exec", container];
            args.extend_from_slice(argv);
            run(&args, timeout)
        }
    }
}

/// A Docker Engine reached on its Unix socket.
#[derive(Debug)]
pub struct Engine {
    socket: PathBuf,
}

impl Engine {
    /// The local engine, when this process should talk to it directly (see
    /// the module's doc); decided once.
    pub fn local() -> Option<&'static Engine> {
        static LOCAL: OnceLock<Option<Engine>> = OnceLock::new();
        LOCAL
            .get_or_init(|| {
                if std::env::var(ENV_TRANSPORT).as_deref() == Ok("cli")
                    || std::env::var_os("DOCKER_CONTEXT").is_some()
                {
                    return None;
                }
                let socket = match std::env::var("DOCKER_HOST") {
                    Ok(h) if h.is_empty() => PathBuf::from("/var/run/docker.sock"),
                    Ok(h) => PathBuf::from(h.strip_prefix("unix://")?),
                    Err(_) => PathBuf::from("/var/run/docker.sock"),
                };
                UnixStream::connect(&socket).ok()?;
                Some(Engine { socket })
            })
            .as_ref()
    }

    /// An engine on the socket at `path`.
    pub fn at(path: &Path) -> Engine {
        Engine {
            socket: path.to_path_buf(),
        }
    }

    fn connect(&self, timeout: Duration) -> anyhow::Result<UnixStream> {
        let s = UnixStream::connect(&self.socket).with_context(|| {
            format!(
                "connecting to the Docker Engine at {}",
                self.socket.display()
            )
        })?;
        s.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        s.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        Ok(s)
    }

    /// One API request with an optional JSON body; the whole answer.
    pub fn request<B: Serialize>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> anyhow::Result<http::Response> {
        let what = || format!("Docker Engine: {method} {path}");
        let body = match body {
            Some(b) => serde_json::to_string(b).with_context(what)?,
            None => String::new(),
        };
        let s = self.connect(timeout)?;
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("Content-Type", "application/json")]
        };
        http::write_request(&mut &s, method, "docker", path, headers, body.as_bytes())
            .with_context(what)?;
        let mut r = BufReader::new(&s);
        let mut answer = http::read_head(&mut r)
            .map_err(|e| timed(e, timeout))
            .with_context(what)?;
        answer.body = http::read_body(&mut r, &answer.headers, 256 << 20)
            .map_err(|e| timed(e, timeout))
            .with_context(what)?;
        Ok(answer)
    }

    /// `docker exec` through the API: create, start with the stream
    /// hijacked (stdout and stderr multiplexed), then the exit code.
    pub fn exec(
        &self,
        container: &str,
        argv: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<Captured> {
        let deadline = Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let failed = |msg: String| Captured {
            status: Some(ExitStatus::from_raw(1 << 8)),
            stdout: Vec::new(),
            stderr: format!("Error response from daemon: {msg}\n").into_bytes(),
        };
        let create = self.request(
            "POST",
            &format!("/containers/{}/exec", encode(container)),
            Some(&ExecCreate {
                attach_stdout: true,
                attach_stderr: true,
                tty: false,
                cmd: argv,
            }),
            left(),
        )?;
        if create.status != 201 {
            return Ok(failed(message(&create)));
        }
        let Created { id } = serde_json::from_slice(&create.body)
            .context("Docker Engine: exec create: not an object with an Id")?;

        let s = self.connect(left())?;
        let body = serde_json::to_string(&ExecStart {
            detach: false,
            tty: false,
        })?;
        http::write_request(
            &mut &s,
            "POST",
            "docker",
            &format!("/exec/{id}/start"),
            &[
                ("Content-Type", "application/json"),
                ("Connection", "Upgrade"),
                ("Upgrade", "tcp"),
            ],
            body.as_bytes(),
        )
        .context("Docker Engine: exec start")?;
        let mut r = BufReader::new(&s);
        let mut started = http::read_head(&mut r)
            .map_err(|e| timed(e, timeout))
            .context("Docker Engine: exec start")?;
        if started.status != 101 && started.status != 200 {
            started.body = http::read_body(&mut r, &started.headers, 1 << 20).unwrap_or_default();
            return Ok(failed(message(&started)));
        }
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut timed_out = false;
        loop {
            let _ = s.set_read_timeout(Some(left().max(Duration::from_millis(1))));
            let mut head = [0u8; 8];
            match read_full(&mut r, &mut head) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) if is_timeout(&e) => {
                    timed_out = true;
                    break;
                }
                // A stream cut by a container going away ends like EOF.
                Err(_) => break,
            }
            let size = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as u64;
            let sink = if head[0] == 2 {
                &mut stderr
            } else {
                &mut stdout
            };
            match r.by_ref().take(size).read_to_end(sink) {
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    timed_out = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if timed_out {
            return Ok(Captured {
                status: None,
                stdout,
                stderr,
            });
        }
        // The stream ends a moment before the engine records the exit code.
        let settle = Instant::now() + Duration::from_secs(2);
        let code = loop {
            let r = self.request(
                "GET",
                &format!("/exec/{id}/json"),
                NO_BODY,
                Duration::from_secs(5),
            )?;
            if r.status == 404 {
                // The exec went with its container.
                stderr.extend_from_slice(b"Error response from daemon: the exec instance is gone (its container was removed)\n");
                break 137;
            }
            let v: ExecState = serde_json::from_slice(&r.body).unwrap_or_default();
            if !v.running || Instant::now() >= settle {
                break v.exit_code.unwrap_or(137) as i32;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        Ok(Captured {
            status: Some(ExitStatus::from_raw((code & 0xff) << 8)),
            stdout,
            stderr,
        })
    }
}

impl Engine {
    /// The tar stream of `path` in the container, running or stopped (no
    /// process is started in it); `None` when there is no such path.
    pub fn archive(
        &self,
        container: &str,
        path: &str,
        timeout: Duration,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let r = self.request(
            "GET",
            &format!(
                "/containers/{}/archive?path={}",
                encode(container),
                encode(path)
            ),
            NO_BODY,
            timeout,
        )?;
        match r.status {
            200 => Ok(Some(r.body)),
            404 if !message(&r).contains("No such container") => Ok(None),
            _ => bail!("Error response from daemon: {}", message(&r)),
        }
    }
}

/// The container's addresses on its networks, from its inspect object
/// (reachable from this host on a local engine's bridge networks).
pub fn addresses(info: &Container) -> Vec<String> {
    info.network_settings
        .networks
        .values()
        .map(|n| n.ip_address.clone())
        .filter(|ip| !ip.is_empty())
        .collect()
}

/// The value of `key` in an inspect object's configured environment.
pub fn env_of(info: &Container, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    info.config
        .env
        .iter()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

/// Fills `buf`; false on EOF before its first byte.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn timed(e: std::io::Error, timeout: Duration) -> std::io::Error {
    if is_timeout(&e) {
        std::io::Error::new(
            ErrorKind::TimedOut,
            format!("no answer within {:.1}s", timeout.as_secs_f64()),
        )
    } else {
        e
    }
}

/// The engine's error message (`{"message": "No such container: x"}`).
fn message(r: &http::Response) -> String {
    serde_json::from_slice::<ErrorMessage>(&r.body)
        .map(|e| e.message)
        .unwrap_or_else(|_| r.describe())
}

/// A container name or id in a URL path (they hold `[A-Za-z0-9_.-]`; the
/// rest is escaped all the same).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
