//! The two operations on a target: stop it through its killswitch and wait
//! for the new complete profile (covkill), and fetch every complete profile
//! (covpull). Containers and pods share one implementation over [`Exec`];
//! local targets are served from this process.

use std::collections::BTreeSet;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::exec::{self, Exec};
use crate::target::Target;

/// The number `n` of a complete profile's name `cover-<n>.out`, else `None`
/// (temporary names, anything else): the contract with the restart wrapper.
pub fn profile_number(name: &str) -> Option<u64> {
    let n = name.strip_prefix("cover-")?.strip_suffix(".out")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Settings shared by every target of one run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The cover directory inside containers; `None`: `$COVER_DIR`, else `/cover`.
    pub cover_dir: Option<String>,
    /// The killswitch port inside containers; `None`: from `$COVKILL_ADDR`, else 19999.
    pub port: Option<u16>,
    /// The whole budget of one target (retries included).
    pub timeout: Duration,
}

/// How a target is reached.
enum Endpoint<'a> {
    Exec(Exec),
    Local {
        addr: Option<&'a str>,
        dir: &'a Path,
    },
}

fn endpoint(target: &Target) -> anyhow::Result<Endpoint<'_>> {
    Ok(match target {
        Target::Docker { container } => Endpoint::Exec(Exec::docker(container)),
        Target::Pod {
            namespace,
            pod,
            container,
        } => Endpoint::Exec(Exec::kubectl(namespace, pod, container.as_deref())),
        Target::Selector { .. } => bail!("a label selector must be expanded first"),
        Target::Local { addr, dir } => Endpoint::Local {
            addr: addr.as_deref(),
            dir,
        },
    })
}

/// Expands a label selector to its running pods (`kubectl get pods -n NS
/// -l SEL --field-selector=status.phase=Running -o name`: completed, failed
/// and pending pods of a rollout cannot be exec'd); other targets are
/// returned as they are.
pub fn expand(target: &Target, timeout: Duration) -> anyhow::Result<Vec<Target>> {
    let Target::Selector {
        namespace,
        selector,
        container,
    } = target
    else {
        return Ok(vec![target.clone()]);
    };
    let mut cmd = Command::new(exec::tool("kubectl")?);
    cmd.args(["get", "pods", "-n", namespace, "-l", selector]);
    cmd.args(["--field-selector=status.phase=Running", "-o", "name"]);
    let out = exec::run(cmd, timeout)?;
    if !out.success() {
        bail!(
            "kubectl get pods -n {namespace} -l {selector:?}: {}",
            out.error_line()
        );
    }
    let pods: Vec<Target> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Target::Pod {
            namespace: namespace.clone(),
            pod: l.strip_prefix("pod/").unwrap_or(l).to_string(),
            container: container.clone(),
        })
        .collect();
    if pods.is_empty() {
        bail!("no pod in namespace {namespace} matches the label selector {selector:?}");
    }
    Ok(pods)
}

/// What covkill achieved on one target.
#[derive(Debug, PartialEq, Eq)]
pub enum Killed {
    /// The killswitch answered and this new complete profile appeared.
    Stopped { dir: String, profile: String },
    /// The container was not running any more (stopped with SIGTERM, say):
    /// nothing to kill, its profiles are read as they are.
    AlreadyStopped,
    /// The container was running when the script started and stopped
    /// under it: the service exited on the killswitch and the wrapper did
    /// not restart it (`COVER_RESTART=never`). The wrapper renames the
    /// profile before it exits, so its profiles are read from the stopped
    /// container.
    Exited,
}

/// Hits the target's killswitch and waits until a new complete profile
/// has appeared in its cover directory. "Connection refused" (a service
/// restarting or not up yet) is retried with backoff until the timeout.
pub fn kill(target: &Target, opts: &Options) -> anyhow::Result<Killed> {
    let deadline = Instant::now() + opts.timeout;
    match endpoint(target)? {
        Endpoint::Exec(exec) => kill_exec(&exec, opts, deadline),
        Endpoint::Local {
            addr: Some(addr),
            dir,
        } => kill_local(addr, dir, deadline),
        Endpoint::Local { addr: None, .. } => {
            bail!("a dir: target has no killswitch (use local:ADDR=DIR to stop a local process)")
        }
    }
}

