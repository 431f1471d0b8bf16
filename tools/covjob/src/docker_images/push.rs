//! `--push REGISTRY[/NAMESPACE]`: the service images tagged
//! `REGISTRY/NAMESPACE/SERVICE:TAG` and pushed, for a cluster that pulls
//! them (a chart's `image:`, a Kustomize edit, a Swarm of several nodes).
//! TAG is the module's short git commit (a dirty tree adds the image's
//! content hash), else the content hash of the image's build context, so
//! that a tag never names two different images. A failed push says what to
//! do about it: log in, trust the registry, reach it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use covcore::process::process;

/// The file of a run's pushed references, one per line, in its output
/// directory.
pub const PUSHED_FILE: &str = "pushed-images.txt";

/// How long one `docker push` may take (layers of tens of MB over a slow
/// link).
const PUSH_TIMEOUT: Duration = Duration::from_secs(900);

/// Where images go: a registry host (with its port) and an optional
/// namespace (`team/shop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub registry: String,
    pub namespace: Option<String>,
}

impl Destination {
    /// `REGISTRY[/NAMESPACE]`. The first part must look like a registry
    /// host, as Docker tells one from a Docker Hub user: it has a `.` or a
    /// `:`, or is `localhost`.
    pub fn parse(text: &str) -> anyhow::Result<Destination> {
        let text = text.trim().trim_end_matches('/');
        let (registry, namespace) = match text.split_once('/') {
            Some((r, n)) => (r, Some(n)),
            None => (text, None),
        };
        let host_like = registry.contains('.') || registry.contains(':') || registry == "localhost";
        if registry.is_empty() || !host_like || registry.contains(char::is_whitespace) {
            bail!(
                "--push {text:?}: expected REGISTRY[/NAMESPACE] starting with a registry host \
                 (registry.example.com, 127.0.0.1:5000, localhost:5000; docker.io/NAME for Docker Hub)"
            );
        }
        if let Some(ns) = namespace {
            let ok = ns.split('/').all(|part| {
                !part.is_empty()
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
                    && part.as_bytes()[0].is_ascii_alphanumeric()
            });
            if !ok {
                bail!("--push {text:?}: the namespace {ns:?} must be lowercase letters, digits, . _ - and /");
            }
        }
        Ok(Destination {
            registry: registry.to_string(),
            namespace: namespace.map(str::to_string),
        })
    }

    /// `REGISTRY/NAMESPACE/SERVICE:TAG`.
    pub fn reference(&self, service: &str, tag: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{service}:{tag}", self.registry),
            None => format!("{}/{service}:{tag}", self.registry),
        }
    }
}

/// A tag as Docker takes it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> anyhow::Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        bail!("--tag {tag:?}: expected letters, digits, _ . - (not first), at most 128");
    }
    Ok(())
}

/// The tag of one image: `given`, else the module's short git commit
/// (`<commit>-dirty-<hash>` when the module has uncommitted changes), else
/// the content hash of its build context.
pub fn default_tag(module_dir: &Path, context: &Path) -> anyhow::Result<String> {
    match git_commit(module_dir) {
        Some((commit, false)) => Ok(commit),
        Some((commit, true)) => Ok(format!("{commit}-dirty-{}", &context_hash(context)?[..8])),
        None => context_hash(context),
    }
}

/// The module's short commit and whether its tree has changes; `None` when
/// the module is not tracked by git (or git is missing).
fn git_commit(module_dir: &Path) -> Option<(String, bool)> {
    let git = |args: &[&str]| -> Option<String> {
        process("git")
            .arg("-C")
            .arg(module_dir)
            .args(args)
            .stdin_null()
            .read()
            .ok()
            .map(|out| out.trim().to_string())
    };
    // A module inside a checkout but not part of it (a copy under an
    // ignored folder) has no commit of its own.
    git(&["ls-files", "--error-unmatch", "go.mod"])?;
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let status = git(&["status", "--porcelain", "--", "."])?;
    Some((commit, !status.is_empty()))
}

/// The first 12 hex digits of a SHA-256 over a directory tree: every
/// entry's path, kind, permissions and content, in path order.
pub fn context_hash(dir: &Path) -> anyhow::Result<String> {
    let mut paths = Vec::new();
    walk(dir, &mut paths).with_context(|| format!("hashing {}", dir.display()))?;
    paths.sort();
    let mut h = Sha256::new();
    for path in &paths {
        use std::os::unix::fs::PermissionsExt;
        let rel = path.strip_prefix(dir).unwrap_or(path);
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update([0]);
        let meta = fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() {
            h.update(b"l");
            h.update(fs::read_link(path)?.as_os_str().as_encoded_bytes());
        } else if meta.is_dir() {
            h.update(format!("d{:o}", meta.permissions().mode() & 0o7777));
        } else {
            h.update(format!(
                "f{:o} {}\n",
                meta.permissions().mode() & 0o7777,
                meta.len()
            ));
            let mut f = fs::File::open(path)?;
            std::io::copy(&mut f, &mut h)?;
        }
        h.update([0]);
    }
    let digest = h.finalize();
    Ok(digest.iter().take(6).map(|b| format!("{b:02x}")).collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        }
    }
    Ok(())
}

/// One image to push: the local name and the reference it is pushed as.
#[derive(Debug, Clone)]
pub struct ToPush {
    pub local: String,
    pub reference: String,
}

