//! The oracle's Go data: real profiles made once per test run by the real Go
//! toolchain (tests of standard-library packages, text `-coverprofile` runs
//! and binary `-test.gocoverdir` runs, overlapping on purpose), with what
//! Go's own tools say of them (`go tool covdata merge|textfmt|func`, the
//! `coverage:` line of `go test`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::go::{last_percent, made_once, process_dir, run_go, stdout_of};

/// One `go test` run of a standard-library package.
struct GoRun {
    name: &'static str,
    pkg: &'static str,
    /// `-coverpkg`; `None` is Go's default (the package under test).
    coverpkg: Option<&'static str>,
    /// `-run`; `None` runs every test.
    run: Option<&'static str>,
}

/// Overlapping on purpose: the same package with different `-run` subsets,
/// and `-coverpkg=strings,unicode/utf8` from both the strings and the bytes
/// tests, plus a few other packages. `html` is one where `go tool cover -func`
/// and `go test` disagree by a tenth (a function literal in a package-level
/// var initialiser), so `--src` is tested where it matters.
const RUNS: &[GoRun] = &[
    GoRun {
        name: "strings_index",
        pkg: "strings",
        coverpkg: None,
        run: Some("TestIndex|TestContains|TestLastIndex"),
    },
    GoRun {
        name: "strings_split",
        pkg: "strings",
        coverpkg: None,
        run: Some("TestIndex|TestSplit|TestFields|TestReplace"),
    },
    GoRun {
        name: "strings_cp",
        pkg: "strings",
        coverpkg: Some("strings,unicode/utf8"),
        run: Some("TestMap|TestTitle|TestToUpper|TestToLower|TestTrim"),
    },
    GoRun {
        name: "bytes_cp",
        pkg: "bytes",
        coverpkg: Some("strings,unicode/utf8"),
        run: Some("TestSplit|TestFields|TestEqual|TestIndex"),
    },
    GoRun {
        name: "utf8",
        pkg: "unicode/utf8",
        coverpkg: None,
        run: None,
    },
    GoRun {
        name: "html",
        pkg: "html",
        coverpkg: None,
        run: None,
    },
    GoRun {
        name: "path",
        pkg: "path",
        coverpkg: None,
        run: None,
    },
];

/// Merges compared with `go tool covdata merge`, as indexes into RUNS.
const GROUPS: &[(&str, &[usize])] = &[
    // One binary, two overlapping -run subsets.
    ("strings_runs", &[0, 1]),
    // Three binaries covering strings (and two covering unicode/utf8).
    ("strings_coverpkg", &[0, 1, 2, 3]),
    ("bytes_and_utf8", &[3, 4]),
    ("all", &[0, 1, 2, 3, 4, 5, 6]),
];

pub struct RunData {
    pub name: &'static str,
    /// The `-coverprofile` of `go test`.
    pub text: PathBuf,
    /// The percent of `go test`'s `coverage: X% of statements` line.
    pub go_test_pct: String,
    /// The `-test.gocoverdir` of the same run made by a `go test -c` binary.
    pub covdir: PathBuf,
    /// `go tool covdata textfmt` of `covdir`.
    pub textfmt: PathBuf,
    /// The total of `go tool covdata func -i=covdir`.
    pub func_pct: String,
}

pub struct GroupData {
    pub name: &'static str,
    pub members: &'static [usize],
    /// `go tool covdata textfmt` of `go tool covdata merge` of the members.
    pub merged: PathBuf,
    /// The total of `go tool covdata func` on that merge.
    pub func_pct: String,
}

pub struct GoData {
    pub go: PathBuf,
    pub goroot: PathBuf,
    pub runs: Vec<RunData>,
    pub groups: Vec<GroupData>,
}

impl GoData {
    /// The `go tool covdata textfmt` profiles of a group's runs.
    pub fn member_textfmts(&self, g: &GroupData) -> Vec<&PathBuf> {
        g.members.iter().map(|&i| &self.runs[i].textfmt).collect()
    }

    /// The `go test -coverprofile` profiles of a group's runs.
    pub fn member_texts(&self, g: &GroupData) -> Vec<&PathBuf> {
        g.members.iter().map(|&i| &self.runs[i].text).collect()
    }
}

/// The Go data, made once; `None` (a loud skip) without Go outside CI.
pub fn go_data() -> Option<&'static GoData> {
    static DATA: OnceLock<Result<GoData, String>> = OnceLock::new();
    made_once(&DATA, "making the Go profiles", make_go_data)
}