const KILL_SH: &str = include_str!("sh/kill.sh");
const FETCH_SH: &str = include_str!("sh/fetch.sh");

/// Backoff between attempts on "connection refused": 50 ms doubling to 1 s.
struct Backoff {
    next: Duration,
    attempts: u32,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            next: Duration::from_millis(50),
            attempts: 0,
        }
    }

    /// Sleeps before the next attempt; false when the deadline leaves no room for one.
    fn wait(&mut self, deadline: Instant) -> bool {
        self.attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        if left <= self.next {
            return false;
        }
        std::thread::sleep(self.next);
        self.next = (self.next * 2).min(Duration::from_secs(1));
        true
    }
}

fn kill_exec(exec: &Exec, opts: &Options, deadline: Instant) -> anyhow::Result<Killed> {
    let started = Instant::now();
    let port = opts.port.map(|p| p.to_string()).unwrap_or_default();
    let dir_arg = opts.cover_dir.clone().unwrap_or_default();
    let mut backoff = Backoff::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // The script polls until its own deadline (whole seconds); this
        // process gives it a little more, then kills the exec client.
        let secs = left.as_secs_f64().ceil().max(1.0).to_string();
        let out = exec.sh(
            KILL_SH,
            &[&dir_arg, &port, &secs],
            left + Duration::from_millis(500),
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        let (dir, url) = (field("DIR "), field("URL "));
        let has = |key: &str| {
            text.lines()
                .any(|l| l == key || l.starts_with(&format!("{key} ")))
        };
        if has("NEW") {
            return Ok(Killed::Stopped {
                dir,
                profile: field("NEW "),
            });
        }
        if has("NOCLIENT") {
            bail!(
                "the container has neither wget nor curl to send the killswitch request to {url}"
            );
        }
        if has("REFUSED") {
            if backoff.wait(deadline) {
                continue;
            }
            bail!(
                "killswitch {url}: connection refused ({} attempts in {:.1}s; is the service up and --port right?)",
                backoff.attempts,
                started.elapsed().as_secs_f64()
            );
        }
        let waited = opts.timeout.as_secs_f64();
        if has("TIMEOUT") || (out.timed_out() && (has("KILLED") || has("KILLERR"))) {
            let answer = match has("KILLERR") {
                true => format!("did not answer cleanly ({})", field("KILLERR ")),
                false => "answered".to_string(),
            };
            bail!("killswitch {url} {answer}, but no new complete profile (cover-<n>.out) appeared in {dir} within {waited:.1}s");
        }
        if has("NOANSWER") || (out.timed_out() && !url.is_empty()) {
            bail!("killswitch {url}: no answer within {waited:.1}s");
        }
        if out.timed_out() {
            bail!("{} exec timed out after {waited:.1}s", exec.program);
        }
        // The exec itself failed: the container is gone, or stopped
        // (before this attempt, or by it when the wrapper does not restart).
        if let Some(container) = exec.docker_container() {
            if docker_stopped(container, cut_off(&out))? {
                // Any line from the script: it was running when we came.
                return Ok(if has("URL") {
                    Killed::Exited
                } else {
                    Killed::AlreadyStopped
                });
            }
        }
        bail!("{}", out.error_line());
    }
}

/// Whether a failed exec was cut off inside the container: its script had
/// started, or its process was killed (137: SIGKILL, as when the
/// container's init exits).
fn cut_off(out: &exec::Captured) -> bool {
    !out.stdout.is_empty() || out.status.and_then(|s| s.code()) == Some(137)
}

/// After an exec failed: whether the container is stopped. One that cut
/// the exec off may still show as running for a moment while it stops
/// (its processes killed, its state not yet updated), so then this waits
/// a little for the state to follow.
fn docker_stopped(container: &str, cut_off: bool) -> anyhow::Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match docker_running(container)? {
            Some(false) => return Ok(true),
            Some(true) if cut_off && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => return Ok(false),
        }
    }
}

