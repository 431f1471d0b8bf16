//! The proof against Go: real profiles made in this test run by the real Go
//! toolchain (tests of standard-library packages, text `-coverprofile` runs
//! and binary `-test.gocoverdir` runs, overlapping on purpose), and Go's own
//! tools as the oracle: `go tool covdata merge|textfmt|func`, the `coverage:`
//! line of `go test`, `go tool cover -func`. Then the algebra (commutative,
//! associative, idempotent, split-independent) on those real profiles and on
//! random ones whose right answer is computed here.
//!
//! The Go data is made once per test run (`go_data()`, a OnceLock) and shared.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::*;

// ---------------------------------------------------------------------------
// The Go runs.

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

struct RunData {
    name: &'static str,
    /// The `-coverprofile` of `go test`.
    text: PathBuf,
    /// The percent of `go test`'s `coverage: X% of statements` line.
    go_test_pct: String,
    /// The `-test.gocoverdir` of the same run made by a `go test -c` binary.
    covdir: PathBuf,
    /// `go tool covdata textfmt` of `covdir`.
    textfmt: PathBuf,
    /// The total of `go tool covdata func -i=covdir`.
    func_pct: String,
}

struct GroupData {
    name: &'static str,
    members: &'static [usize],
    /// `go tool covdata textfmt` of `go tool covdata merge` of the members.
    merged: PathBuf,
    /// The total of `go tool covdata func` on that merge.
    func_pct: String,
}

struct GoData {
    go: PathBuf,
    goroot: PathBuf,
    runs: Vec<RunData>,
    groups: Vec<GroupData>,
}

/// The Go data, made once; `None` (a loud skip) without Go outside CI.
fn go_data() -> Option<&'static GoData> {
    static DATA: OnceLock<Result<GoData, String>> = OnceLock::new();
    let go = require_go()?;
    // A failure is kept as a message so that every test reports it without
    // running the generation again.
    match DATA.get_or_init(|| make_go_data(go)) {
        Ok(data) => Some(data),
        Err(e) => panic!("making the Go profiles failed: {e}"),
    }
}

