//! `cargo xtask bench`, covreport beside covmerge: on case 1's profiles each
//! format (merging the inputs on the fly, as covreport does) against the
//! time covmerge takes to merge the same data, measured in the same run.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use super::measure::{measure, summarize};

/// covreport's formats that need no source, each with its target: at most
/// this many times covmerge's median.
const FORMATS: [(&str, f64); 4] = [
    ("lcov", 3.0),
    ("cobertura", 3.0),
    ("json", 3.0),
    ("html", 5.0),
];

/// Times every format on `files`; prints one line each and returns whether
/// every target was met. `covmerge_median` is covmerge's median on the same
/// files, seconds.
pub fn run(
    covreport: &Path,
    files: &[PathBuf],
    covmerge_median: f64,
    runs: usize,
    out_dir: &Path,
) -> anyhow::Result<bool> {
    println!();
    println!("covreport on case 1 (merging on the fly), beside covmerge's {covmerge_median:.3} s:");
    let mut all_met = true;
    for (format, max) in FORMATS {
        let out = out_dir.join(format!("covreport-output.{format}"));
        let mut cmd: Vec<&OsStr> =
            vec![covreport.as_os_str(), "--format".as_ref(), format.as_ref()];
        cmd.extend(files.iter().map(|f| f.as_os_str()));
        cmd.extend(["-o".as_ref(), out.as_os_str()]);
        measure(&cmd)?;
        let mut timed = Vec::new();
        for _ in 0..runs {
            // A new file each run, as covmerge's runs write one.
            let _ = fs::remove_file(&out);
            timed.push(measure(&cmd)?);
        }
        let _ = fs::remove_file(&out);
        let (t, fastest, rss) = summarize(&timed);
        let ratio = t / covmerge_median;
        let met = ratio <= max;
        all_met &= met;
        println!(
            "  {format:<10} {t:>7.3} s (fastest {fastest:.3} s)  peak RSS {rss:>6.1} MiB  {ratio:.2}x covmerge  target <= {max}x: {}",
            if met { "met" } else { "MISSED" }
        );
    }
    Ok(all_met)
}
