//! The target forms, their canonical text (what covkill prints and covpull
//! reads back) and the file-name stem a target's profiles are written under.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Context};

/// The forms, with examples, for the tools' `--help`.
pub const FORMS_HELP: &str = "\
Targets (as arguments, or on stdin one per line; blank lines and #comments are skipped):
  docker:NAME                      a Docker container, by name or id
                                     docker:orders
  k8s:NAMESPACE/POD[:CONTAINER]    a Kubernetes pod (container: the suffix, else --container,
                                   else the pod's default container)
                                     k8s:shop/orders-7d9f8-x2x5q
                                     k8s:shop/orders-7d9f8-x2x5q:server
  k8s-selector:NAMESPACE/SELECTOR[:CONTAINER]
                                   every running pod matching a label selector (the replicas
                                   of one deployment), expanded by `kubectl get pods -n NS
                                   -l SEL --field-selector=status.phase=Running -o name`
                                     k8s-selector:shop/app=orders
                                     k8s-selector:shop/app=orders,tier=backend:server
  local:ADDR=DIR                   a local process: its killswitch address (HOST:PORT, or :PORT for
                                   127.0.0.1) and its cover directory
                                     local::19999=/tmp/run/orders/cover
                                     local:127.0.0.1:19001=target/cover/run/orders
  dir:DIR                          a cover directory alone (covpull only)
                                     dir:/tmp/run/orders/cover
  swarm:SERVICE                    every running task of a Docker Swarm service on this node,
                                   each as docker:CONTAINER (its container); tasks running on
                                   other nodes are reported by name, with what to do
                                     swarm:shop_orders

HOW THEY ARE REACHED:
  A running container of the local Docker engine (its socket at hand, see below) is asked at its
  own address, with no exec: covkill lists its cover directory (GET /covtools/list on the
  killswitch port), stops it (GET /covkill) and waits until the service's next run lists the new
  profile; covpull reads the files (GET /covtools/files, or /covtools/snapshot with --flush).
  Where that address cannot be reached (rootless engines), the harness is older than those paths
  or --cover-dir is given, the exec transport below is used instead.
  Containers and pods go through one exec transport running the same `sh -c` scripts: for Docker
  an exec through the Engine API on its socket (DOCKER_HOST unix://…, else /var/run/docker.sock;
  the `docker exec` CLI for remote engines and contexts, or with COVTOOLS_DOCKER=cli), for pods
  `kubectl exec -n NS POD [-c CONTAINER] -- sh -c …`: the image needs sh, cat and wget or curl
  (busybox and alpine have them). The killswitch request is sent from
  inside the container to 127.0.0.1, so no port has to be published or routable from this host
  (remote engines, Docker Desktop and clusters work the same). The cover directory is the
  container's $COVER_DIR (default /cover) unless --cover-dir is given; the killswitch port is the
  one in the container's $COVKILL_ADDR (default :19999) unless --port is given. Complete profiles
  are exactly the files named cover-<n>.out, and Go's binary coverage files covmeta.<hash> and
  covcounters.<hash>.<pid>.<nanotime>; anything else (the temporary names starting with '.' of a
  profile or snapshot still being written) is ignored. A stopped Docker container is read with
  `docker cp`. Local targets are reached directly from this process: an HTTP GET to ADDR, and
  the directory read in place. A swarm: target lists the service's tasks (`docker service ps` on a
  manager; a worker sees only its own) and takes this node's containers by their label
  com.docker.swarm.service.name; each is then reached as a docker: target.";

/// One thing that runs an instrumented service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A Docker container, by name or id.
    Docker { container: String },
    /// One Kubernetes pod; `container: None` means the pod's default one.
    Pod {
        namespace: String,
        pod: String,
        container: Option<String>,
    },
    /// Every pod a label selector matches (expanded before use).
    Selector {
        namespace: String,
        selector: String,
        container: Option<String>,
    },
    /// A local process (`addr` is its killswitch) or, without `addr`, a bare
    /// cover directory.
    Local { addr: Option<String>, dir: PathBuf },
    /// Every running task of a Swarm service (expanded before use).
    Swarm { service: String },
}

