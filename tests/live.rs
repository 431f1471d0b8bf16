//! The harness (tools/harness) and the two build kinds: the harness compiles
//! under every go.mod language version, is embedded in the xtask, serves the
//! killswitch contract (covcore::contract), and the cover kind (`go build
//! -cover` of the real main) gives exactly the blocks of a plain `go build
//! -cover`, live snapshots, resets and counters on SIGTERM. Real Go, real
//! processes, `go tool covdata` as the oracle.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use covcore::contract;
use covjob::build_services::{self, BuildKind, BuildOptions, Built, Harness, ServiceBuild};

use crate::util::cover::notify_module;
use crate::util::go::covdata_textfmt;
use crate::util::services::{free_addr, Proc};
use crate::util::Dir;

mod cover_kind;
mod harness;
mod phases;

// ---------------------------------------------------------------------------
// Helpers: modules, builds, processes, HTTP, `go tool covdata`.

/// A one-service module with the given go.mod `go` line, written only with
/// what Go 1.16 accepts.
pub(super) const OLD_STYLE_MAIN: &str = r#"package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	if err := http.ListenAndServe(*addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
"#;

pub(super) fn write_module(dir: &Dir, name: &str, go_line: &str) -> PathBuf {
    dir.create(
        format!("{name}/go.mod"),
        format!("module example.com/{name}\n\ngo {go_line}\n"),
    );
    dir.create(format!("{name}/main.go"), OLD_STYLE_MAIN);
    dir.path(name)
}

pub(super) fn go_version(go: &Path) -> String {
    let out = Command::new(go)
        .args(["env", "GOVERSION"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("go")
        .to_string()
}

/// One build_services call: `services` are (name, package, kind).
pub(super) fn build(
    go: &Path,
    module: &Path,
    out: PathBuf,
    mode: &str,
    coverpkg: &str,
    services: &[(&str, &str, BuildKind)],
) -> anyhow::Result<Vec<Built>> {
    build_services::build_services(&BuildOptions {
        go: go.to_path_buf(),
        module_dir: module.to_path_buf(),
        out_dir: out,
        cover_mode: mode.into(),
        cover_packages: coverpkg.into(),
        services: services
            .iter()
            .map(|(name, package, kind)| ServiceBuild {
                name: name.to_string(),
                package: package.to_string(),
                harness: Harness::Covtools(*kind),
            })
            .collect(),
        jobs: 2,
    })
}

pub(super) struct Answer {
    pub(super) code: u16,
    pub(super) head: String,
    pub(super) body: String,
}

impl Answer {
    pub(super) fn harness(&self) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(contract::HARNESS_HEADER)
                .then_some(v.trim())
        })
    }
}

/// A minimal HTTP/1.0 request on loopback.
pub(super) fn http(method: &str, addr: &str, path: &str, body: &str) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(Answer {
        code,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// GET, retrying while nothing listens yet.
pub(super) fn get(addr: &str, path: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http("GET", addr, path, "") {
            Ok(a) => return a,
            Err(e) if Instant::now() > deadline => panic!("GET http://{addr}{path}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Starts a built binary the way the wrapper does: the test kind with the
/// harness test and a text profile, the cover kind as the real main with
/// GOCOVERDIR.
pub(super) fn start(
    dir: &Dir,
    built: &Built,
    killswitch: &str,
    cover: &Path,
    args: &[&str],
) -> Proc {
    let mut cmd = Command::new(&built.binary);
    cmd.env(contract::ENV_KILLSWITCH_ADDR, killswitch);
    match built.kind {
        BuildKind::Test => {
            fs::create_dir_all(cover).unwrap();
            cmd.arg(format!("-test.run=^{}$", built.test))
                .arg(format!(
                    "-test.coverprofile={}",
                    cover.join("profile.out").display()
                ))
                .arg("--");
        }
        BuildKind::Cover => {
            fs::create_dir_all(cover).unwrap();
            cmd.env("GOCOVERDIR", cover);
        }
    }
    cmd.args(args);
    Proc::spawn(dir, &built.name, &mut cmd)
}

/// The blocks of a text profile (file:positions numStmts) and the covered ones.
pub(super) fn blocks(profile: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut all = BTreeSet::new();
    let mut covered = BTreeSet::new();
    for line in profile.lines().skip(1).filter(|l| !l.is_empty()) {
        let (block, count) = line.rsplit_once(' ').unwrap();
        all.insert(block.to_string());
        if count != "0" {
            covered.insert(block.to_string());
        }
    }
    (all, covered)
}

pub(super) fn files_of(blocks: &BTreeSet<String>) -> BTreeSet<String> {
    blocks
        .iter()
        .map(|b| b.split_once(':').unwrap().0.to_string())
        .collect()
}

/// The complete binary coverage files of a directory (names only).
pub(super) fn covfiles(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.starts_with(contract::COVMETA_PREFIX)
                        || n.starts_with(contract::COVCOUNTERS_PREFIX)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The reader's rule (covcore::contract): every meta-data file, and per
/// (meta hash, pid) only the counter file with the largest nanotime; copied
/// into `to`.
pub(super) fn newest_per_process(from: &Path, to: &Path) -> PathBuf {
    fs::create_dir_all(to).unwrap();
    let mut newest: std::collections::BTreeMap<(String, String), (u64, String)> =
        Default::default();
    for name in covfiles(from) {
        if name.starts_with(contract::COVMETA_PREFIX) {
            fs::copy(from.join(&name), to.join(&name)).unwrap();
            continue;
        }
        let parts: Vec<&str> = name.split('.').collect();
        let (hash, pid, nanos) = (parts[1], parts[2], parts[3].parse::<u64>().unwrap());
        let slot = newest
            .entry((hash.into(), pid.into()))
            .or_insert((0, String::new()));
        if nanos >= slot.0 {
            *slot = (nanos, name.clone());
        }
    }
    for (_, name) in newest.values() {
        fs::copy(from.join(name), to.join(name)).unwrap();
    }
    to.to_path_buf()
}