/// Tags and pushes every image (two at a time); the references, in order.
/// An error names the registry and what to do.
pub fn push(images: &[ToPush], dest: &Destination) -> anyhow::Result<Vec<String>> {
    let failures: Vec<String> = covcore::pool::map(images, 2, |img| {
        push_one(img, dest).err().map(|e| format!("{e:#}"))
    })
    .into_iter()
    .flatten()
    .collect();
    if !failures.is_empty() {
        // The same cause for every image (the registry is down) is said once.
        let mut distinct = failures.clone();
        distinct.dedup();
        if distinct.len() == 1 {
            match images.len() {
                1 => bail!("{}", distinct[0]),
                n if failures.len() == n => bail!("{} (all {n} images)", distinct[0]),
                _ => {}
            }
        }
        bail!(
            "{} of {} pushes failed: {}",
            failures.len(),
            images.len(),
            failures.join("\n")
        );
    }
    Ok(images.iter().map(|i| i.reference.clone()).collect())
}

fn push_one(img: &ToPush, dest: &Destination) -> anyhow::Result<()> {
    covtarget::docker::run_ok(
        &["tag", &img.local, &img.reference],
        Duration::from_secs(120),
    )?;
    let out = covtarget::docker::run(&["push", &img.reference], PUSH_TIMEOUT)?;
    if out.timed_out() {
        bail!(
            "docker push {}: no result within {:.0}s: is {} reachable and answering?",
            img.reference,
            PUSH_TIMEOUT.as_secs_f64(),
            dest.registry
        );
    }
    if !out.success() {
        bail!(
            "{}",
            explain(&dest.registry, &img.reference, &out.error_line())
        );
    }
    Ok(())
}

/// A failed push's message, with the registry named and what to do.
pub fn explain(registry: &str, reference: &str, msg: &str) -> String {
    let has = |words: &[&str]| words.iter().any(|w| msg.contains(w));
    let what = if has(&[
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
        "requested access to the resource is denied",
    ]) {
        format!(
            "not logged in to {registry}, or no push access there: run `docker login {registry}`"
        )
    } else if has(&["server gave HTTP response to HTTPS client"]) {
        format!(
            "{registry} serves plain HTTP, which the engine accepts only from loopback registries: \
             add \"{registry}\" to \"insecure-registries\" in /etc/docker/daemon.json and restart \
             the engine, or serve the registry over TLS"
        )
    } else if has(&["x509:", "certificate"]) {
        format!(
            "the engine does not trust {registry}'s TLS certificate: put its CA in \
             /etc/docker/certs.d/{registry}/ca.crt, or add it to \"insecure-registries\""
        )
    } else if has(&[
        "connection refused",
        "no such host",
        "i/o timeout",
        "no route to host",
        "network is unreachable",
        "connection reset",
        "dial tcp",
    ]) {
        format!(
            "{registry} is unreachable from the Docker engine: is the registry running and the \
             address right?"
        )
    } else {
        format!("pushing to {registry} failed")
    };
    format!("docker push {reference}: {what} (docker: {msg})")
}

/// Writes the references, one per line, to `<dir>/pushed-images.txt`.
pub fn write_list(dir: &Path, refs: &[String]) -> anyhow::Result<PathBuf> {
    let path = dir.join(PUSHED_FILE);
    covcore::output::write_to(Some(&path), |w| {
        for r in refs {
            writeln!(w, "{r}")?;
        }
        Ok(())
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = Destination::parse("127.0.0.1:5000/team/shop").unwrap();
        assert_eq!(d.registry, "127.0.0.1:5000");
        assert_eq!(
            d.reference("orders", "abc"),
            "127.0.0.1:5000/team/shop/orders:abc"
        );
        let d = Destination::parse("registry.example.com").unwrap();
        assert_eq!(d.reference("orders", "1"), "registry.example.com/orders:1");
        assert!(Destination::parse("localhost/x/").is_ok());
        for bad in [
            "myteam",
            "myteam/shop",
            "",
            "r.io/Team",
            "r.io//x",
            "r.io/-x",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "-a", ".a", "a/b", "a:b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
        check_tag("1a2b3c4-dirty-0f0f0f0f").unwrap();
    }

    #[test]
    fn push_errors_say_what_to_do() {
        let e = explain("r:1", "r:1/a:t", "no basic auth credentials");
        assert!(e.contains("`docker login r:1`"), "{e}");
        let e = explain(
            "172.17.0.1:5000",
            "x",
            "Get \"https://172.17.0.1:5000/v2/\": http: server gave HTTP response to HTTPS client",
        );
        assert!(
            e.contains("insecure-registries") && e.contains("\"172.17.0.1:5000\""),
            "{e}"
        );
        let e = explain(
            "127.0.0.1:9",
            "x",
            "Get \"http://127.0.0.1:9/v2/\": dial tcp 127.0.0.1:9: connect: connection refused",
        );
        assert!(e.contains("127.0.0.1:9 is unreachable"), "{e}");
        let e = explain("r.io", "x", "x509: certificate signed by unknown authority");
        assert!(e.contains("/etc/docker/certs.d/r.io/ca.crt"), "{e}");
    }

    #[test]
    fn context_hashes_follow_content() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("rootfs/app")).unwrap();
        fs::write(dir.path().join("Dockerfile"), "FROM x\n").unwrap();
        fs::write(dir.path().join("rootfs/app/a"), "1").unwrap();
        let a = context_hash(dir.path()).unwrap();
        assert_eq!(a.len(), 12);
        assert_eq!(a, context_hash(dir.path()).unwrap());
        fs::write(dir.path().join("rootfs/app/a"), "2").unwrap();
        assert_ne!(a, context_hash(dir.path()).unwrap());
    }
}
