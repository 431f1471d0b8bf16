//! `cargo xtask dep-images`: the images of the databases an example stack
//! depends on (`redis:7`, `postgres:15`), built from Debian's packages because no image
//! registry can be reached here. `debootstrap --variant=minbase
//! --include=PACKAGES` makes a root filesystem, which is trimmed and then
//! `docker import`ed under the tag a compose file names, so that file stays
//! the one a user would write (users with a registry get the upstream
//! images under the same tags).
//!
//! An image is built again only when its recipe changes: `docker import -c`
//! cannot set a LABEL, so each image carries `ENV COVTOOLS_DEP_IMAGE=<name>-
//! <recipe hash>`, read back with `docker image inspect`. A tag that exists
//! without that variable was not built here (a pulled upstream image, say)
//! and is left alone.
//!
//! The Debian mirror is the one apt uses (`/etc/apt/sources.list.d/*.sources`,
//! `*.list`, `/etc/apt/sources.list`), or `$COVTOOLS_DEBIAN_MIRROR` on a host
//! whose mirror has no Debian release (Ubuntu). debootstrap is installed
//! with apt-get when missing; it, apt-get and the steps on the root
//! filesystem run through sudo when we are not root.
//!
//! Self-contained (std, anyhow, which): the integration tests include this
//! file by path to build the very same images.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};

/// How an image is made from Debian's packages.
pub struct Recipe {
    /// The marker's prefix and the work directory's name.
    pub name: &'static str,
    /// The tag compose files name.
    pub tag: &'static str,
    /// The Debian release debootstrap installs.
    pub suite: &'static str,
    /// debootstrap's `--include`.
    pub packages: &'static [&'static str],
    /// A shell script run inside the root filesystem (chroot) after
    /// debootstrap, before [`TRIM`].
    pub setup: &'static str,
    /// `docker import -c` lines (the marker's ENV is added to them).
    pub changes: &'static [&'static str],
}

/// Redis as the official image runs it: `redis-server` in the foreground
/// as user redis in /data (a volume), listening on every address without
/// protected mode, since its clients come from other containers. Debian's
/// /etc/redis/redis.conf (daemonized, loopback only) is not read.
pub const REDIS: Recipe = Recipe {
    name: "redis",
    tag: "redis:7",
    suite: "bookworm",
    packages: &["redis-server"],
    setup: "mkdir -p /data\nchown redis:redis /data\n",
    changes: &[
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "VOLUME /data",
        "WORKDIR /data",
        "USER redis",
        "EXPOSE 6379",
        r#"CMD ["redis-server", "--protected-mode", "no"]"#,
    ],
};

/// PostgreSQL as the official image runs it (Debian 12 ships 15): its
/// start script (docker/dep-images/postgres-entrypoint.sh) sets up an empty
/// PGDATA from the POSTGRES_* variables and /docker-entrypoint-initdb.d.
/// The cluster the package made and the JIT (LLVM, half the size) go.
pub const POSTGRES: Recipe = Recipe {
    name: "postgres",
    tag: "postgres:15",
    suite: "bookworm",
    packages: &["postgresql"],
    setup: concat!(
        "rm -rf /var/lib/postgresql/15 /etc/postgresql/15 /usr/lib/postgresql/15/lib/bitcode\n",
        "rm -f /usr/lib/*/libLLVM-*.so* /usr/lib/postgresql/15/lib/llvmjit*.so\n",
        "mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data /var/run/postgresql\n",
        "chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql\n",
        "cat >/usr/local/bin/docker-entrypoint.sh <<'COVTOOLS_EOF'\n",
        include_str!("../../docker/dep-images/postgres-entrypoint.sh"),
        "COVTOOLS_EOF\nchmod 755 /usr/local/bin/docker-entrypoint.sh\n",
    ),
    changes: &[
        "ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV PGDATA=/var/lib/postgresql/data",
        "VOLUME /var/lib/postgresql/data",
        "EXPOSE 5432",
        r#"ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]"#,
        r#"CMD ["postgres"]"#,
    ],
};

/// Every image `cargo xtask dep-images` builds.
pub const RECIPES: &[&Recipe] = &[&REDIS, &POSTGRES];