fn make_go_data(go: PathBuf) -> Result<GoData, String> {
    let start = std::time::Instant::now();
    let root = process_dir("oracle-go-data")?;
    for sub in ["bin", "text", "cov", "textfmt", "merge"] {
        fs::create_dir_all(root.join(sub)).map_err(|e| e.to_string())?;
    }
    let goroot = PathBuf::from(run_go(&go, &root, &["env", "GOROOT"])?.trim());

    // Text runs and binary runs are independent: two threads for two cores.
    let (text, binary) = std::thread::scope(|s| {
        let text = s.spawn(|| text_runs(&go, &root));
        let binary = s.spawn(|| binary_runs(&go, &goroot, &root));
        (
            text.join().expect("text runs thread"),
            binary.join().expect("binary runs thread"),
        )
    });
    let (text, binary) = (text?, binary?);
    let runs = RUNS
        .iter()
        .zip(text.into_iter().zip(binary))
        .map(
            |(r, ((text, go_test_pct), (covdir, textfmt, func_pct)))| RunData {
                name: r.name,
                text,
                go_test_pct,
                covdir,
                textfmt,
                func_pct,
            },
        )
        .collect::<Vec<_>>();

    let mut groups = Vec::new();
    for &(name, members) in GROUPS {
        let dir = root.join("merge").join(name);
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let inputs = members
            .iter()
            .map(|&i| runs[i].covdir.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        run_go(
            &go,
            &root,
            &[
                "tool",
                "covdata",
                "merge",
                &format!("-i={inputs}"),
                &format!("-o={}", dir.display()),
            ],
        )?;
        let merged = root.join("merge").join(format!("{name}.txt"));
        textfmt(&go, &root, &dir, &merged)?;
        let func = run_go(
            &go,
            &root,
            &["tool", "covdata", "func", &format!("-i={}", dir.display())],
        )?;
        groups.push(GroupData {
            name,
            members,
            merged,
            func_pct: last_percent(&func)?,
        });
    }
    // The test binaries (tens of MB) are not needed any more.
    let _ = fs::remove_dir_all(root.join("bin"));
    eprintln!(
        "oracle: made the Go profiles in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(GoData {
        go,
        goroot,
        runs,
        groups,
    })
}

fn coverpkg_args(r: &GoRun) -> Vec<String> {
    r.coverpkg
        .map(|c| format!("-coverpkg={c}"))
        .into_iter()
        .collect()
}

/// `go test -covermode=count -coverprofile` for each run: the profile and the
/// percent of its `coverage:` line.
fn text_runs(go: &Path, root: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let mut out = Vec::new();
    for r in RUNS {
        let profile = root.join("text").join(format!("{}.out", r.name));
        let mut args = vec![
            "test".to_string(),
            "-count=1".into(),
            "-covermode=count".into(),
        ];
        args.extend(coverpkg_args(r));
        args.push(format!("-coverprofile={}", profile.display()));
        if let Some(run) = r.run {
            args.push(format!("-run={run}"));
        }
        args.push(r.pkg.into());
        let stdout = run_go(go, root, &args)?;
        let pct = coverage_line_percent(&stdout)
            .ok_or_else(|| format!("no coverage: line in go test output:\n{stdout}"))?;
        out.push((profile, pct));
    }
    Ok(out)
}

/// `go test -c -cover` once per (package, coverpkg), then each run's binary
/// with `-test.gocoverdir` from the package directory (for its testdata),
/// then `go tool covdata textfmt` and `func` on its output.
fn binary_runs(
    go: &Path,
    goroot: &Path,
    root: &Path,
) -> Result<Vec<(PathBuf, PathBuf, String)>, String> {
    let mut built: BTreeMap<(&str, Option<&str>), PathBuf> = BTreeMap::new();
    let mut out = Vec::new();
    for r in RUNS {
        let key = (r.pkg, r.coverpkg);
        if !built.contains_key(&key) {
            let exe =
                root.join("bin")
                    .join(format!("{}.{}.test", r.pkg.replace('/', "_"), built.len()));
            let mut args = vec![
                "test".to_string(),
                "-c".into(),
                "-cover".into(),
                "-covermode=count".into(),
            ];
            args.extend(coverpkg_args(r));
            args.extend(["-o".into(), exe.display().to_string(), r.pkg.into()]);
            run_go(go, root, &args)?;
            built.insert(key, exe);
        }
        let covdir = root.join("cov").join(r.name);
        fs::create_dir_all(&covdir).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&built[&key]);
        cmd.current_dir(goroot.join("src").join(r.pkg))
            .arg(format!("-test.gocoverdir={}", covdir.display()));
        if let Some(run) = r.run {
            cmd.arg(format!("-test.run={run}"));
        }
        let stdout = stdout_of(&mut cmd)?;
        if !stdout.contains("coverage:") {
            return Err(format!(
                "{}: the test binary printed no coverage line:\n{stdout}",
                r.name
            ));
        }
        let txt = root.join("textfmt").join(format!("{}.txt", r.name));
        textfmt(go, root, &covdir, &txt)?;
        let func = run_go(
            go,
            root,
            &[
                "tool",
                "covdata",
                "func",
                &format!("-i={}", covdir.display()),
            ],
        )?;
        out.push((covdir, txt, last_percent(&func)?));
    }
    Ok(out)
}

fn textfmt(go: &Path, cwd: &Path, covdir: &Path, out: &Path) -> Result<(), String> {
    run_go(
        go,
        cwd,
        &[
            "tool",
            "covdata",
            "textfmt",
            &format!("-i={}", covdir.display()),
            &format!("-o={}", out.display()),
        ],
    )
    .map(drop)
}

/// `81.2` from `ok  strings 0.05s coverage: 81.2% of statements[ in …]`.
fn coverage_line_percent(stdout: &str) -> Option<String> {
    let lines = stdout
        .lines()
        .filter(|l| l.contains("coverage: "))
        .collect::<Vec<_>>();
    let [line] = lines[..] else { return None };
    let rest = &line[line.find("coverage: ")? + "coverage: ".len()..];
    Some(rest[..rest.find('%')?].to_string())
}
