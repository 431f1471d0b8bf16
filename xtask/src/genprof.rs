//! Synthetic Go coverage profiles shaped like a monorepo, for the benchmark:
//! a port of `../shared/bench/gen_profiles.py` (the reference) with the same
//! parameters, and the same bytes for the same arguments. The Python script
//! draws from `random.Random("<purpose>-<seed>…")` (Mersenne Twister seeded
//! with a string), so `PyRandom` below does exactly that, which makes the
//! reference itself the test of this port.
//!
//! Shapes (see the reference's docstring): P profiles, F files, B blocks per
//! file per profile; per file a universe of non-overlapping blocks with
//! increasing coordinates, of which `round(overlap*B)` are shared by every
//! profile and the rest unique to one profile (interleaved or contiguous);
//! `zero_frac` of the counts are 0, the others log-uniform in 1..10^6.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};
use sha2::{Digest, Sha512};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// Round-robin: profile k gets unique slots k, k+P, …
    Interleave,
    /// Profile k gets one contiguous run of unique slots.
    Contiguous,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Set,
    Count,
    Atomic,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Set => "set",
            Mode::Count => "count",
            Mode::Atomic => "atomic",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CountDist {
    Loguniform,
    Uniform,
}

/// The generator's parameters, named as the reference names them.
#[derive(Clone, Debug, clap::Args)]
pub struct Params {
    /// Number of profiles.
    #[arg(short = 'P')]
    pub profiles: usize,
    /// Number of files.
    #[arg(short = 'F')]
    pub files: usize,
    /// Blocks per file per profile.
    #[arg(short = 'B')]
    pub blocks: usize,
    /// Fraction of blocks shared by all profiles (0..1).
    #[arg(long, default_value_t = 1.0)]
    pub overlap: f64,
    #[arg(long, value_enum, default_value_t = Layout::Interleave)]
    pub layout: Layout,
    #[arg(long, value_enum, default_value_t = Mode::Count)]
    pub mode: Mode,
    #[arg(long, default_value_t = 0.4)]
    pub zero_frac: f64,
    #[arg(long, value_enum, default_value_t = CountDist::Loguniform)]
    pub count_dist: CountDist,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Params {
    /// A directory name that identifies the data (for the bench cache).
    pub fn key(&self) -> String {
        format!(
            "P{}-F{}-B{}-o{}-{:?}-{}-z{}-{:?}-s{}",
            self.profiles,
            self.files,
            self.blocks,
            self.overlap,
            self.layout,
            self.mode.name(),
            self.zero_frac,
            self.count_dist,
            self.seed
        )
        .to_lowercase()
    }

    /// Blocks shared by every profile, per file (Python's `round`: ties to even).
    pub fn shared(&self) -> usize {
        (self.overlap * self.blocks as f64).round_ties_even() as usize
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.profiles >= 1 && self.files >= 1,
            "-P and -F must be at least 1"
        );
        ensure!(
            (0.0..=1.0).contains(&self.overlap),
            "--overlap must be in 0..1"
        );
        ensure!(
            (0.0..=1.0).contains(&self.zero_frac),
            "--zero-frac must be in 0..1"
        );
        ensure!(
            self.profiles <= 1000,
            "-P above 1000 does not fit prof_NNN.out names"
        );
        Ok(())
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub params: Params,
    /// Output directory (prof_000.out, prof_001.out, …).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Worker threads (the output does not depend on it).
    #[arg(long, default_value_t = default_jobs())]
    pub jobs: usize,
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `cargo xtask gen-profiles`.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let files = generate(&args.params, &args.out, args.jobs)?;
    let bytes: u64 = files
        .iter()
        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    println!("{}", summary(&args.params, bytes, &args.out));
    Ok(std::process::ExitCode::SUCCESS)
}

/// The reference's summary line.
pub fn summary(p: &Params, bytes: u64, out: &Path) -> String {
    format!(
        "profiles={} files={} blocks/profile={} overlap={} layout={} mode={} seed={} total_lines={} total_MB={:.1} dir={}",
        p.profiles,
        p.files,
        p.files * p.blocks,
        p.overlap,
        format!("{:?}", p.layout).to_lowercase(),
        p.mode.name(),
        p.seed,
        p.profiles * p.files * p.blocks,
        bytes as f64 / 1e6,
        out.display()
    )
}

/// Writes `out/prof_000.out …` and returns their paths. Each profile draws its
/// counts from its own stream, so `jobs` does not change a byte.
pub fn generate(p: &Params, out: &Path, jobs: usize) -> anyhow::Result<Vec<PathBuf>> {
    p.validate()?;
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let paths = file_paths(p.files, p.seed);
    let names = (0..p.profiles)
        .map(|k| out.join(format!("prof_{k:03}.out")))
        .collect::<Vec<_>>();
    // Each worker takes every jobs-th profile and walks the files once,
    // building a file's block universe once for all of its profiles.
    let jobs = jobs.clamp(1, p.profiles);
    std::thread::scope(|s| {
        let workers = (0..jobs)
            .map(|j| {
                let mine = (j..p.profiles).step_by(jobs).collect::<Vec<_>>();
                let (paths, names) = (&paths, &names);
                s.spawn(move || write_profiles(p, paths, &mine, names))
            })
            .collect::<Vec<_>>();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("generator thread panicked"))
    })?;
    Ok(names)
}

