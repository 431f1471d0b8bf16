//! The benchmark's data: generated once per case and generator version
//! (cached in target/bench-data/), and covmerge's output on it checked
//! against the obvious merge before anything is timed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use covcore::process::process;

use crate::genprof::{self, Params};

/// Bumped when the generator's output changes, so cached data is remade.
const DATA_VERSION: u32 = 1;

/// The case's data directory and profile files, generated unless a complete
/// copy made by this generator version is cached.
pub fn ensure_data(
    p: &Params,
    data_root: &Path,
    jobs: usize,
) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    let dir = data_root.join(p.key());
    let stamp = dir.join("complete");
    let files = (0..p.profiles)
        .map(|k| dir.join(format!("prof_{k:03}.out")))
        .collect::<Vec<_>>();
    let want = format!("generator data version {DATA_VERSION}\n");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == want) && files.iter().all(|f| f.is_file()) {
        return Ok((dir, files));
    }
    let _ = fs::remove_dir_all(&dir);
    eprintln!("bench: generating {} ...", dir.display());
    let start = Instant::now();
    let made = genprof::generate(p, &dir, jobs)?;
    assert_eq!(made, files);
    let bytes: u64 = files
        .iter()
        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    eprintln!(
        "bench: {} in {:.1} s",
        genprof::summary(p, bytes, &dir),
        start.elapsed().as_secs_f64()
    );
    fs::write(&stamp, want)?;
    Ok((dir, files))
}

/// Once, untimed: covmerge's output equals the merge computed here the
/// obvious way, on small data of each selected case's shape and on the case's
/// own data when it is small (case 2).
pub fn check_correctness(
    covmerge: &Path,
    data_root: &Path,
    selected: &[(u32, &Params)],
    inputs: &[(PathBuf, Vec<PathBuf>)],
) -> anyhow::Result<()> {
    let scratch = data_root.join("check");
    let _ = fs::remove_dir_all(&scratch);
    for ((n, params), (_, files)) in selected.iter().zip(inputs) {
        let small = Params {
            profiles: 7,
            files: 20,
            blocks: 12,
            ..(*params).clone()
        };
        let dir = scratch.join(format!("case{}", n));
        let small_files = genprof::generate(&small, &dir, 2)?;
        compare_with_expected(covmerge, &small_files, &format!("case {} shape, small", n))?;
        if params.profiles * params.files * params.blocks <= 1_000_000 {
            compare_with_expected(covmerge, files, &format!("case {}", n))?;
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    eprintln!("bench: covmerge output checked against the obvious merge");
    Ok(())
}

fn compare_with_expected(covmerge: &Path, files: &[PathBuf], what: &str) -> anyhow::Result<()> {
    type Key = (Vec<u8>, [u32; 4]);
    let mut blocks: BTreeMap<Key, (u32, u64)> = BTreeMap::new();
    for f in files {
        let text = fs::read_to_string(f)?;
        for line in text.lines().skip(1) {
            let parse = || -> Option<(Key, u32, u64)> {
                let (rest, count) = line.rsplit_once(' ')?;
                let (rest, ns) = rest.rsplit_once(' ')?;
                let (file, pos) = rest.rsplit_once(':')?;
                let mut n = pos.split([',', '.']).map(|x| x.parse::<u32>().ok());
                let pos = [n.next()??, n.next()??, n.next()??, n.next()??];
                Some((
                    (file.as_bytes().to_vec(), pos),
                    ns.parse().ok()?,
                    count.parse().ok()?,
                ))
            };
            let (k, ns, c) =
                parse().with_context(|| format!("{}: bad line {line:?}", f.display()))?;
            let e = blocks.entry(k).or_insert((ns, 0));
            e.1 = (e.1 + c).min(u64::from(u32::MAX));
        }
    }
    let mut want = String::from("mode: count\n");
    for ((file, [sl, sc, el, ec]), (ns, c)) in blocks {
        want.push_str(&format!(
            "{}:{sl}.{sc},{el}.{ec} {ns} {c}\n",
            String::from_utf8_lossy(&file)
        ));
    }
    let out = process(covmerge)
        .args(files)
        .output()
        .with_context(|| what.to_string())?;
    if out.stdout != want.as_bytes() {
        let got = String::from_utf8_lossy(&out.stdout);
        let i = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        bail!(
            "{what}: covmerge's output is not the expected merge ({} vs {} lines; first difference at line {:?}: {:?} vs expected {:?})",
            got.lines().count(),
            want.lines().count(),
            i.map(|i| i + 1),
            i.and_then(|i| got.lines().nth(i)),
            i.and_then(|i| want.lines().nth(i))
        );
    }
    Ok(())
}
