//! The generator against its pinned checksums, its own invariants and, where
//! it exists, the Python reference.

use super::*;
use crate::util::skip;
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
    let d = std::env::temp_dir().join(format!("covtools-genprof-{}-{name}", std::process::id()));
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
                Some(format!("mode: {}", mode.as_str()).as_str()),
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

/// One parameter set of reference.sha256: the arguments and the
/// `sha256sum` line of each profile the reference writes for them.
struct Pinned {
    args: Vec<String>,
    sums: Vec<String>,
}

fn pinned() -> Vec<Pinned> {
    let mut sets: Vec<Pinned> = Vec::new();
    for line in include_str!("reference.sha256").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        match line.strip_prefix("args:") {
            Some(args) => sets.push(Pinned {
                args: args.split_whitespace().map(str::to_string).collect(),
                sums: Vec::new(),
            }),
            None => sets
                .last_mut()
                .expect("an args: line comes first")
                .sums
                .push(line.to_string()),
        }
    }
    assert!(sets.len() >= 3 && sets.iter().all(|s| !s.sums.is_empty()));
    sets
}

/// The arguments of a pinned set as `cargo xtask gen-profiles` reads them.
fn parse_params(args: &[String]) -> Params {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        params: Params,
    }
    let argv = std::iter::once("gen-profiles").chain(args.iter().map(String::as_str));
    <Cli as clap::Parser>::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .params
}

/// Byte for byte the Python reference: the sha256 of every profile, for each
/// parameter set pinned in reference.sha256 (recorded from the reference).
#[test]
fn same_bytes_as_the_python_reference() {
    for set in pinned() {
        let p = parse_params(&set.args);
        let dir = scratch("pinned");
        let files = generate(&p, &dir, 2).unwrap();
        let got = files
            .iter()
            .map(|f| sha256sum_line(f).unwrap())
            .collect::<Vec<_>>();
        assert_eq!(
            got,
            set.sums,
            "gen-profiles {}: not the reference's bytes",
            set.args.join(" ")
        );
        fs::remove_dir_all(dir).unwrap();
    }
}

/// The extra: where the reference itself is at hand (`GEN_PROFILES_PY`, or
/// ../shared/bench/gen_profiles.py beside the clone) and python3 too, its
/// output still has the pinned checksums. A clone has no reference, so
/// elsewhere, CI included, this is a counted skip.
#[test]
fn pinned_checksums_are_the_python_reference() {
    let script = std::env::var_os("GEN_PROFILES_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::util::project_root().join("../shared/bench/gen_profiles.py"));
    let python = which::which("python3");
    let (Ok(python), true) = (python, script.is_file()) else {
        skip::skip(&format!(
            "no python3 or no reference generator {} (set GEN_PROFILES_PY)",
            script.display()
        ));
        return;
    };
    for set in pinned() {
        let dir = scratch("reference");
        covcore::process::process(&python)
            .arg(&script)
            .args(&set.args)
            .args(["--jobs", "1", "-o"])
            .arg(&dir)
            .stdout_null()
            .run()
            .unwrap();
        let mut names = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>();
        names.sort();
        let got = names
            .iter()
            .map(|f| sha256sum_line(f).unwrap())
            .collect::<Vec<_>>();
        assert_eq!(
            got, set.sums,
            "the reference's output for {:?} is not what reference.sha256 pins",
            set.args
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