impl Target {
    /// Parses one target. `default_container` applies to pod and selector
    /// forms that do not name a container.
    pub fn parse(text: &str, default_container: Option<&str>) -> anyhow::Result<Target> {
        let text = text.trim();
        let expected = "expected docker:NAME, k8s:NAMESPACE/POD[:CONTAINER], \
                        k8s-selector:NAMESPACE/SELECTOR[:CONTAINER], local:ADDR=DIR, dir:DIR or swarm:SERVICE (see --help)";
        let (kind, rest) = text
            .split_once(':')
            .with_context(|| format!("{text:?}: not a target: {expected}"))?;
        let container = |c: Option<&str>| -> anyhow::Result<Option<String>> {
            match c.or(default_container) {
                Some("") => bail!("{text:?}: empty container name"),
                Some(c) if !is_dns_label(c) => {
                    bail!("{text:?}: {c:?} is not a valid container name")
                }
                c => Ok(c.map(str::to_string)),
            }
        };
        let target = match kind {
            "docker" => {
                if rest.is_empty()
                    || rest.starts_with('-')
                    || rest.contains(|c: char| c.is_whitespace() || c == '/')
                {
                    bail!("{text:?}: expected docker:NAME with a container name or id");
                }
                Target::Docker {
                    container: rest.to_string(),
                }
            }
            "k8s" => {
                let (namespace, pod) = rest
                    .split_once('/')
                    .with_context(|| format!("{text:?}: expected k8s:NAMESPACE/POD[:CONTAINER]"))?;
                let (pod, c) = match pod.split_once(':') {
                    Some((p, c)) => (p, Some(c)),
                    None => (pod, None),
                };
                if !is_dns_label(namespace) {
                    bail!("{text:?}: {namespace:?} is not a valid namespace");
                }
                if pod.is_empty() || !pod.split('.').all(is_dns_label) {
                    bail!("{text:?}: {pod:?} is not a valid pod name");
                }
                Target::Pod {
                    namespace: namespace.into(),
                    pod: pod.into(),
                    container: container(c)?,
                }
            }
            "k8s-selector" => {
                let (namespace, selector) = rest.split_once('/').with_context(|| {
                    format!("{text:?}: expected k8s-selector:NAMESPACE/SELECTOR[:CONTAINER]")
                })?;
                // Label keys may hold '/' (app.kubernetes.io/name) but never ':'.
                let (selector, c) = match selector.rsplit_once(':') {
                    Some((s, c)) => (s, Some(c)),
                    None => (selector, None),
                };
                if !is_dns_label(namespace) {
                    bail!("{text:?}: {namespace:?} is not a valid namespace");
                }
                if selector.trim().is_empty() {
                    bail!("{text:?}: empty label selector");
                }
                Target::Selector {
                    namespace: namespace.into(),
                    selector: selector.into(),
                    container: container(c)?,
                }
            }
            "local" => {
                let (addr, dir) = rest.split_once('=').with_context(|| {
                    format!("{text:?}: expected local:ADDR=DIR, e.g. local::19999=/tmp/cover")
                })?;
                if dir.is_empty() {
                    bail!("{text:?}: empty cover directory");
                }
                Target::Local {
                    addr: Some(normalize_addr(addr).with_context(|| format!("{text:?}"))?),
                    dir: dir.into(),
                }
            }
            "dir" => {
                if rest.is_empty() {
                    bail!("{text:?}: empty directory");
                }
                Target::Local {
                    addr: None,
                    dir: rest.into(),
                }
            }
            "swarm" => {
                if !is_swarm_name(rest) {
                    bail!("{text:?}: expected swarm:SERVICE with a service name (letters, digits, _ . -)");
                }
                Target::Swarm {
                    service: rest.to_string(),
                }
            }
            _ => bail!("{text:?}: unknown target kind {kind:?}: {expected}"),
        };
        Ok(target)
    }