fn make_go_data(go: PathBuf) -> Result<GoData, String> {
    let start = std::time::Instant::now();
    // One directory per test process: several people (or CI and a person)
    // may run the tests of one checkout at once. Old ones are swept.
    let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("covtools-tests/oracle-go-data");
    sweep_old_dirs(&parent);
    let root = parent.join(std::process::id().to_string());
    let _ = fs::remove_dir_all(&root);
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

/// Removes data directories of earlier test processes (older than an hour).
fn sweep_old_dirs(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
        if old {
            let _ = fs::remove_dir_all(e.path());
        }
    }
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
        let stdout = run_cmd(&mut cmd)?;
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

fn run_go<S: AsRef<std::ffi::OsStr>>(go: &Path, cwd: &Path, args: &[S]) -> Result<String, String> {
    let mut cmd = Command::new(go);
    cmd.args(args).current_dir(cwd);
    run_cmd(&mut cmd)
}

fn run_cmd(cmd: &mut Command) -> Result<String, String> {
    // No toolchain downloads (there is no network) and no surprise flags.
    cmd.env("GOTOOLCHAIN", "local").env("GOFLAGS", "");
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
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

/// `81.2` from the last line of `go tool cover -func` or `go tool covdata
/// func` (`total:  (statements)  81.2%`).
fn last_percent(out: &str) -> Result<String, String> {
    let last = out.lines().last().unwrap_or_default();
    if !last.starts_with("total") {
        return Err(format!("no total line at the end of:\n{out}"));
    }
    let field = last.split_whitespace().last().unwrap_or_default();
    field
        .strip_suffix('%')
        .map(str::to_string)
        .ok_or_else(|| format!("no percent in {last:?}"))
}

// ---------------------------------------------------------------------------
// Profile text, read here independently of covcore.

type Key = (Vec<u8>, u32, u32, u32, u32);

/// (key, numStmt, count) of one block line, parsed from the right.
fn parse_block(line: &str) -> (Key, u32, u64) {
    fn bad<T>(line: &str) -> T {
        panic!("not a block line: {line:?}")
    }
    fn num<T: std::str::FromStr>(s: &str, line: &str) -> T {
        s.parse().unwrap_or_else(|_| bad(line))
    }
    let (rest, count) = line.rsplit_once(' ').unwrap_or_else(|| bad(line));
    let (rest, ns) = rest.rsplit_once(' ').unwrap_or_else(|| bad(line));
    let (file, pos) = rest.rsplit_once(':').unwrap_or_else(|| bad(line));
    let (start, end) = pos.split_once(',').unwrap_or_else(|| bad(line));
    let lc = |s: &str| -> (u32, u32) {
        let (l, c) = s.split_once('.').unwrap_or_else(|| bad(line));
        (num(l, line), num(c, line))
    };
    let ((sl, sc), (el, ec)) = (lc(start), lc(end));
    (
        (file.as_bytes().to_vec(), sl, sc, el, ec),
        num(ns, line),
        num(count, line),
    )
}

/// The block lines of a profile (after its one mode line).
fn block_lines(text: &str) -> Vec<&str> {
    let mut lines = text.lines();
    let mode = lines.next().unwrap_or_default();
    assert!(
        mode.starts_with("mode: "),
        "no mode line at the start of:\n{}",
        head(text)
    );
    lines.filter(|l| !l.is_empty()).collect()
}

/// A profile with its blocks in covmerge's order: path bytewise, start line,
/// start column, end line, end column.
fn sorted_profile(text: &str) -> String {
    let mode = text.lines().next().unwrap_or_default();
    let mut blocks = block_lines(text)
        .into_iter()
        .map(|l| (parse_block(l).0, l))
        .collect::<Vec<_>>();
    blocks.sort();
    let mut out = format!("{mode}\n");
    for (_, l) in blocks {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The set of `file:pos numStmt` of a profile, counts left out.
fn block_set(text: &str) -> BTreeSet<(Key, u32)> {
    block_lines(text)
        .into_iter()
        .map(parse_block)
        .map(|(k, ns, _)| (k, ns))
        .collect()
}

fn head(text: &str) -> String {
    text.lines().take(5).collect::<Vec<_>>().join("\n")
}

/// Asserts two profiles are equal, showing the first differing line.
fn assert_same_profile(ours: &str, go: &str, what: &str) {
    if ours == go {
        return;
    }
    let (a, b) = (
        ours.lines().collect::<Vec<_>>(),
        go.lines().collect::<Vec<_>>(),
    );
    let i = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    panic!(
        "{what}: covmerge differs from Go at line {} ({} lines vs Go's {}):\n  covmerge: {:?}\n  go:       {:?}",
        i + 1,
        a.len(),
        b.len(),
        a.get(i),
        b.get(i)
    );
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn total_line(pct: &str) -> String {
    format!("total: (statements) {pct}%\n")
}

// ---------------------------------------------------------------------------
// Against Go.

covtest!(binary_runs_merge_exactly_like_covdata_merge, |dir: Dir| {
    let Some(data) = go_data() else { return };
    for g in &data.groups {
        let inputs = g
            .members
            .iter()
            .map(|&i| &data.runs[i].textfmt)
            .collect::<Vec<_>>();
        let ours = dir.tool("covmerge").args(&inputs).stdout();
        let go = sorted_profile(&read(&g.merged));
        assert!(
            block_lines(&go).len() > 100,
            "{}: Go's merge is suspiciously small",
            g.name
        );
        assert_same_profile(&ours, &go, &format!("merge {}", g.name));
        // Also when written with -o, and whatever the input order.
        let out = dir.path(format!("{}.out", g.name));
        dir.tool("covmerge")
            .args(inputs.iter().rev())
            .arg("-o")
            .arg(&out)
            .stdout();
        assert_same_profile(&read(&out), &go, &format!("merge {} reversed, -o", g.name));
    }
});

covtest!(each_binary_run_reads_back_like_textfmt, |dir: Dir| {
    // One input: covmerge only sorts (and sums blocks Go listed twice).
    let Some(data) = go_data() else { return };
    for r in &data.runs {
        let ours = dir.tool("covmerge").arg(&r.textfmt).stdout();
        assert_same_profile(&ours, &sorted_profile(&read(&r.textfmt)), r.name);
    }
});

covtest!(text_profiles_merge_to_go_block_set, |dir: Dir| {
    // `go test -coverprofile` runs are separate executions from the binary
    // runs, so only the block set (not every count) must match Go's merge.
    let Some(data) = go_data() else { return };
    for g in &data.groups {
        let inputs = g
            .members
            .iter()
            .map(|&i| &data.runs[i].text)
            .collect::<Vec<_>>();
        let ours = dir.tool("covmerge").args(&inputs).stdout();
        assert_eq!(ours.lines().next(), Some("mode: count"));
        let (ours_set, go_set) = (block_set(&ours), block_set(&read(&g.merged)));
        assert_eq!(
            block_lines(&ours).len(),
            ours_set.len(),
            "{}: covmerge printed a block twice",
            g.name
        );
        if ours_set != go_set {
            let only_ours = ours_set.difference(&go_set).next();
            let only_go = go_set.difference(&ours_set).next();
            panic!(
                "{}: block sets differ; only in covmerge: {only_ours:?}; only in Go: {only_go:?}",
                g.name
            );
        }
    }
});

covtest!(total_equals_go_test_coverage_line, |dir: Dir| {
    let Some(data) = go_data() else { return };
    for r in &data.runs {
        let out = dir.tool("covtotal").arg(&r.text).stdout();
        assert_eq!(
            out,
            total_line(&r.go_test_pct),
            "{}: covtotal vs go test's coverage: line",
            r.name
        );
        let out = dir.tool("covtotal").arg("--percent").arg(&r.text).stdout();
        assert_eq!(
            out,
            format!("{}\n", r.go_test_pct),
            "{}: covtotal --percent",
            r.name
        );
    }
});

covtest!(total_equals_covdata_func, |dir: Dir| {
    let Some(data) = go_data() else { return };
    for r in &data.runs {
        let out = dir.tool("covtotal").arg(&r.textfmt).stdout();
        assert_eq!(
            out,
            total_line(&r.func_pct),
            "{}: covtotal vs go tool covdata func",
            r.name
        );
    }
    for g in &data.groups {
        // Go's merged profile, and the unmerged inputs (merged by covtotal).
        let out = dir.tool("covtotal").arg(&g.merged).stdout();
        assert_eq!(
            out,
            total_line(&g.func_pct),
            "{}: covtotal of Go's merge vs covdata func",
            g.name
        );
        let inputs = g
            .members
            .iter()
            .map(|&i| &data.runs[i].textfmt)
            .collect::<Vec<_>>();
        let out = dir.tool("covtotal").args(&inputs).stdout();
        assert_eq!(
            out,
            total_line(&g.func_pct),
            "{}: covtotal of the inputs vs covdata func of their merge",
            g.name
        );
    }
});

covtest!(total_with_src_equals_go_tool_cover_func, |dir: Dir| {
    let Some(data) = go_data() else { return };
    let src = data.goroot.join("src");
    let mut profiles = data
        .runs
        .iter()
        .flat_map(|r| [r.text.clone(), r.textfmt.clone()])
        .collect::<Vec<_>>();
    profiles.extend(data.groups.iter().map(|g| g.merged.clone()));
    let mut differs = 0;
    for p in &profiles {
        let func = Command::new(&data.go)
            .arg("tool")
            .arg("cover")
            .arg(format!("-func={}", p.display()))
            .current_dir(&dir.root)
            .env("GOTOOLCHAIN", "local")
            .output()
            .unwrap();
        assert!(
            func.status.success(),
            "go tool cover -func={}: {}",
            p.display(),
            String::from_utf8_lossy(&func.stderr)
        );
        let want = last_percent(&String::from_utf8_lossy(&func.stdout)).unwrap();
        let out = dir.tool("covtotal").arg("--src").arg(&src).arg(p).stdout();
        assert_eq!(
            out,
            total_line(&want),
            "{}: covtotal --src vs go tool cover -func",
            p.display()
        );
        let out = dir
            .tool("covtotal")
            .args(["--percent", "--src"])
            .arg(&src)
            .arg(p)
            .stdout();
        assert_eq!(
            out,
            format!("{want}\n"),
            "{}: covtotal --percent --src",
            p.display()
        );
        let plain = dir.tool("covtotal").arg("--percent").arg(p).stdout();
        differs += usize::from(plain.trim() != want);
    }
    // The html package's var-initialiser closure makes the two answers differ
    // at least once; otherwise this test would not tell --src from no --src.
    assert!(
        differs > 0,
        "no profile where go tool cover -func and go test disagree: the --src test proves nothing"
    );
});

// ---------------------------------------------------------------------------
// Algebra on the real profiles.

covtest!(real_merge_is_commutative_and_associative, |dir: Dir| {
    let Some(data) = go_data() else { return };
    for kind in ["text", "textfmt"] {
        let files = data
            .runs
            .iter()
            .map(|r| if kind == "text" { &r.text } else { &r.textfmt })
            .collect::<Vec<_>>();
        let all = dir.tool("covmerge").args(&files).stdout();
        let rev = dir.tool("covmerge").args(files.iter().rev()).stdout();
        assert_same_profile(&rev, &all, &format!("{kind}: reversed order"));
        let mut rotated = files.clone();
        rotated.rotate_left(3);
        assert_same_profile(
            &dir.tool("covmerge").args(&rotated).stdout(),
            &all,
            &format!("{kind}: rotated order"),
        );
        // (a b c)(d e f g) == a (b c d e f g), through files and through stdin.
        let left = dir.path(format!("{kind}-left.out"));
        let right = dir.path(format!("{kind}-right.out"));
        dir.tool("covmerge")
            .args(&files[..3])
            .arg("-o")
            .arg(&left)
            .stdout();
        dir.tool("covmerge")
            .args(&files[3..])
            .arg("-o")
            .arg(&right)
            .stdout();
        assert_same_profile(
            &dir.tool("covmerge").arg(&left).arg(&right).stdout(),
            &all,
            &format!("{kind}: (abc)(defg)"),
        );
        let tail = dir.tool("covmerge").args(&files[1..]).stdout();
        let nested = dir
            .tool("covmerge")
            .arg(files[0])
            .arg("-")
            .stdin(tail)
            .stdout();
        assert_same_profile(&nested, &all, &format!("{kind}: a (bcdefg) via stdin"));
    }
});

covtest!(real_set_merge_is_idempotent, |dir: Dir| {
    let Some(data) = go_data() else { return };
    let files = data.runs.iter().map(|r| &r.text).collect::<Vec<_>>();
    let once = dir
        .tool("covmerge")
        .args(["--mode", "set"])
        .args(&files)
        .stdout();
    assert_eq!(once.lines().next(), Some("mode: set"));
    let twice = dir
        .tool("covmerge")
        .args(["--mode", "set"])
        .args(&files)
        .args(&files)
        .stdout();
    assert_same_profile(&twice, &once, "set merge of every profile twice");
    let set = dir.create("set.out", &once);
    let again = dir
        .tool("covmerge")
        .args(["--mode", "set"])
        .arg(&set)
        .arg(&set)
        .stdout();
    assert_same_profile(&again, &once, "set merge of the set merge with itself");
    // count -> set is count > 0 -> 1, block by block.
    let counts = dir.tool("covmerge").args(&files).stdout();
    let want: BTreeMap<Key, u64> = block_lines(&counts)
        .into_iter()
        .map(parse_block)
        .map(|(k, _, c)| (k, u64::from(c > 0)))
        .collect();
    let got: BTreeMap<Key, u64> = block_lines(&once)
        .into_iter()
        .map(parse_block)
        .map(|(k, _, c)| (k, c))
        .collect();
    assert!(want == got, "set merge is not (count merge > 0)");
});

covtest!(
    real_total_does_not_depend_on_order_or_splitting,
    |dir: Dir| {
        let Some(data) = go_data() else { return };
        let files = data.runs.iter().map(|r| &r.textfmt).collect::<Vec<_>>();
        let want = dir.tool("covtotal").args(&files).stdout();
        let g = data.groups.iter().find(|g| g.name == "all").unwrap();
        assert_eq!(want, total_line(&g.func_pct));
        assert_eq!(
            dir.tool("covtotal").args(files.iter().rev()).stdout(),
            want,
            "reversed"
        );
        let left = dir.path("left.out");
        dir.tool("covmerge")
            .args(&files[..4])
            .arg("-o")
            .arg(&left)
            .stdout();
        assert_eq!(
            dir.tool("covtotal").arg(&left).args(&files[4..]).stdout(),
            want,
            "split 4+3"
        );
        // Concatenated profiles on stdin, and a list of paths on stdin.
        let cat = files.iter().map(|f| read(f)).collect::<String>();
        assert_eq!(
            dir.tool("covtotal").stdin(cat).stdout(),
            want,
            "cat | covtotal"
        );
        let list = files
            .iter()
            .map(|f| format!("{}\n", f.display()))
            .collect::<String>();
        assert_eq!(
            dir.tool("covtotal").stdin(list).stdout(),
            want,
            "list of paths | covtotal"
        );
        let merged = dir.tool("covmerge").args(&files).stdout();
        assert_eq!(
            dir.tool("covtotal").stdin(merged).stdout(),
            want,
            "covmerge | covtotal"
        );
    }
);

// ---------------------------------------------------------------------------
// Algebra on random profiles, checked against a merge computed here.

/// xorshift64*: small, deterministic, good enough to shuffle test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const MAX_COUNT: u64 = u32::MAX as u64;

struct RandomCase {
    mode: &'static str,
    /// Profile texts.
    profiles: Vec<String>,
}

/// Profiles over a shared universe of non-overlapping blocks per file (as
/// one source version gives), each listing a random subset with random counts,
/// some near the 32-bit saturation point, in a random line order.
fn random_case(seed: u64) -> RandomCase {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mode = ["set", "count", "atomic"][rng.below(3) as usize];
    // Paths with a colon, spaces and non-ASCII bytes: parsed from the right,
    // sorted bytewise.
    let names = [
        "example.com/m/a.go",
        "example.com/m/B.go",
        "C:/src/m/x y.go",
        "example.com/m/ü.go",
        "z.go",
        "example.com/m/a/b.go",
    ];
    let nfiles = 1 + rng.below(names.len() as u64) as usize;
    let mut universe = Vec::new();
    for name in &names[..nfiles] {
        let (mut line, mut col) = (1 + rng.below(20) as u32, 1u32);
        for _ in 0..1 + rng.below(40) {
            let sl = if rng.chance(0.3) {
                line
            } else {
                line + 1 + rng.below(5) as u32
            };
            let sc = if sl == line {
                col + rng.below(3) as u32
            } else {
                1 + rng.below(60) as u32
            };
            let el = sl + rng.below(4) as u32;
            let ec = if el == sl {
                sc + 1 + rng.below(30) as u32
            } else {
                1 + rng.below(80) as u32
            };
            universe.push((name.to_string(), sl, sc, el, ec, rng.below(9) as u32));
            (line, col) = (el, ec);
        }
    }
    let nprofiles = 2 + rng.below(4) as usize;
    let mut profiles = Vec::new();
    for _ in 0..nprofiles {
        let mut lines = Vec::new();
        for b in &universe {
            if !rng.chance(0.7) {
                continue;
            }
            let count = match (mode, rng.below(10)) {
                ("set", _) => rng.below(2),
                (_, 0..=3) => 0,
                (_, 4) => MAX_COUNT - rng.below(3),
                _ => rng.below(1000),
            };
            lines.push(format!(
                "{}:{}.{},{}.{} {} {}",
                b.0, b.1, b.2, b.3, b.4, b.5, count
            ));
        }
        for i in (1..lines.len()).rev() {
            lines.swap(i, rng.below(i as u64 + 1) as usize);
        }
        profiles.push(format!(
            "mode: {mode}\n{}",
            lines.iter().map(|l| format!("{l}\n")).collect::<String>()
        ));
    }
    RandomCase { mode, profiles }
}

/// The merge of `profiles`, computed the obvious way.
fn expected_merge(mode: &str, profiles: &[&String]) -> String {
    let mut blocks: BTreeMap<Key, (u32, u64)> = BTreeMap::new();
    for p in profiles {
        for l in block_lines(p) {
            let (k, ns, c) = parse_block(l);
            let e = blocks.entry(k).or_insert((ns, 0));
            e.1 = if mode == "set" {
                e.1 | c
            } else {
                (e.1 + c).min(MAX_COUNT)
            };
        }
    }
    let mut out = format!("mode: {mode}\n");
    for ((file, sl, sc, el, ec), (ns, c)) in blocks {
        out.push_str(&format!(
            "{}:{sl}.{sc},{el}.{ec} {ns} {c}\n",
            String::from_utf8(file).unwrap()
        ));
    }
    out
}

fn expected_total(merged: &str) -> String {
    let (mut covered, mut total) = (0u64, 0u64);
    for l in block_lines(merged) {
        let (_, ns, c) = parse_block(l);
        total += u64::from(ns);
        covered += if c > 0 { u64::from(ns) } else { 0 };
    }
    // Go prints `%.1f` of 100*covered/total; Rust's {:.1} rounds the same
    // binary value the same way (to nearest, ties to even).
    let pct = if total == 0 {
        0.0
    } else {
        100.0 * covered as f64 / total as f64
    };
    format!("{pct:.1}")
}

covtest!(random_merges_match_the_obvious_merge, |dir: Dir| {
    for seed in 1..=40u64 {
        let case = random_case(seed);
        let files = case
            .profiles
            .iter()
            .enumerate()
            .map(|(i, p)| dir.create(format!("s{seed}/p{i}.out"), p))
            .collect::<Vec<_>>();
        let all = case.profiles.iter().collect::<Vec<_>>();
        let want = expected_merge(case.mode, &all);
        let what = |s: &str| format!("seed {seed} ({}): {s}", case.mode);
        assert_same_profile(
            &dir.tool("covmerge").args(&files).stdout(),
            &want,
            &what("merge"),
        );
        // Commutative: every rotation and the reverse give the same bytes.
        for r in 1..files.len() {
            let mut rot = files.clone();
            rot.rotate_left(r);
            assert_same_profile(
                &dir.tool("covmerge").args(&rot).stdout(),
                &want,
                &what("rotated"),
            );
        }
        assert_same_profile(
            &dir.tool("covmerge").args(files.iter().rev()).stdout(),
            &want,
            &what("reversed"),
        );
        // Associative: (p0 p1) rest == p0 (p1 rest), and pairs agree with
        // the obvious merge of pairs.
        let head = dir.path(format!("s{seed}/head.out"));
        dir.tool("covmerge")
            .args(&files[..2])
            .arg("-o")
            .arg(&head)
            .stdout();
        assert_same_profile(
            &read(&head),
            &expected_merge(case.mode, &all[..2]),
            &what("first two"),
        );
        assert_same_profile(
            &dir.tool("covmerge").arg(&head).args(&files[2..]).stdout(),
            &want,
            &what("(p0 p1) rest"),
        );
        let tail = dir.tool("covmerge").args(&files[1..]).stdout();
        assert_same_profile(
            &dir.tool("covmerge")
                .arg(&files[0])
                .arg("-")
                .stdin(tail)
                .stdout(),
            &want,
            &what("p0 (p1 rest)"),
        );
        // Concatenated in one stream, as `cat` gives.
        let cat = case.profiles.concat();
        assert_same_profile(
            &dir.tool("covmerge").stdin(cat.clone()).stdout(),
            &want,
            &what("cat | covmerge"),
        );

        // The total: independent of order, splitting and stdin.
        let total = total_line(&expected_total(&want));
        assert_eq!(
            dir.tool("covtotal").args(&files).stdout(),
            total,
            "{}",
            what("covtotal")
        );
        assert_eq!(
            dir.tool("covtotal").args(files.iter().rev()).stdout(),
            total,
            "{}",
            what("covtotal reversed")
        );
        assert_eq!(
            dir.tool("covtotal").arg(&head).args(&files[2..]).stdout(),
            total,
            "{}",
            what("covtotal split")
        );
        assert_eq!(
            dir.tool("covtotal").stdin(cat).stdout(),
            total,
            "{}",
            what("cat | covtotal")
        );

        // Set mode: idempotent, and the conversion of the count merge.
        let set_want = {
            let set = expected_merge(case.mode, &all)
                .lines()
                .skip(1)
                .map(|l| {
                    let (k, c) = l.rsplit_once(' ').unwrap();
                    format!("{k} {}\n", u64::from(c != "0"))
                })
                .collect::<String>();
            format!("mode: set\n{set}")
        };
        let set_once = dir
            .tool("covmerge")
            .args(["--mode", "set"])
            .args(&files)
            .stdout();
        assert_same_profile(&set_once, &set_want, &what("--mode set"));
        let twice = dir
            .tool("covmerge")
            .args(["--mode", "set"])
            .args(&files)
            .args(&files)
            .stdout();
        assert_same_profile(&twice, &set_want, &what("--mode set, every input twice"));
    }
});