/// What every image drops after its set-up: apt's downloaded packages and
/// lists (half the size) and the documentation and translations no server
/// reads.
const TRIM: &str = "rm -f /var/cache/apt/archives/*.deb
rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/*
";

/// Changes whenever the way images are made changes outside the recipes.
const FORMAT: &str = "covtools-dep-image-1";

/// The environment variable every image built here carries.
pub const MARKER_ENV: &str = "COVTOOLS_DEP_IMAGE";

impl Recipe {
    /// `<name>-<hash of everything that makes the image>`.
    pub fn marker(&self) -> String {
        let mut parts = vec![FORMAT, self.name, self.tag, self.suite, self.setup, TRIM];
        parts.extend(self.packages);
        parts.extend(self.changes);
        format!("{}-{:016x}", self.name, fnv1a(&parts))
    }
}

/// FNV-1a (64 bits) over the parts, each ended by a NUL: a stable hash
/// (std's `DefaultHasher` may change between Rust releases).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The task: every image of [`RECIPES`], built when missing or stale.
pub fn run() -> anyhow::Result<ExitCode> {
    build_all()?;
    Ok(ExitCode::SUCCESS)
}

/// Every image of [`RECIPES`], built when missing or stale.
pub fn build_all() -> anyhow::Result<()> {
    for recipe in RECIPES {
        ensure(recipe)?;
    }
    Ok(())
}

/// What a tag holds now.
#[derive(Debug, PartialEq, Eq)]
pub enum State {
    Missing,
    /// Built here from this very recipe.
    Current,
    /// Built here from another recipe (the marker it has).
    Stale(String),
    /// Not built here: no marker at all.
    Foreign,
}

/// What `tag` holds, given the marker the current recipe gives.
pub fn state(tag: &str, marker: &str) -> anyhow::Result<State> {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format"])
        .arg("{{range .Config.Env}}{{println .}}{{end}}")
        .arg(tag)
        .stdin(Stdio::null())
        .output()
        .context("running docker image inspect (is Docker installed?)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No such image") || err.contains("No such object") {
            return Ok(State::Missing);
        }
        bail!("docker image inspect {tag} failed: {}", err.trim());
    }
    let env = String::from_utf8_lossy(&out.stdout);
    let found = env
        .lines()
        .find_map(|l| l.strip_prefix(MARKER_ENV)?.strip_prefix('='));
    Ok(match found {
        Some(m) if m == marker => State::Current,
        Some(m) => State::Stale(m.to_string()),
        None => State::Foreign,
    })
}

/// The image of `recipe`, built unless its tag holds it already (or an
/// image not built here). Progress goes to stderr.
pub fn ensure(recipe: &Recipe) -> anyhow::Result<()> {
    // Threads of one process (tests) build one image at a time. Separate
    // processes may both build one; each works in a directory of its own
    // and both import the same image, so the later tag is as good.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let marker = recipe.marker();
    match state(recipe.tag, &marker)? {
        State::Current => {
            eprintln!("dep-images: {} is up to date ({marker})", recipe.tag);
            return Ok(());
        }
        State::Foreign => {
            eprintln!(
                "dep-images: {} exists and was not built here (no {MARKER_ENV}); using it as it is",
                recipe.tag
            );
            return Ok(());
        }
        State::Stale(old) => {
            eprintln!(
                "dep-images: {} was built from another recipe ({old}); building it again",
                recipe.tag
            );
        }
        State::Missing => {}
    }
    build(recipe, &marker)
}

/// Where the root filesystems are made: target/covtools/dep-images of the
/// workspace (the first directory above this crate's manifest with a
/// Cargo.lock), one directory per recipe and process.
fn work_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(manifest);
    root.join("target/covtools/dep-images")
}

fn build(recipe: &Recipe, marker: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mirror = debian_mirror(recipe.suite)?;
    let debootstrap = ensure_debootstrap()?;
    let work = work_root();
    remove_leftovers(&work)?;
    let dir = work.join(format!("{}-{}", recipe.name, std::process::id()));
    remove_tree(&dir)?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let rootfs = dir.join("rootfs");
    let log = dir.join("debootstrap.log");
    eprintln!(
        "dep-images: building {} from Debian {} ({}) with debootstrap from {mirror} (one to four minutes; log {})",
        recipe.tag,
        recipe.suite,
        recipe.packages.join(", "),
        log.display()
    );
    let log_file = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let status = as_root(&debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--include={}", recipe.packages.join(",")))
        .arg(recipe.suite)
        .arg(&rootfs)
        .arg(&mirror)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .status()
        .context("running debootstrap")?;
    if !status.success() {
        bail!(
            "debootstrap of {} failed ({status}); the end of {}:\n{}",
            recipe.tag,
            log.display(),
            tail(&log, 15)
        );
    }
    eprintln!(
        "dep-images: {}: debootstrap done after {:.0} s",
        recipe.tag,
        started.elapsed().as_secs_f64()
    );
    let script = format!("set -e\n{}{TRIM}", recipe.setup);
    run_ok(
        as_root("chroot")
            .arg(&rootfs)
            .args(["/bin/sh", "-c", &script]),
        "the set-up script in the root filesystem",
    )?;
    import(&rootfs, recipe, marker)?;
    remove_tree(&dir)?;
    eprintln!(
        "dep-images: {} built in {:.0} s, {} MB ({marker})",
        recipe.tag,
        started.elapsed().as_secs_f64(),
        size_mb(recipe.tag).unwrap_or(0)
    );
    Ok(())
}

/// `tar -C ROOTFS -c . | docker import -c … - TAG`.
fn import(rootfs: &Path, recipe: &Recipe, marker: &str) -> anyhow::Result<()> {
    // Numeric owners: the users are the root filesystem's, not the host's.
    let mut tar = as_root("tar")
        .args(["--numeric-owner", "-C"])
        .arg(rootfs)
        .args(["-c", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let mut import = Command::new("docker");
    import.arg("import");
    for change in recipe.changes {
        import.arg("-c").arg(change);
    }
    let out = import
        .arg("-c")
        .arg(format!("ENV {MARKER_ENV}={marker}"))
        .args(["-", recipe.tag])
        .stdin(tar.stdout.take().expect("piped"))
        .output()
        .context("running docker import")?;
    let tar_status = tar.wait().context("waiting for tar")?;
    if !tar_status.success() {
        bail!("tar of {} failed ({tar_status})", rootfs.display());
    }
    if !out.status.success() {
        bail!(
            "docker import {} failed: {}",
            recipe.tag,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `tag`'s size in MB, as `docker image inspect` gives it.
fn size_mb(tag: &str) -> Option<u64> {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Size}}", tag])
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .ok()?
            / 1_000_000,
    )
}

// ---------------------------------------------------------------------------
// The Debian mirror apt uses.

/// One `deb` source: its URI and suites.
#[derive(Debug, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    pub suites: Vec<String>,
}

/// The mirror to debootstrap `suite` from: `$COVTOOLS_DEBIAN_MIRROR`, else
/// from apt's sources ([`pick_mirror`]).
pub fn debian_mirror(suite: &str) -> anyhow::Result<String> {
    if let Some(m) = std::env::var_os("COVTOOLS_DEBIAN_MIRROR") {
        return Ok(m.to_string_lossy().into_owned());
    }
    let etc = Path::new("/etc/apt");
    let mut files = vec![etc.join("sources.list")];
    let mut listed: Vec<PathBuf> = fs::read_dir(etc.join("sources.list.d"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    listed.sort();
    files.extend(listed);
    let mut sources = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        match file.extension().and_then(OsStr::to_str) {
            Some("sources") => sources.extend(sources_deb822(&text)),
            Some("list") => sources.extend(sources_one_line(&text)),
            _ => {}
        }
    }
    pick_mirror(&sources, suite).with_context(|| {
        format!(
            "no Debian mirror for {suite} in apt's sources ({}, sources.list.d/*.sources and *.list); set COVTOOLS_DEBIAN_MIRROR",
            files[0].display()
        )
    })
}

/// The `deb` sources of a deb822 file (`Types:`, `URIs:`, `Suites:`,
/// `Enabled:` stanzas separated by blank lines).
pub fn sources_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // A continuation line.
                if let Some((_, v)) = fields.last_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let is_deb = get("types").split_whitespace().any(|t| t == "deb");
        if !is_deb || get("enabled").eq_ignore_ascii_case("no") {
            continue;
        }
        let suites: Vec<String> = get("suites").split_whitespace().map(String::from).collect();
        for uri in get("uris").split_whitespace() {
            out.push(Source {
                uri: uri.to_string(),
                suites: suites.clone(),
            });
        }
    }
    out
}

/// The `deb` sources of a one-line-style file (`deb [opts] URI SUITE COMP…`).
pub fn sources_one_line(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut line = line.split('#').next().unwrap_or("").to_string();
        // Options, possibly over several words: `[arch=amd64 signed-by=…]`.
        if let (Some(a), Some(b)) = (line.find('['), line.find(']')) {
            if a < b {
                line.replace_range(a..=b, " ");
            }
        }
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let uri = words.next();
        if let (Some(uri), Some(suite)) = (uri, words.next()) {
            out.push(Source {
                uri: uri.to_string(),
                suites: vec![suite.to_string()],
            });
        }
    }
    out
}

/// The source that serves `suite` itself; else the first of a release's
/// main archive (a suite without `-updates`, `-security`, …), which carries
/// the other releases too. Only URIs debootstrap fetches from.
pub fn pick_mirror(sources: &[Source], suite: &str) -> Option<String> {
    let usable: Vec<&Source> = sources
        .iter()
        .filter(|s| {
            ["http://", "https://", "file:/"]
                .iter()
                .any(|p| s.uri.starts_with(p))
        })
        .collect();
    let exact = usable.iter().find(|s| s.suites.iter().any(|x| x == suite));
    let main = || {
        usable.iter().find(|s| {
            s.suites
                .iter()
                .any(|x| !x.contains('-') && !x.contains('/'))
        })
    };
    exact.or_else(main).map(|s| s.uri.clone())
}

// ---------------------------------------------------------------------------
// Privileged steps.

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program`, through sudo unless we are root (debootstrap, chroot and the
/// files it makes need root).
fn as_root(program: impl AsRef<OsStr>) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.arg(program);
        c
    }
}

fn run_ok(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// debootstrap, installed with apt-get when missing (after `apt-get
/// update` when the first install fails: a fresh machine has no lists).
fn ensure_debootstrap() -> anyhow::Result<PathBuf> {
    // /usr/sbin is not on every user's PATH.
    let find = || {
        which::which("debootstrap")
            .ok()
            .or_else(|| Some(PathBuf::from("/usr/sbin/debootstrap")).filter(|p| p.is_file()))
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    eprintln!("dep-images: installing debootstrap with apt-get");
    let install = || {
        as_root("apt-get")
            .args(["install", "-y", "-qq", "debootstrap"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .context("running apt-get install debootstrap")
    };
    if !install()?.success() {
        run_ok(as_root("apt-get").args(["update", "-qq"]), "apt-get update")?;
        let status = install()?;
        if !status.success() {
            bail!("apt-get install debootstrap failed ({status})");
        }
    }
    find().context("debootstrap is still missing after apt-get install debootstrap")
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Removes a work directory whose root filesystem may still have
/// something mounted (debootstrap mounts /proc and /sys inside while it
/// runs; one that was killed leaves them): those are unmounted first, and
/// `rm --one-file-system` never descends into a mount left anyway.
fn remove_tree(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let mut mounts = mounts_under(&dir);
    // The deepest first.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for m in &mounts {
        run_ok(as_root("umount").arg("-l").arg(m), "umount")?;
    }
    run_ok(
        as_root("rm").args(["-rf", "--one-file-system"]).arg(&dir),
        "removing the root filesystem",
    )
}

/// The mount points at or below `dir` (/proc/self/mountinfo's fifth field,
/// where a blank is `\040` and a backslash `\134`).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ").replace("\\134", "\\")))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// The work directories of processes that are gone (killed mid-build).
fn remove_leftovers(work: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(work).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.rsplit('-').next().unwrap_or("");
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            remove_tree(&entry.path())?;
        }
    }
    Ok(())
}