    /// A name usable in a file name, unique per target within one run (the
    /// separators are characters the names themselves cannot hold).
    pub fn file_stem(&self) -> String {
        match self {
            Target::Docker { container } => format!("docker_{container}"),
            Target::Pod {
                namespace,
                pod,
                container,
            } => match container {
                Some(c) => format!("k8s_{namespace}_{pod}_{c}"),
                None => format!("k8s_{namespace}_{pod}"),
            },
            Target::Selector {
                namespace,
                selector,
                ..
            } => format!("k8s_{namespace}_{}", sanitize(selector)),
            Target::Local { dir, .. } => format!("local_{}", sanitize(&dir.to_string_lossy())),
            Target::Swarm { service } => format!("swarm_{service}"),
        }
    }
}

impl fmt::Display for Target {
    /// The canonical form: `Target::parse` reads it back unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Docker { container } => write!(f, "docker:{container}"),
            Target::Pod {
                namespace,
                pod,
                container: Some(c),
            } => write!(f, "k8s:{namespace}/{pod}:{c}"),
            Target::Pod {
                namespace,
                pod,
                container: None,
            } => write!(f, "k8s:{namespace}/{pod}"),
            Target::Selector {
                namespace,
                selector,
                container: Some(c),
            } => {
                write!(f, "k8s-selector:{namespace}/{selector}:{c}")
            }
            Target::Selector {
                namespace,
                selector,
                container: None,
            } => write!(f, "k8s-selector:{namespace}/{selector}"),
            Target::Local { addr: Some(a), dir } => write!(f, "local:{a}={}", dir.display()),
            Target::Local { addr: None, dir } => write!(f, "dir:{}", dir.display()),
            Target::Swarm { service } => write!(f, "swarm:{service}"),
        }
    }
}

/// `:PORT` means loopback; `HOST:PORT` and `[V6]:PORT` are kept.
fn normalize_addr(addr: &str) -> anyhow::Result<String> {
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("killswitch address {addr:?}: expected HOST:PORT or :PORT"))?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .with_context(|| format!("killswitch address {addr:?}: {port:?} is not a port number"))?;
    Ok(if host.is_empty() {
        format!("127.0.0.1:{port}")
    } else {
        addr.to_string()
    })
}

/// A DNS label as Kubernetes uses it for namespaces and containers.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Swarm service name as Docker accepts it (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`,
/// at most 63 characters: it is a DNS name on the service's networks).
fn is_swarm_name(s: &str) -> bool {
    s.len() <= 63
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A path or selector as part of a file name: `/` becomes `_`, other
/// characters outside `[A-Za-z0-9.-]` become `-`, and leading `_` and `.`
/// go. When that loses more than the leading `/` (a space, a `_`, a `./`),
/// a hash of the whole text is appended, so two different texts never share
/// a name (`/a/b c` and `/a/b-c` would otherwise both be `a_b-c`).
fn sanitize(s: &str) -> String {
    let mut lossy = false;
    let mut out: String = s
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => c,
            '/' => '_',
            _ => {
                lossy = true;
                '-'
            }
        })
        .collect();
    let lead = out.len() - out.trim_start_matches(['_', '.']).len();
    lossy |= out[..lead].contains('.') || lead > usize::from(s.starts_with('/'));
    out.drain(..lead);
    if lossy {
        // FNV-1a: the same name in every run and on every machine.
        let hash = s.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        out.push_str(&format!("-{hash:08x}"));
    }
    out
}

