//! `cargo xtask mutation`: covselect checked the honest way. For each
//! module (the bundled shop with its `go test` suite in e2e/, and the
//! notify module), a copy is committed in a git repository of its own and
//! measured per test (`covtools cover --per-test`, local runtime); then K
//! mutants (mutants.rs), each committed on the base, run the full suite
//! once more (`go test -v`). Every test that fails must be among the tests
//! covselect picks for the mutant's diff: recall must be 100 %. The share
//! of the suite selected is the time a pull request would save.

mod mutants;

use covcore::exit_codes::ExitStatus;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, ensure, Context};
use covcore::process::process;
use covcore::testmap::TestMap;

use crate::util;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Mutants in all, shared among the modules.
    #[arg(long, default_value_t = 12)]
    pub k: usize,
    /// The modules: shop (tests/example, its e2e suite), notify
    /// (tests/modules/notify).
    #[arg(long, value_delimiter = ',', default_value = "shop,notify")]
    pub modules: Vec<String>,
    /// Where the copies, runs and the report go.
    #[arg(long, value_name = "DIR", default_value = "target/mutation")]
    pub out: PathBuf,
    /// The covtools binaries [default: beside the xtask, else target/debug,
    /// else on PATH].
    #[arg(long, value_name = "DIR")]
    pub tools: Option<PathBuf>,
}

/// One mutant's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub module: String,
    pub place: String,
    pub kind: &'static str,
    pub failed: Vec<String>,
    pub selected: Vec<String>,
    /// Selected because the map could not judge (every test).
    pub every: bool,
    pub missed: Vec<String>,
}

/// The whole run: outcomes and the suite sizes.
pub struct Summary {
    pub outcomes: Vec<Outcome>,
    pub suite: std::collections::BTreeMap<String, usize>,
}

impl Summary {
    /// Failing tests that were selected, over all failing tests.
    pub fn recall(&self) -> (usize, usize) {
        let failed: usize = self.outcomes.iter().map(|o| o.failed.len()).sum();
        let missed: usize = self.outcomes.iter().map(|o| o.missed.len()).sum();
        (failed - missed, failed)
    }

    /// The mean share of the suite selected per mutant.
    pub fn share(&self) -> f64 {
        let n = self.outcomes.len().max(1) as f64;
        self.outcomes
            .iter()
            .map(|o| o.selected.len() as f64 / self.suite[&o.module].max(1) as f64)
            .sum::<f64>()
            / n
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<7} {:<34} {:<6} {:>6} {:>8}  MISSED",
            "MODULE", "MUTANT", "KIND", "FAILED", "SELECTED"
        );
        for o in &self.outcomes {
            let _ = writeln!(
                out,
                "{:<7} {:<34} {:<6} {:>6} {:>8}  {}",
                o.module,
                o.place,
                o.kind,
                o.failed.len(),
                if o.every {
                    format!("all {}", o.selected.len())
                } else {
                    o.selected.len().to_string()
                },
                if o.missed.is_empty() {
                    "-".to_string()
                } else {
                    o.missed.join(" ")
                }
            );
        }
        let (hit, all) = self.recall();
        let killed = self
            .outcomes
            .iter()
            .filter(|o| !o.failed.is_empty())
            .count();
        let _ = writeln!(
            out,
            "mutation: {} mutants ({killed} killed) in {} modules; recall {hit}/{all} = {:.1}%; selected {:.1}% of the suite on average",
            self.outcomes.len(),
            self.suite.len(),
            if all == 0 { 100.0 } else { 100.0 * hit as f64 / all as f64 },
            100.0 * self.share()
        );
        out
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let summary = mutate(&args)?;
    print!("{}", summary.text());
    let (hit, all) = summary.recall();
    Ok(ExitStatus::negative_unless(hit == all).into())
}

