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

mod pyrandom;
mod shape;
#[cfg(test)]
mod tests;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};
pub use covcore::profile::Mode;
use sha2::{Digest, Sha256};

use pyrandom::PyRandom;
use shape::{file_paths, FilePlan};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// Round-robin: profile k gets unique slots k, k+P, …
    Interleave,
    /// Profile k gets one contiguous run of unique slots.
    Contiguous,
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
    /// Cover mode: set, count or atomic.
    #[arg(long, default_value_t = Mode::Count)]
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
            self.mode.as_str(),
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

/// `cargo xtask gen-profiles`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub params: Params,
    /// Output directory (prof_000.out, prof_001.out, …).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Worker threads (the output does not depend on it).
    #[arg(long, default_value_t = covcore::pool::default_threads())]
    pub jobs: usize,
    /// Print each profile's `sha256sum` line on stdout (the summary goes to
    /// stderr), as genprof/reference.sha256 records them.
    #[arg(long)]
    pub sha256: bool,
}

/// `cargo xtask gen-profiles`.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let files = generate(&args.params, &args.out, args.jobs)?;
    let bytes: u64 = files
        .iter()
        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let summary = summary(&args.params, bytes, &args.out);
    if args.sha256 {
        eprintln!("{summary}");
        for f in &files {
            println!("{}", sha256sum_line(f)?);
        }
    } else {
        println!("{summary}");
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `sha256sum`'s line for a file: the hex digest, two spaces, the file name.
pub fn sha256sum_line(file: &Path) -> anyhow::Result<String> {
    let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let hex = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    Ok(format!("{hex}  {name}"))
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
        p.mode.as_str(),
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
    let shares = (0..jobs)
        .map(|j| (j..p.profiles).step_by(jobs).collect::<Vec<_>>())
        .collect::<Vec<_>>();
    covcore::pool::map(&shares, jobs, |mine| {
        write_profiles(p, &paths, mine, &names)
    })
    .into_iter()
    .collect::<anyhow::Result<()>>()?;
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
        writeln!(w, "mode: {}", p.mode.as_str())?;
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