/// Durations on the command line: anything `humantime` reads (`500ms`,
/// `1.5s`, `2m`, `1h 30m`), or a plain number of seconds (`2`, `0.5`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let d = match s.parse::<f64>() {
        Ok(secs) => std::time::Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{s:?}: must be a positive number of seconds"))?,
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("{s:?}: {e}, expected a duration such as 500ms, 10s or 2m"))?,
    };
    if d.is_zero() {
        return Err(format!("{s:?}: must be positive"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> Target {
        let t = Target::parse(text, None).unwrap();
        assert_eq!(t.to_string(), text);
        assert_eq!(Target::parse(&t.to_string(), None).unwrap(), t);
        t
    }

    #[test]
    fn forms() {
        assert_eq!(
            roundtrip("docker:orders"),
            Target::Docker {
                container: "orders".into()
            }
        );
        assert_eq!(
            roundtrip("k8s:shop/orders-1:server"),
            Target::Pod {
                namespace: "shop".into(),
                pod: "orders-1".into(),
                container: Some("server".into())
            }
        );
        roundtrip("k8s:shop/orders-1");
        assert_eq!(
            roundtrip("k8s-selector:shop/app.kubernetes.io/name=orders,tier in (a,b):server"),
            Target::Selector {
                namespace: "shop".into(),
                selector: "app.kubernetes.io/name=orders,tier in (a,b)".into(),
                container: Some("server".into())
            }
        );
        roundtrip("local:127.0.0.1:19999=/tmp/c");
        roundtrip("dir:/tmp/c");
        assert_eq!(
            roundtrip("swarm:shop_orders"),
            Target::Swarm {
                service: "shop_orders".into()
            }
        );
        assert_eq!(
            Target::parse("local::19001=/x", None).unwrap().to_string(),
            "local:127.0.0.1:19001=/x"
        );
        assert_eq!(
            Target::parse("k8s:a/b", Some("c")).unwrap().to_string(),
            "k8s:a/b:c"
        );
        assert_eq!(
            Target::parse("k8s:a/b:d", Some("c")).unwrap().to_string(),
            "k8s:a/b:d"
        );
    }

    #[test]
    fn bad_forms() {
        for bad in [
            "orders",
            "docker:",
            "k8s:shop",
            "k8s:Shop/x",
            "k8s:a/b:",
            "local:19999=/x",
            "local::0=/x",
            "local::1",
            "ftp:x",
            "swarm:",
            "swarm:-x",
            "swarm:a/b",
            "swarm:a:b",
        ] {
            assert!(Target::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn stems() {
        assert_eq!(
            Target::parse("docker:a-1", None).unwrap().file_stem(),
            "docker_a-1"
        );
        assert_eq!(
            Target::parse("k8s:n/p.q:c", None).unwrap().file_stem(),
            "k8s_n_p.q_c"
        );
        assert_eq!(
            Target::parse("dir:/tmp/run/x", None).unwrap().file_stem(),
            "local_tmp_run_x"
        );
        // What the mapping loses is made up for by a hash of the whole path.
        let stem = |t: &str| Target::parse(t, None).unwrap().file_stem();
        let lossy = [
            "dir:/a/b c",
            "dir:/a/b_c",
            "dir:./a/b-c",
            "dir:a/b-c/",
            "dir://a/b-c",
        ];
        let mut stems: Vec<String> = lossy.iter().map(|t| stem(t)).collect();
        stems.push(stem("dir:/a/b-c"));
        assert_eq!(stems[5], "local_a_b-c");
        for s in &stems[..5] {
            assert!(s.starts_with("local_a_b-c"), "{s}");
        }
        let distinct: std::collections::BTreeSet<&String> = stems.iter().collect();
        assert_eq!(distinct.len(), stems.len(), "{stems:?}");
        assert_eq!(stem("dir:/a/b c"), stem("dir:/a/b c"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2").unwrap().as_secs(), 2);
        assert_eq!(parse_duration("1.5s").unwrap().as_millis(), 1500);
        assert_eq!(parse_duration("0.25").unwrap().as_millis(), 250);
        assert_eq!(parse_duration("1m 30s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("3h").unwrap().as_secs(), 3 * 3600);
        for bad in ["0", "0s", "-1", "-2s", "3x", "", "inf", "NaN", "1e400"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.starts_with(&format!("{bad:?}: ")), "{e}");
        }
    }
}
