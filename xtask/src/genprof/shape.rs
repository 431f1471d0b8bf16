//! The generator's file and block shapes: realistic monorepo paths and, per
//! file, a universe of non-overlapping blocks with increasing coordinates.
//! Every draw comes from a `PyRandom` seeded as the reference seeds it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::pyrandom::PyRandom;

const SVC: &[&str] = &[
    "payments",
    "billing",
    "auth",
    "users",
    "orders",
    "catalog",
    "search",
    "ledger",
    "gateway",
    "notify",
    "inventory",
    "shipping",
    "pricing",
    "reports",
    "profile",
    "session",
    "audit",
    "media",
    "feeds",
    "ratings",
    "checkout",
    "fraud",
    "tax",
    "kyc",
];
const PKG: &[&str] = &[
    "handler",
    "store",
    "service",
    "model",
    "grpc",
    "http",
    "cache",
    "queue",
    "config",
    "metrics",
    "repo",
    "worker",
    "client",
    "auth",
    "codec",
    "validate",
    "events",
    "jobs",
    "migrate",
    "retry",
    "ratelimit",
    "tracing",
    "util",
    "api",
];
const FILE: &[&str] = &[
    "handler",
    "server",
    "client",
    "types",
    "store",
    "query",
    "convert",
    "validate",
    "middleware",
    "errors",
    "options",
    "encode",
    "decode",
    "cache",
    "sync",
    "batch",
    "router",
    "helpers",
    "limits",
    "stream",
    "retry",
    "parse",
    "format",
    "index",
];
const SUFFIX: &[&str] = &["", "_v2", "_impl", "_util", "_gen", "_ext"];

/// F unique realistic file paths, grouped by service and package, sorted.
pub fn file_paths(f: usize, seed: u64) -> Vec<String> {
    let mut rng = PyRandom::from_str_seed(&format!("paths-{seed}"));
    let nsvc = ((f as f64).sqrt() / 2.0).round_ties_even() as usize;
    let nsvc = nsvc.clamp(1, SVC.len() * 4);
    let svcs = (0..nsvc)
        .map(|i| {
            let n = i / SVC.len();
            format!(
                "{}{}",
                SVC[i % SVC.len()],
                if n == 0 {
                    String::new()
                } else {
                    (n + 1).to_string()
                }
            )
        })
        .collect::<Vec<_>>();
    let mut paths = Vec::with_capacity(f);
    let mut seen = std::collections::HashSet::new();
    while paths.len() < f {
        let s = rng.choice(&svcs).clone();
        let top = rng.random();
        let mut pkgdir = if top < 0.8 {
            format!("services/{s}/internal/{}", rng.choice(PKG))
        } else if top < 0.9 {
            format!("services/{s}/cmd/{s}")
        } else {
            format!("pkg/{}", rng.choice(PKG))
        };
        if rng.random() < 0.3 {
            pkgdir = format!("{pkgdir}/{}", rng.choice(PKG));
        }
        let file = rng.choice(FILE);
        let suffix = rng.choice(SUFFIX);
        let mut p = format!("github.com/acme/monorepo/{pkgdir}/{file}{suffix}.go");
        if seen.contains(&p) {
            p = format!("{}_{}.go", &p[..p.len() - 3], paths.len());
            if seen.contains(&p) {
                continue;
            }
        }
        seen.insert(p.clone());
        paths.push(p);
    }
    paths.sort();
    paths
}

/// `n` non-overlapping blocks with increasing coordinates, as
/// `sl.sc,el.ec ns ` (the line without its count and file).
pub fn file_blocks(path_idx: usize, n: usize, seed: u64) -> Vec<String> {
    let mut rng = PyRandom::from_str_seed(&format!("blocks-{seed}-{path_idx}"));
    let mut out = Vec::with_capacity(n);
    let mut line = rng.randint(8, 40);
    let mut col = 0;
    for _ in 0..n {
        let r = rng.random();
        let (sl, sc) = if r < 0.25 && col != 0 {
            (line, col + rng.randint(0, 3))
        } else {
            (line + rng.randint(1, 6), rng.randint(2, 70))
        };
        let span = *rng.choice(&[0, 0, 1, 1, 2, 2, 3, 4, 5, 8, 12, 20]);
        let el = sl + span;
        let ec = if span == 0 {
            rng.randint(sc + 2, sc + 60)
        } else {
            rng.randint(2, 90)
        };
        let ns = rng.randint(1, 8);
        out.push(format!("{sl}.{sc},{el}.{ec} {ns} "));
        (line, col) = (el, ec);
    }
    out
}

/// One file's universe of block slots: the line prefixes and which slots are
/// shared (`unique_slots` is `None` when every slot is shared).
pub(super) struct FilePlan {
    text: String,
    ends: Vec<usize>,
    pub(super) shared: Vec<usize>,
    pub(super) unique_slots: Option<Vec<usize>>,
}

impl FilePlan {
    pub(super) fn new(fi: usize, path: &str, usize_: usize, nshared: usize, seed: u64) -> FilePlan {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(usize_);
        for b in file_blocks(fi, usize_, seed) {
            let _ = write!(text, "{path}:{b}");
            ends.push(text.len());
        }
        let (shared, unique_slots) = if nshared < usize_ {
            let mut srng = PyRandom::from_str_seed(&format!("shared-{seed}-{fi}"));
            let shared = srng
                .sample(usize_, nshared)
                .into_iter()
                .collect::<BTreeSet<_>>();
            let uslots = (0..usize_).filter(|s| !shared.contains(s)).collect();
            (shared.into_iter().collect(), Some(uslots))
        } else {
            (Vec::new(), None)
        };
        FilePlan {
            text,
            ends,
            shared,
            unique_slots,
        }
    }

    pub(super) fn prefix(&self, slot: usize) -> &[u8] {
        let start = if slot == 0 { 0 } else { self.ends[slot - 1] };
        &self.text.as_bytes()[start..self.ends[slot]]
    }
}