/// Every module's base and mutants.
pub fn mutate(args: &Args) -> anyhow::Result<Summary> {
    ensure!(args.k >= 1, "--k must be at least 1");
    let root = util::project_root();
    let out = root.join(&args.out);
    let tools = util::covtools_bins(args.tools.as_deref())?;
    let mut summary = Summary {
        outcomes: Vec::new(),
        suite: Default::default(),
    };
    let n = args.modules.len();
    for (i, module) in args.modules.iter().enumerate() {
        let dir = match module.as_str() {
            "shop" => root.join("tests/example"),
            "notify" => root.join("tests/modules/notify"),
            other => bail!("--modules {other}: expected shop or notify"),
        };
        // K shared out, the first modules taking the remainder.
        let k = args.k / n + usize::from(i < args.k % n);
        let work = out.join(module);
        module_mutants(module, &dir, &work, &tools, k, &mut summary)?;
    }
    let text = summary.text();
    fs::write(out.join("report.txt"), &text)?;
    Ok(summary)
}

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = process("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=covtools mutation",
            "-c",
            "user.email=mutation@covtools.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn copy_module(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == ".covtools" || name == "testdata" {
            continue;
        }
        let dest = to.join(&name);
        if e.file_type()?.is_dir() {
            copy_module(&e.path(), &dest)?;
        } else {
            fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

/// The modules' suites, as `go test` runs them.
const SUITE: [&str; 4] = ["go", "test", "-count=1", "./e2e"];

fn module_mutants(
    module: &str,
    src: &Path,
    work: &Path,
    tools: &Path,
    k: usize,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if work.exists() {
        fs::remove_dir_all(work).with_context(|| format!("removing {}", work.display()))?;
    }
    let repo = work.join("repo");
    copy_module(src, &repo)?;
    git(&repo, &["init", "-q"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "base"])?;
    let base = git(&repo, &["rev-parse", "HEAD"])?.trim().to_string();
    let mut per_test = vec!["--reports", "none", "--per-test", "--"];
    per_test.extend(SUITE);
    let r = util::cover_local(&repo, &work.join("base"), tools, &per_test)?;
    ensure!(
        r.code == ExitStatus::Success,
        "{module}: the per-test run of the base failed (exit {}): {:?}",
        r.code,
        r.error
    );
    let map = TestMap::read(&work.join("base").join(covcore::testmap::FILE_NAME))?;
    summary.suite.insert(module.to_string(), map.tests.len());
    let prefix = format!("{}/", covjob::config::module_path(&repo)?);
    let mut made = 0;
    for block in mutants::candidates(&map)? {
        if made == k {
            break;
        }
        let path = &map.files[block.0 as usize].path;
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        let disk = repo.join(rel);
        let original = fs::read_to_string(&disk)?;
        let mut tries = mutants::of_block(&map, block, rel, &original);
        // Every other mutant a changed return, where the block has one.
        if made % 2 == 1 {
            tries.sort_by_key(|m| m.kind == "panic");
        }
        for m in tries {
            fs::write(&disk, &m.text)?;
            if !compiles(&repo)? {
                fs::write(&disk, &original)?;
                continue;
            }
            made += 1;
            git(
                &repo,
                &[
                    "commit",
                    "-q",
                    "-am",
                    &format!("mutant {made}: {} at {rel}:{}", m.kind, m.line),
                ],
            )?;
            let outcome = judge(module, &repo, &base, &map, work, tools, made, &m);
            git(&repo, &["reset", "-q", "--hard", &base])?;
            summary.outcomes.push(outcome?);
            break;
        }
    }
    ensure!(
        made == k,
        "{module}: only {made} of {k} mutants could be made"
    );
    Ok(())
}

/// `go build ./...` of the module.
fn compiles(repo: &Path) -> anyhow::Result<bool> {
    let go = covjob::toolchain::ensure_go()?;
    let mut cmd = process(go);
    // Several packages: compiled, nothing written.
    cmd.dir(repo).args(["build", "./..."]);
    covjob::toolchain::go_env(&mut cmd);
    Ok(cmd.output_unchecked()?.status.success())
}

#[allow(clippy::too_many_arguments)]
fn judge(
    module: &str,
    repo: &Path,
    base: &str,
    map: &TestMap,
    work: &Path,
    tools: &Path,
    n: usize,
    m: &mutants::Mutant,
) -> anyhow::Result<Outcome> {
    let sel = covselect::select_tests(map, repo, base)?;
    let out = work.join(format!("mutant-{n}"));
    let r = util::cover_local(
        repo,
        &out,
        tools,
        &[
            "--reports",
            "none",
            "--",
            "go",
            "test",
            "-count=1",
            "-v",
            "./e2e",
        ],
    )?;
    let log = fs::read_to_string(out.join("tests.log")).unwrap_or_default();
    // Top-level failures only (subtests are indented).
    let failed: Vec<String> = log
        .lines()
        .filter_map(|l| l.strip_prefix("--- FAIL: "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let exit_ok = r.tests_exit == Some(covjob::runtime::process::Exit::Code(0));
    ensure!(
        exit_ok || !failed.is_empty(),
        "{module} mutant {n}: the suite failed ({:?}) without a failing test; see {}",
        r.tests_exit.map(|e| e.to_string()).or(r.error),
        out.join("tests.log").display()
    );
    let every = !sel.all.is_empty();
    let missed = failed
        .iter()
        .filter(|t| !every && !sel.tests.contains(t))
        .cloned()
        .collect();
    Ok(Outcome {
        module: module.to_string(),
        place: format!("{}:{}", m.rel, m.line),
        kind: m.kind,
        failed,
        selected: sel.tests,
        every,
        missed,
    })
}

#[cfg(test)]
mod tests {
    /// The task itself, small: two mutants in each module, every failing
    /// test selected (needs Go and the covtools binaries: `cargo build
    /// --bins`, which `cargo test --workspace` does first).
    #[test]
    fn mutation_recall_is_complete_on_both_modules() {
        let args = super::Args {
            k: 4,
            modules: vec!["notify".into(), "shop".into()],
            out: "target/tmp/xtask-mutation".into(),
            tools: None,
        };
        let s = super::mutate(&args).unwrap();
        eprintln!("{}", s.text());
        assert_eq!(s.outcomes.len(), 4);
        let (hit, all) = s.recall();
        assert_eq!(hit, all, "{}", s.text());
        assert!(
            s.outcomes.iter().any(|o| !o.failed.is_empty()),
            "no mutant was killed: {}",
            s.text()
        );
        assert!(s.share() > 0.0 && s.share() <= 1.0);
    }
}