fn write_profiles(
    p: &Params,
    paths: &[String],
    ks: &[usize],
    names: &[PathBuf],
) -> anyhow::Result<()> {
    let nshared = p.shared();
    let nuniq = p.blocks - nshared;
    let usize_ = nshared + p.profiles * nuniq;
    let lmax = (1e6f64).ln();
    let mut outs = Vec::new();
    for &k in ks {
        let f = fs::File::create(&names[k])
            .with_context(|| format!("creating {}", names[k].display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        writeln!(w, "mode: {}", p.mode.name())?;
        outs.push((
            k,
            w,
            PyRandom::from_str_seed(&format!("counts-{}-{}", p.seed, k)),
        ));
    }
    let mut line = Vec::with_capacity(256);
    for (fi, path) in paths.iter().enumerate() {
        let plan = FilePlan::new(fi, path, usize_, nshared, p.seed);
        for (k, w, rng) in &mut outs {
            let mine: Vec<usize> = match &plan.unique_slots {
                None => (0..usize_).collect(),
                Some(uslots) => {
                    let mut mine = plan.shared.clone();
                    match p.layout {
                        Layout::Interleave => {
                            mine.extend(uslots.iter().skip(*k).step_by(p.profiles))
                        }
                        Layout::Contiguous => {
                            mine.extend(uslots.iter().skip(*k * nuniq).take(nuniq))
                        }
                    }
                    mine.sort_unstable();
                    mine
                }
            };
            for s in mine {
                let c: u64 = if rng.random() < p.zero_frac {
                    0
                } else if p.mode == Mode::Set {
                    1
                } else if p.count_dist == CountDist::Uniform {
                    (rng.random() * 1_000_000.0) as u64 + 1
                } else {
                    ((rng.random() * lmax).exp() as u64).max(1)
                };
                line.clear();
                line.extend_from_slice(plan.prefix(s));
                write_u64(&mut line, c);
                line.push(b'\n');
                w.write_all(&line)?;
            }
        }
    }
    for (k, mut w, _) in outs {
        w.flush()
            .with_context(|| format!("writing {}", names[k].display()))?;
    }
    Ok(())
}

fn write_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

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
struct FilePlan {
    text: String,
    ends: Vec<usize>,
    shared: Vec<usize>,
    unique_slots: Option<Vec<usize>>,
}

impl FilePlan {
    fn new(fi: usize, path: &str, usize_: usize, nshared: usize, seed: u64) -> FilePlan {
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

    fn prefix(&self, slot: usize) -> &[u8] {
        let start = if slot == 0 { 0 } else { self.ends[slot - 1] };
        &self.text.as_bytes()[start..self.ends[slot]]
    }
}

/// CPython's `random.Random` (MT19937) as far as the reference uses it:
/// string seeds (version 2: the string's bytes followed by their SHA-512, as
/// one big-endian integer), `random()`, `randint`, `choice`, `sample`.
pub struct PyRandom {
    mt: Box<[u32; 624]>,
    index: usize,
}

impl PyRandom {
    pub fn from_str_seed(seed: &str) -> PyRandom {
        let mut bytes = seed.as_bytes().to_vec();
        bytes.extend_from_slice(&Sha512::digest(seed.as_bytes()));
        // CPython turns the integer into 32-bit words, least significant
        // first, dropping leading zero bytes.
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let le = bytes[first..].iter().rev().copied().collect::<Vec<_>>();
        let mut key = le
            .chunks(4)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (8 * i)))
            })
            .collect::<Vec<_>>();
        if key.is_empty() {
            key.push(0);
        }
        PyRandom::from_key(&key)
    }

    fn from_key(key: &[u32]) -> PyRandom {
        const N: usize = 624;
        let mut mt = Box::new([0u32; N]);
        mt[0] = 19650218;
        for i in 1..N {
            mt[i] = 1812433253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1664525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1566083941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        PyRandom { mt, index: N }
    }

    fn next_u32(&mut self) -> u32 {
        const N: usize = 624;
        const M: usize = 397;
        if self.index >= N {
            let mt = &mut self.mt;
            for kk in 0..N {
                let y = (mt[kk] & 0x8000_0000) | (mt[(kk + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                mt[kk] = mt[(kk + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A float in [0, 1) with 53 random bits.
    pub fn random(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67108864.0 + f64::from(b)) * (1.0 / 9007199254740992.0)
    }

    /// Uniform in 0..n by rejection on `n.bit_length()` bits (n < 2^32).
    fn randbelow(&mut self, n: usize) -> usize {
        assert!(n > 0 && n <= u32::MAX as usize, "randbelow({n})");
        let k = usize::BITS - n.leading_zeros();
        loop {
            let r = (self.next_u32() >> (32 - k)) as usize;
            if r < n {
                return r;
            }
        }
    }

    /// Uniform in a..=b.
    pub fn randint(&mut self, a: usize, b: usize) -> usize {
        a + self.randbelow(b + 1 - a)
    }

    pub fn choice<'a, T>(&mut self, seq: &'a [T]) -> &'a T {
        &seq[self.randbelow(seq.len())]
    }

    /// `sample(range(n), k)`, in the order CPython picks.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        assert!(k <= n);
        let mut setsize = 21usize;
        if k > 5 {
            setsize += 4usize.pow(((k as f64 * 3.0).ln() / 4f64.ln()).ceil() as u32);
        }
        let mut result = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool = (0..n).collect::<Vec<_>>();
            for i in 0..k {
                let j = self.randbelow(n - i);
                result.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow(n);
                while !selected.insert(j) {
                    j = self.randbelow(n);
                }
                result.push(j);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn params(p: usize, f: usize, b: usize, overlap: f64, layout: Layout, mode: Mode) -> Params {
        Params {
            profiles: p,
            files: f,
            blocks: b,
            overlap,
            layout,
            mode,
            zero_frac: 0.4,
            count_dist: CountDist::Loguniform,
            seed: 7,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("covtools-genprof-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    /// (file, sl, sc, el, ec, ns, count) of each block line.
    fn blocks(text: &str) -> Vec<(String, [usize; 4], usize, u64)> {
        text.lines()
            .skip(1)
            .map(|l| {
                let (rest, count) = l.rsplit_once(' ').unwrap();
                let (rest, ns) = rest.rsplit_once(' ').unwrap();
                let (file, pos) = rest.rsplit_once(':').unwrap();
                let nums = pos
                    .split([',', '.'])
                    .map(|n| n.parse().unwrap())
                    .collect::<Vec<usize>>();
                (
                    file.to_string(),
                    [nums[0], nums[1], nums[2], nums[3]],
                    ns.parse().unwrap(),
                    count.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn mersenne_twister_matches_cpython() {
        // Values printed by CPython 3.11:
        // r = random.Random("paths-1"); [r.random() for _ in range(3)]
        let mut r = PyRandom::from_str_seed("paths-1");
        let got = (0..3).map(|_| r.random()).collect::<Vec<_>>();
        assert_eq!(
            got,
            [0.04587656633573767, 0.2320348921522627, 0.35900521628577575]
        );
        // r = random.Random("blocks-7-3"); [r.randint(1,6) for _ in range(5)],
        // r.choice(range(24)), r.sample(range(2550),4), r.sample(range(20),5)
        let mut r = PyRandom::from_str_seed("blocks-7-3");
        assert_eq!(
            (0..5).map(|_| r.randint(1, 6)).collect::<Vec<_>>(),
            [4, 3, 2, 6, 3]
        );
        assert_eq!(*r.choice(&(0..24).collect::<Vec<_>>()), 7);
        assert_eq!(r.sample(2550, 4), [617, 1610, 884, 2278]);
        assert_eq!(r.sample(20, 5), [13, 15, 8, 14, 12]);
    }

    #[test]
    fn deterministic_and_independent_of_jobs() {
        let p = params(5, 12, 9, 0.5, Layout::Interleave, Mode::Count);
        let (a, b) = (scratch("det-a"), scratch("det-b"));
        let fa = generate(&p, &a, 1).unwrap();
        let fb = generate(&p, &b, 3).unwrap();
        assert_eq!(fa.len(), 5);
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(
                fs::read(x).unwrap(),
                fs::read(y).unwrap(),
                "{}",
                x.display()
            );
        }
        let other = scratch("det-seed");
        let fc = generate(
            &Params {
                seed: 8,
                ..p.clone()
            },
            &other,
            2,
        )
        .unwrap();
        assert_ne!(
            fs::read(&fa[0]).unwrap(),
            fs::read(&fc[0]).unwrap(),
            "another seed, same data"
        );
        for d in [a, b, other] {
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn structure_matches_the_parameters() {
        for (overlap, layout, mode) in [
            (1.0, Layout::Interleave, Mode::Count),
            (0.5, Layout::Interleave, Mode::Count),
            (0.0, Layout::Interleave, Mode::Atomic),
            (0.3, Layout::Contiguous, Mode::Set),
        ] {
            let (np, nf, nb) = (6, 40, 50);
            let p = params(np, nf, nb, overlap, layout, mode);
            let dir = scratch(&format!("shape-{overlap}-{layout:?}"));
            let files = generate(&p, &dir, 2).unwrap();
            let what = format!("overlap {overlap} {layout:?} {mode:?}");
            let mut seen: BTreeMap<(String, [usize; 4]), usize> = BTreeMap::new();
            let (mut zeros, mut all) = (0usize, 0usize);
            for f in &files {
                let text = fs::read_to_string(f).unwrap();
                assert_eq!(
                    text.lines().next(),
                    Some(format!("mode: {}", mode.name()).as_str()),
                    "{what}"
                );
                let bl = blocks(&text);
                assert_eq!(bl.len(), nf * nb, "{what}: lines per profile");
                let mut per_file: BTreeMap<&str, Vec<[usize; 4]>> = BTreeMap::new();
                for (file, pos, ns, count) in &bl {
                    assert!(
                        file.starts_with("github.com/acme/monorepo/") && file.ends_with(".go"),
                        "{file}"
                    );
                    assert!((1..=8).contains(ns));
                    if mode == Mode::Set {
                        assert!(*count <= 1);
                    } else {
                        assert!(*count <= 1_000_000);
                    }
                    zeros += usize::from(*count == 0);
                    all += 1;
                    per_file.entry(file).or_default().push(*pos);
                    *seen.entry((file.clone(), *pos)).or_default() += 1;
                }
                assert_eq!(per_file.len(), nf, "{what}: files per profile");
                // Within a file, blocks come in increasing order and none
                // overlaps the next (touching at a point is allowed, as Go does).
                for pos in per_file.values() {
                    assert_eq!(pos.len(), nb);
                    for w in pos.windows(2) {
                        let ([sl, sc, el, ec], [nsl, nsc, ..]) = (w[0], w[1]);
                        assert!((sl, sc) < (el, ec), "{what}: empty block {:?}", w[0]);
                        assert!((el, ec) <= (nsl, nsc), "{what}: blocks overlap: {w:?}");
                    }
                }
            }
            // Overlap: shared blocks are in every profile, the rest in one.
            let shared = (overlap * nb as f64).round_ties_even() as usize;
            let in_all = seen.values().filter(|&&n| n == np).count();
            let in_one = seen.values().filter(|&&n| n == 1).count();
            assert_eq!(in_all, nf * shared, "{what}: blocks in every profile");
            assert_eq!(
                in_one,
                nf * (nb - shared) * np,
                "{what}: blocks unique to one profile"
            );
            assert_eq!(seen.len(), in_all + in_one, "{what}");
            let zf = zeros as f64 / all as f64;
            assert!((zf - 0.4).abs() < 0.03, "{what}: zero fraction {zf}");
            fs::remove_dir_all(dir).unwrap();
        }
    }

    /// Byte for byte the reference, when python3 and ../shared are here.
    #[test]
    fn same_bytes_as_the_python_reference() {
        let script = crate::util::project_root().join("../shared/bench/gen_profiles.py");
        // CI has both (python3 installs Go; shared/ is laid beside the clone).
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        let python = which::which("python3");
        if python.is_err() || !script.is_file() {
            let why = format!("no python3 or no {}", script.display());
            assert!(!ci, "CI=true but {why}");
            eprintln!("SKIPPING: {why}");
            return;
        }
        let python = python.unwrap();
        for (args, p) in [
            (
                &["-P", "4", "-F", "30", "-B", "20", "--overlap", "1"][..],
                params(4, 30, 20, 1.0, Layout::Interleave, Mode::Count),
            ),
            (
                &["-P", "5", "-F", "25", "-B", "10", "--overlap", "0.5"][..],
                params(5, 25, 10, 0.5, Layout::Interleave, Mode::Count),
            ),
            (
                &[
                    "-P",
                    "3",
                    "-F",
                    "7",
                    "-B",
                    "40",
                    "--overlap",
                    "0",
                    "--layout",
                    "contiguous",
                    "--mode",
                    "set",
                ][..],
                params(3, 7, 40, 0.0, Layout::Contiguous, Mode::Set),
            ),
        ] {
            let (py, rs) = (scratch("py"), scratch("rs"));
            let status = std::process::Command::new(&python)
                .arg(&script)
                .args(args)
                .args(["--seed", "7", "--jobs", "1", "-o"])
                .arg(&py)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            for f in generate(&p, &rs, 2).unwrap() {
                let name = f.file_name().unwrap();
                let want = fs::read_to_string(py.join(name)).unwrap();
                let got = fs::read_to_string(&f).unwrap();
                if got != want {
                    let i = got.lines().zip(want.lines()).position(|(a, b)| a != b);
                    let line = |t: &str| i.and_then(|i| t.lines().nth(i)).map(str::to_string);
                    panic!(
                        "{args:?} {name:?}: differs at line {i:?}: {:?} vs python {:?}",
                        line(&got),
                        line(&want)
                    );
                }
            }
            fs::remove_dir_all(py).unwrap();
            fs::remove_dir_all(rs).unwrap();
        }
    }
}