/// `Some(running)` from `docker inspect`, `None` when there is no such container.
fn docker_running(container: &str) -> anyhow::Result<Option<bool>> {
    let out = docker_inspect(container, "{{.State.Running}}")?;
    Ok(match String::from_utf8_lossy(&out.stdout).trim() {
        "true" if out.success() => Some(true),
        "false" if out.success() => Some(false),
        _ => None,
    })
}

/// `docker inspect --type container --format FORMAT CONTAINER`.
fn docker_inspect(container: &str, format: &str) -> anyhow::Result<exec::Captured> {
    let mut cmd = Command::new(exec::tool("docker")?);
    cmd.args([
        "inspect",
        "--type",
        "container",
        "--format",
        format,
        container,
    ]);
    exec::run(cmd, Duration::from_secs(10))
}

fn list_complete(dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if profile_number(&name).is_some() && entry.file_type().is_ok_and(|t| t.is_file()) {
            names.insert(name);
        }
    }
    Ok(names)
}

fn kill_local(addr: &str, dir: &Path, deadline: Instant) -> anyhow::Result<Killed> {
    let started = Instant::now();
    let before = list_complete(dir)?;
    let url = format!("http://{addr}/covkill");
    let mut backoff = Backoff::new();
    loop {
        match http_get(addr, deadline) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                if !backoff.wait(deadline) {
                    bail!(
                        "killswitch {url}: connection refused ({} attempts in {:.1}s)",
                        backoff.attempts,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            // A read or connect that ran out of the budget: say so, not
            // the socket's "Resource temporarily unavailable".
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => bail!(
                "killswitch {url}: no answer within {:.1}s",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => bail!("killswitch {url}: {e}"),
        }
    }
    loop {
        if let Some(new) = list_complete(dir)?.difference(&before).next() {
            return Ok(Killed::Stopped {
                dir: dir.display().to_string(),
                profile: new.clone(),
            });
        }
        if Instant::now() >= deadline {
            bail!(
                "killswitch {url} answered, but no new complete profile (cover-<n>.out) appeared in {} within {:.1}s",
                dir.display(),
                started.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One `GET /covkill`; Ok on a 200 answer.
fn http_get(addr: &str, deadline: Instant) -> std::io::Result<()> {
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, format!("{addr}: no address"));
    for sa in addr.to_socket_addrs()? {
        let mut stream = match TcpStream::connect_timeout(&sa, left()) {
            Ok(s) => s,
            Err(e) => {
                last = e;
                continue;
            }
        };
        stream.set_read_timeout(Some(left()))?;
        stream.set_write_timeout(Some(left()))?;
        write!(
            stream,
            "GET /covkill HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while head.len() < 256 && stream.read(&mut byte)? == 1 && byte[0] != b'\n' {
            head.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&head);
        if line.split_whitespace().nth(1) == Some("200") {
            return Ok(());
        }
        return Err(std::io::Error::other(format!(
            "answered {:?}, expected HTTP 200",
            line.trim()
        )));
    }
    Err(last)
}

/// One complete profile read from a target.
#[derive(Debug)]
pub struct Profile {
    /// Its name in the cover directory (`cover-<n>.out`).
    pub name: String,
    pub number: u64,
    pub data: Vec<u8>,
}

/// Everything read from one target's cover directory.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The directory, as the target sees it.
    pub dir: String,
    /// False when the directory does not exist.
    pub dir_exists: bool,
    /// Complete profiles, by number.
    pub profiles: Vec<Profile>,
    /// Other entries (temporary files of profiles being written…).
    pub skipped: Vec<String>,
    /// Complete profiles that could not be read, with the reason.
    pub unreadable: Vec<(String, String)>,
}

/// Reads every complete profile of a target: one exec round-trip for a
/// container or pod (`docker cp` for a stopped Docker container), the
/// directory itself for a local target.
pub fn fetch(target: &Target, opts: &Options) -> anyhow::Result<Fetched> {
    let mut fetched = match endpoint(target)? {
        Endpoint::Exec(exec) => fetch_exec(&exec, opts)?,
        Endpoint::Local { dir, .. } => fetch_local(dir, &dir.display().to_string())?,
    };
    fetched.profiles.sort_by_key(|p| p.number);
    Ok(fetched)
}

fn fetch_exec(exec: &Exec, opts: &Options) -> anyhow::Result<Fetched> {
    let boundary = boundary();
    let dir_arg = opts.cover_dir.clone().unwrap_or_default();
    let out = exec.sh(FETCH_SH, &[&dir_arg, &boundary], opts.timeout)?;
    if let Some(fetched) = parse_fetch(&out.stdout, &boundary)? {
        return Ok(fetched);
    }
    if out.timed_out() {
        bail!(
            "{} exec timed out after {:.1}s",
            exec.program,
            opts.timeout.as_secs_f64()
        );
    }
    if let Some(container) = exec.docker_container() {
        if docker_stopped(container, cut_off(&out))? {
            return fetch_stopped_docker(container, opts);
        }
    }
    bail!("{}", out.error_line())
}

/// A random token that no profile holds, to frame the files in one stream.
fn boundary() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos() ^ u128::from(std::process::id()));
    let a = h.finish();
    h.write_u64(a);
    format!("--covpull-{a:016x}{:016x}--", h.finish())
}

/// Parses fetch.sh's output; `None` when it is not complete (no END record).
fn parse_fetch(stdout: &[u8], boundary: &str) -> anyhow::Result<Option<Fetched>> {
    let mut sep = b"\n".to_vec();
    sep.extend_from_slice(boundary.as_bytes());
    sep.push(b' ');
    let mut text = b"\n".to_vec();
    text.extend_from_slice(stdout);
    let mut records = Vec::new();
    let mut rest = &text[..];
    while let Some(i) = memmem(rest, &sep) {
        records.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    records.push(rest);
    let records = &records[1..]; // [0] is what precedes the first record: nothing
    let mut fetched = Fetched {
        dir_exists: true,
        ..Fetched::default()
    };
    let mut ended = false;
    let mut i = 0;
    while i < records.len() {
        let rec = records[i];
        let (head, body) = match rec.iter().position(|&b| b == b'\n') {
            Some(n) => (&rec[..n], &rec[n + 1..]),
            None => (rec, &rec[rec.len()..]),
        };
        let head = String::from_utf8_lossy(head);
        let (kind, arg) = head.split_once(' ').unwrap_or((&head, ""));
        match kind {
            "DIR" => fetched.dir = arg.to_string(),
            "NODIR" => fetched.dir_exists = false,
            "SKIP" => fetched.skipped.push(arg.to_string()),
            "FILE" => {
                if records
                    .get(i + 1)
                    .is_some_and(|r| r.starts_with(b"CATFAIL "))
                {
                    fetched
                        .unreadable
                        .push((arg.to_string(), "cat failed".to_string()));
                    i += 1;
                } else if let Some(number) = profile_number(arg) {
                    fetched.profiles.push(Profile {
                        name: arg.to_string(),
                        number,
                        data: body.to_vec(),
                    });
                }
            }
            "END" => ended = true,
            _ => bail!("unexpected output from the fetch script: {head:?}"),
        }
        i += 1;
    }
    Ok(ended.then_some(fetched))
}

fn memmem(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn fetch_local(dir: &Path, shown: &str) -> anyhow::Result<Fetched> {
    let mut fetched = Fetched {
        dir: shown.to_string(),
        dir_exists: dir.is_dir(),
        ..Fetched::default()
    };
    if !fetched.dir_exists {
        return Ok(fetched);
    }
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match profile_number(&name) {
            Some(number) => match fs::read(entry.path()) {
                Ok(data) => fetched.profiles.push(Profile { name, number, data }),
                Err(e) => fetched.unreadable.push((name, e.to_string())),
            },
            None => fetched.skipped.push(name),
        }
    }
    Ok(fetched)
}

/// `docker exec` needs a running container; a stopped one (SIGTERM, crash)
/// still has its files, which `docker cp` copies out.
fn fetch_stopped_docker(container: &str, opts: &Options) -> anyhow::Result<Fetched> {
    let dir = match &opts.cover_dir {
        Some(d) => d.clone(),
        None => docker_env(container, "COVER_DIR")?.unwrap_or_else(|| "/cover".to_string()),
    };
    let tmp = TempDir::new()?;
    let mut cmd = Command::new(exec::tool("docker")?);
    cmd.arg("cp")
        .arg(format!("{container}:{dir}/."))
        .arg(tmp.0.join("cover"));
    let out = exec::run(cmd, opts.timeout)?;
    if !out.success() {
        let msg = out.error_line();
        if msg.contains("Could not find the file") || msg.contains("No such file") {
            return Ok(Fetched {
                dir,
                dir_exists: false,
                ..Fetched::default()
            });
        }
        bail!("the container is stopped and docker cp failed: {msg}");
    }
    let mut fetched = fetch_local(&tmp.0.join("cover"), &dir)?;
    fetched.dir = dir;
    Ok(fetched)
}

fn docker_env(container: &str, key: &str) -> anyhow::Result<Option<String>> {
    let out = docker_inspect(container, "{{range .Config.Env}}{{println .}}{{end}}")?;
    if !out.success() {
        return Err(anyhow!("{}", out.error_line()));
    }
    let prefix = format!("{key}=");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string)))
}

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let base = std::env::temp_dir();
        for attempt in 0..100 {
            let p = base.join(format!(
                "covpull-{}-{attempt}-{}",
                std::process::id(),
                &boundary()[10..18]
            ));
            match fs::create_dir(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", p.display())),
            }
        }
        bail!("cannot create a temporary directory in {}", base.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(profile_number("cover-1.out"), Some(1));
        assert_eq!(profile_number("cover-12.out"), Some(12));
        for bad in [
            "cover-.out",
            "cover-1a.out",
            ".cover-1.out",
            "cover-1.out.tmp",
            ".cover-1.out.tmp",
            "x.out",
        ] {
            assert_eq!(profile_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn fetch_script_locally() {
        // The very script the containers run, under this machine's sh.
        let dir = std::env::temp_dir().join(format!("covtarget-fetch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cover-1.out"), "mode: set\na.go:1.1,2.2 1 1\n").unwrap();
        fs::write(dir.join("cover-2.out"), "no newline at end").unwrap();
        fs::write(dir.join("cover-3.out"), "").unwrap();
        fs::write(dir.join(".cover-4.out.tmp"), "mode: se").unwrap();
        fs::write(dir.join("cover-x.out"), "x").unwrap();
        let b = boundary();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", FETCH_SH, "sh", dir.to_str().unwrap(), &b]);
        let out = exec::run(cmd, Duration::from_secs(10)).unwrap();
        let mut f = parse_fetch(&out.stdout, &b).unwrap().expect("complete");
        f.profiles.sort_by_key(|p| p.number);
        let got: Vec<(&str, &[u8])> = f
            .profiles
            .iter()
            .map(|p| (p.name.as_str(), &p.data[..]))
            .collect();
        assert_eq!(
            got,
            [
                ("cover-1.out", &b"mode: set\na.go:1.1,2.2 1 1\n"[..]),
                ("cover-2.out", &b"no newline at end"[..]),
                ("cover-3.out", &b""[..])
            ]
        );
        f.skipped.sort();
        assert_eq!(f.skipped, [".cover-4.out.tmp", "cover-x.out"]);
        assert_eq!(f.dir, dir.to_str().unwrap());
        let mut cmd = Command::new("sh");
        cmd.args(["-c", FETCH_SH, "sh", dir.join("nope").to_str().unwrap(), &b]);
        let out = exec::run(cmd, Duration::from_secs(10)).unwrap();
        assert!(!parse_fetch(&out.stdout, &b).unwrap().unwrap().dir_exists);
        // Truncated output (the exec died) is not taken for a complete listing.
        let cut = &out.stdout[..out.stdout.len() - 5];
        assert!(parse_fetch(cut, &b).unwrap().is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
