//! `covcore::gosrc` against Go itself: function extents against go/parser on
//! every file of GOROOT/src (and CRLF/BOM copies, and hand-written tricky
//! files), and the per-function figures and total against `go tool cover
//! -func` on real profiles of standard-library packages and of a small
//! module, byte for byte.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use covcore::gosrc::{self, SourceRoot};
use covcore::input::Input;
use covcore::merge::{self, Options};

use crate::util::*;

/// `go` with a quiet, offline, deterministic environment.
fn go_cmd(dir: &Dir, go: &Path, cwd: &Path) -> TestCommand {
    let mut cmd = dir.command(go);
    cmd.cmd.current_dir(cwd);
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env("GO111MODULE", "");
    cmd
}

fn goroot(dir: &Dir, go: &Path) -> PathBuf {
    PathBuf::from(
        go_cmd(dir, go, &dir.root)
            .args(["env", "GOROOT"])
            .stdout()
            .trim(),
    )
}

/// A Go program that prints, for each file named on stdin, what cmd/cover's
/// `findFuncs` finds: `name start.col,end.col` per FuncDecl with a body,
/// positions from `fset.Position`.
const EXTENTS_GO: &str = r#"package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
)

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		name := in.Text()
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			fmt.Fprintf(out, "E %s\n", name)
			continue
		}
		fmt.Fprintf(out, "F %s\n", name)
		ast.Inspect(f, func(n ast.Node) bool {
			if fd, ok := n.(*ast.FuncDecl); ok && fd.Body != nil {
				s, e := fset.Position(fd.Pos()), fset.Position(fd.End())
				fmt.Fprintf(out, "  %s %d.%d,%d.%d\n", fd.Name.Name, s.Line, s.Column, e.Line, e.Column)
			}
			return true
		})
	}
}
"#;

/// Builds the extents helper in the scratch dir.
fn extents_helper(dir: &Dir, go: &Path) -> PathBuf {
    dir.create("helper/go.mod", "module helper\n\ngo 1.21\n");
    dir.create("helper/main.go", EXTENTS_GO);
    let exe = dir.path("helper/extents");
    go_cmd(dir, go, &dir.path("helper"))
        .args(["build", "-o"])
        .arg(&exe)
        .arg(".")
        .stdout();
    exe
}

/// Go's answer (None: go/parser rejects the file) for each file.
fn go_extents(dir: &Dir, helper: &Path, files: &[PathBuf]) -> Vec<(PathBuf, Option<String>)> {
    let list: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    let out = dir.command(helper).stdin(list).stdout();
    let mut res: Vec<(PathBuf, Option<String>)> = Vec::new();
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("F ") {
            res.push((PathBuf::from(name), Some(String::new())));
        } else if let Some(name) = line.strip_prefix("E ") {
            res.push((PathBuf::from(name), None));
        } else {
            let text = res.last_mut().unwrap().1.as_mut().unwrap();
            text.push_str(line.trim_start());
            text.push('\n');
        }
    }
    assert_eq!(res.len(), files.len(), "the helper answered for every file");
    res
}

fn our_extents(src: &[u8]) -> anyhow::Result<String> {
    let mut s = String::new();
    for f in gosrc::func_decls(src)? {
        let e = f.extent;
        writeln!(
            s,
            "{} {}.{},{}.{}",
            f.name, e.start_line, e.start_col, e.end_line, e.end_col
        )
        .unwrap();
    }
    Ok(s)
}

/// Compares our extents with go/parser's for each file Go parses; returns
/// how many files were compared.
fn compare_extents(dir: &Dir, helper: &Path, files: &[PathBuf]) -> usize {
    let mut failures = Vec::new();
    let mut compared = 0;
    for (path, want) in go_extents(dir, helper, files) {
        let Some(want) = want else { continue };
        compared += 1;
        let src = std::fs::read(&path).unwrap();
        match our_extents(&src) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "{}:\n--- go/parser\n{want}--- gosrc\n{got}",
                path.display()
            )),
            Err(e) => failures.push(format!(
                "{}: gosrc failed where go/parser did not: {e:#}",
                path.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} files differ; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    compared
}

fn go_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && e.path().extension().is_some_and(|x| x == "go") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Tricky syntax that go/parser must agree on, checked together with GOROOT.
const TRICKY: &[(&str, &str)] = &[
    (
        "generics.go",
        "package p\n\
         type S[K comparable, V any] struct{ m map[K]V }\n\
         func (s *S[K, V]) Get(k K) (V, bool) { v, ok := s.m[k]; return v, ok }\n\
         func F[T interface{ ~int | ~string }](x T) T { return x }\n\
         func G[T any, PT interface{ *T; M() }](x T) {}\n\
         func H() S[int, struct{ a [2]func() }] { return S[int, struct{ a [2]func() }]{} }\n",
    ),
    (
        "results.go",
        "package p\n\
         func a() struct{ a int } { return struct{ a int }{} }\n\
         func b() func() { return nil }\n\
         func c() func() func() int { return nil }\n\
         func d() interface{ M() struct{} } { return nil }\n\
         func e() (x struct{}, err error) { return }\n\
         func f() <-chan struct{} { return nil }\n\
         func g() map[string]chan<- func() { return nil }\n\
         func h(...int) [3]*struct{} { return [3]*struct{}{} }\n\
         func asm(x int) int\n\
         func i() {\n}\n",
    ),
    (
        "literals.go",
        "package p\n\
         var s = \"func x() { \\\" }\"\n\
         var r, q = '}', '\\''\n\
         var raw = `\nfunc raw() {\n}`\n\
         var Usage = func() {\n\tprintln(\"}\")\n}\n\
         var (\n\tg = func() {}\n)\n\
         func ok() { _ = `}`; /* } */ _ = '{' } // }\n\
         /* func c() {\n} */ func after() {}\n\
         var n = 0x1p-2 + 1e+3 + .5 + 0x1e+\n\t2\n\
         func last() {}",
    ),
    (
        "directives.go",
        "package p\n\
         //line directives.go:100\n\
         func a() {\n}\n\
         //line other.y:7:3\n\
         func b() {}\n\
         /*line :50:9*/ func c() {}\n\
         \t//line not.go:1\n\
         func d() {}\n\
         //line directives.go:200:1\n\
         func e() {\n\t/*line x.go:1:1*/ }\n",
    ),
    ("bom_crlf.go", "\u{FEFF}package p\r\n\r\n//line bom_crlf.go:40\r\nfunc f() {\r\n\t_ = `a\r\nb`\r\n}\r\nfunc g() { }\r\n"),
];

covtest!(extents_match_go_parser_on_goroot, |dir: Dir| {
    let Some(go) = require_go() else { return };
    let helper = extents_helper(&dir, &go);
    let root = goroot(&dir, &go).join("src");
    let mut files = go_files(&root);
    assert!(
        files.len() > 5000,
        "GOROOT/src holds {} .go files",
        files.len()
    );
    // CRLF copies with a BOM of every 10th file, and the tricky files.
    for (i, f) in files
        .clone()
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 == 0)
    {
        let src = std::fs::read(f).unwrap();
        let mut crlf = b"\xEF\xBB\xBF".to_vec();
        for &b in &src {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        files.push(dir.create(format!("crlf/{i}.go"), crlf));
    }
    for (name, src) in TRICKY {
        files.push(dir.create(format!("tricky/{name}"), src));
    }
    let compared = compare_extents(&dir, &helper, &files);
    eprintln!(
        "gosrc agrees with go/parser on {compared} of {} files",
        files.len()
    );
    assert!(
        compared > files.len() * 9 / 10,
        "most files parse: {compared} of {}",
        files.len()
    );
});

/// Runs `go tool cover -func` on a profile in `cwd`.
fn cover_func(dir: &Dir, go: &Path, cwd: &Path, profile: &Path) -> String {
    go_cmd(dir, go, cwd)
        .args(["tool", "cover"])
        .arg(format!("-func={}", profile.display()))
        .stdout()
}

fn merged(profile: &Path) -> covcore::merge::Merged {
    merge::merge(&[Input::Path(profile.to_path_buf())], &Options::default()).unwrap()
}

/// Our `go tool cover -func` text, and the (covered, total) of the total line.
fn ours(root: &SourceRoot, profile: &Path) -> (String, (u64, u64)) {
    let m = merged(profile);
    let funcs = gosrc::func_coverage(root, &m.files).unwrap();
    (gosrc::render_cover_func(&funcs), gosrc::func_total(&funcs))
}

/// Statements of all blocks of the files whose name ends in `suffix`.
fn all_block_statements(profile: &Path, suffix: &str) -> u64 {
    merged(profile)
        .files
        .iter()
        .filter(|f| f.path.ends_with(suffix.as_bytes()))
        .flat_map(|f| &f.blocks)
        .map(|b| b.stmts as u64)
        .sum()
}

fn assert_same_text(want: &str, got: &str) {
    if want != got {
        for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
            assert_eq!(
                g,
                w,
                "line {} differs (left: gosrc, right: go tool cover -func)",
                i + 1
            );
        }
        assert_eq!(
            got.lines().count(),
            want.lines().count(),
            "line counts differ"
        );
        assert_eq!(got, want);
    }
}

covtest!(cover_func_on_std_packages, |dir: Dir| {
    let Some(go) = require_go() else { return };
    let root = SourceRoot::open(&goroot(&dir, &go).join("src")).unwrap();
    // GOROOT/src has a go.mod (`module std`) but GOPATH-style paths.
    assert_eq!(root.module.as_deref(), Some("std"));
    // flag has `var Usage = func() {...}`; slices is generic; json and
    // template have many methods.
    let pkgs = [
        "flag",
        "strings",
        "strconv",
        "bufio",
        "net/url",
        "slices",
        "encoding/json",
        "text/template",
    ];
    let profile = dir.path("std.out");
    go_cmd(&dir, &go, &dir.root)
        .args(["test", "-short", "-covermode=count"])
        .arg(format!("-coverprofile={}", profile.display()))
        .args(pkgs)
        .stdout();
    // And a -run subset of one package, a different block set.
    let subset = dir.path("strings-subset.out");
    go_cmd(&dir, &go, &dir.root)
        .args(["test", "-covermode=count", "-run", "^TestIndex"])
        .arg(format!("-coverprofile={}", subset.display()))
        .arg("strings")
        .stdout();
    for p in [&profile, &subset] {
        let want = cover_func(&dir, &go, &dir.root, p);
        let (got, (covered, total)) = ours(&root, p);
        assert_same_text(&want, &got);
        let total_line = want
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            total_line,
            format!("total: (statements) {:.1}%", gosrc::percent(covered, total))
        );
        eprintln!(
            "{}: {total_line} ({covered}/{total}), {} functions",
            p.display(),
            want.lines().count() - 1
        );
    }
    // The package-level function literal in flag.go is in the profile but in
    // no function: cover -func's flag.go statements are fewer than the blocks'.
    let m = merged(&profile);
    let funcs = gosrc::func_coverage(&root, &m.files).unwrap();
    let in_funcs: u64 = funcs
        .iter()
        .filter(|f| f.file == b"flag/flag.go")
        .map(|f| f.statements)
        .sum();
    let in_blocks = all_block_statements(&profile, "flag/flag.go");
    assert!(
        in_funcs < in_blocks,
        "flag.go: {in_funcs} statements in functions, {in_blocks} in blocks"
    );
});

const MODULE_GO: &str = "package m\n\
\n\
import \"strings\"\n\
\n\
// Usage is a package-level function literal: not in any FuncDecl.\n\
var Usage = func() string {\n\
\tif strings.Contains(\"a\", \"b\") {\n\
\t\treturn \"x\"\n\
\t}\n\
\treturn \"usage\"\n\
}\n\
\n\
var (\n\
\thelper = func(n int) int {\n\
\t\treturn n * 2\n\
\t}\n\
)\n\
\n\
type Stack[T any] struct{ items []T }\n\
\n\
func (s *Stack[T]) Push(v T) { s.items = append(s.items, v) }\n\
\n\
func (s *Stack[T]) Pop() (T, bool) {\n\
\tvar zero T\n\
\tif len(s.items) == 0 {\n\
\t\treturn zero, false\n\
\t}\n\
\tv := s.items[len(s.items)-1]\n\
\ts.items = s.items[:len(s.items)-1]\n\
\treturn v, true\n\
}\n\
\n\
func Map[T, U any](xs []T, f func(T) U) []U {\n\
\tout := make([]U, 0, len(xs))\n\
\tfor _, x := range xs {\n\
\t\tout = append(out, f(x))\n\
\t}\n\
\treturn out\n\
}\n\
\n\
func Pair() struct{ A, B int } { return struct{ A, B int }{helper(1), 2} }\n\
\n\
func Counter() func() int {\n\
\tn := 0\n\
\treturn func() int {\n\
\t\tn++\n\
\t\treturn n\n\
\t}\n\
}\n\
\n\
func Unused(s string) string {\n\
\tif s == \"}\" {\n\
\t\treturn `{\n}`\n\
\t}\n\
\treturn s\n\
}\n";

/// Physical lines that differ from what a `//line` directive says: cover
/// -func's extents move, the profile's blocks do not.
const LINES_GO: &str = "package m\n\
\n\
func Before(x int) int {\n\
\tif x > 0 {\n\
\t\treturn x\n\
\t}\n\
\treturn -x\n\
}\n\
\n\
//line lines.go:5\n\
func Moved(x int) int {\n\
\tif x > 1 {\n\
\t\treturn 1\n\
\t}\n\
\treturn 2\n\
}\n\
\n\
//line lines.go:300:1\n\
func Far() int { return 3 }\n";

const CRLF_GO: &str = "package m\r\n\r\nfunc Crlf(a, b int) int {\r\n\tif a > b {\r\n\t\treturn a\r\n\t}\r\n\treturn b\r\n}\r\n";

const MODULE_TEST_GO: &str = "package m\n\
\n\
import \"testing\"\n\
\n\
func TestAll(t *testing.T) {\n\
\t_ = Usage()\n\
\tvar s Stack[int]\n\
\ts.Push(1)\n\
\tif v, ok := s.Pop(); !ok || v != 1 {\n\
\t\tt.Fatal(v, ok)\n\
\t}\n\
\t_ = Map([]int{1, 2}, func(i int) string { return \"\" })\n\
\t_ = Pair()\n\
\t_ = Counter()()\n\
\t_ = Before(1) + Moved(3) + Crlf(1, 2)\n\
}\n";

fn write_module(dir: &Dir) -> PathBuf {
    dir.create(
        "mod/go.mod",
        "// A test module.\nmodule example.com/m // trailing comment\n\ngo 1.21\n",
    );
    dir.create("mod/m.go", MODULE_GO);
    dir.create("mod/lines.go", LINES_GO);
    dir.create("mod/crlf.go", CRLF_GO);
    dir.create(
        "mod/sub/sub.go",
        "package sub\n\nfunc Sub() int { return 1 }\n",
    );
    dir.create("mod/m_test.go", MODULE_TEST_GO);
    dir.path("mod")
}

covtest!(cover_func_in_a_module, |dir: Dir| {
    let Some(go) = require_go() else { return };
    let modroot = write_module(&dir);
    let profile = dir.path("m.out");
    go_cmd(&dir, &go, &modroot)
        .args(["test", "-covermode=count", "-coverpkg=./..."])
        .arg(format!("-coverprofile={}", profile.display()))
        .arg("./...")
        .stdout();
    let root = SourceRoot::open(&modroot).unwrap();
    assert_eq!(root.module.as_deref(), Some("example.com/m"));
    let want = cover_func(&dir, &go, &modroot, &profile);
    let (got, (covered, total)) = ours(&root, &profile);
    assert_same_text(&want, &got);
    eprintln!("module: {}", want.trim_end().replace('\n', "\n  "));
    // The two package-level literals are left out; the //line directives
    // moved Moved and Far.
    assert!(!got.contains("func1"), "{got}");
    assert!(got.contains("example.com/m/lines.go:5:\tMoved"), "{got}");
    assert!(got.contains("example.com/m/lines.go:300:\tFar"), "{got}");
    assert!(
        total < all_block_statements(&profile, ".go"),
        "{covered}/{total}"
    );
});

covtest!(cover_func_block_boundaries, |dir: Dir| {
    // Blocks placed exactly on and around function boundaries, to pin down
    // cover -func's break/continue rules: a block touching a function's
    // start or end does not count, one overlapping by a byte does, one
    // overlapping two functions counts in both.
    let Some(go) = require_go() else { return };
    let modroot = write_module(&dir);
    let root = SourceRoot::open(&modroot).unwrap();
    let mut profile = String::from("mode: set\n");
    let mut n = 1u32;
    for file in ["m.go", "lines.go", "crlf.go"] {
        let funcs = gosrc::func_decls(&std::fs::read(modroot.join(file)).unwrap()).unwrap();
        let mut add = |a: (u32, u32), b: (u32, u32)| {
            // Distinct statement counts make every block visible in percents.
            n += 1;
            writeln!(
                profile,
                "example.com/m/{file}:{}.{},{}.{} {n} {}",
                a.0,
                a.1,
                b.0,
                b.1,
                n % 2
            )
            .unwrap();
        };
        for f in &funcs {
            let e = f.extent;
            let (s, t) = ((e.start_line, e.start_col), (e.end_line, e.end_col));
            let before = (s.0.saturating_sub(1).max(1), 1);
            add(before, s); // ends at the start: outside
            add(before, (s.0, s.1 + 1)); // one byte in
            add((t.0, t.1.saturating_sub(1)), (t.0 + 1, 1)); // last byte in
            add(t, (t.0 + 1, 2)); // starts at the end: outside
            add((s.0, s.1 + 2), (t.0, t.1.saturating_sub(1))); // inside
        }
        if let [a, b, ..] = &funcs[..] {
            // Spans from inside the first function into the second.
            add(
                (a.extent.end_line, a.extent.end_col.saturating_sub(1)),
                (b.extent.start_line, b.extent.start_col + 1),
            );
        }
    }
    let path = dir.create("bounds.out", profile);
    let want = cover_func(&dir, &go, &modroot, &path);
    let (got, _) = ours(&root, &path);
    assert_same_text(&want, &got);
});

covtest!(source_root_resolution, |dir: Dir| {
    let modroot = write_module(&dir);
    let root = SourceRoot::open(&modroot).unwrap();
    assert_eq!(
        root.resolve("example.com/m/sub/sub.go").unwrap(),
        modroot.join("sub/sub.go")
    );
    let abs = modroot.join("m.go");
    assert_eq!(
        root.resolve(abs.as_os_str().as_encoded_bytes()).unwrap(),
        abs
    );
    let err = root
        .resolve("example.com/m/sub/gone.go")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("example.com/m/sub/gone.go: source file not found: looked for "),
        "{err}"
    );
    assert!(
        err.contains(&modroot.join("sub/gone.go").display().to_string()),
        "{err}"
    );
    assert!(err.contains("module example.com/m"), "{err}");
    let err = root
        .resolve("example.com/other/x.go")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("example.com/other/x.go: not in module example.com/m"),
        "{err}"
    );
    // A prefix of the module path that is not a path element is not in it.
    assert!(root.resolve("example.com/mm/m.go").is_err());

    let gopath = SourceRoot::open(&dir.path("mod/..")).unwrap();
    assert_eq!(gopath.module, None);
    assert!(gopath.resolve("mod/m.go").unwrap().is_file());
    let err = gopath.resolve("fmt/print.go").unwrap_err().to_string();
    assert!(
        err.contains("GOPATH-style root") && err.contains("fmt/print.go"),
        "{err}"
    );

    assert!(SourceRoot::open(&dir.path("nope"))
        .unwrap_err()
        .to_string()
        .contains("not a directory"));
    dir.create("badmod/go.mod", "go 1.21\n");
    let err = SourceRoot::open(&dir.path("badmod")).unwrap_err();
    assert!(
        format!("{err:#}").contains("no module directive"),
        "{err:#}"
    );

    // func_coverage names the profile's file when it is missing.
    let files = vec![covcore::profile::FileBlocks {
        path: "example.com/m/gone.go".into(),
        blocks: vec![],
    }];
    let err = gosrc::func_coverage(&root, &files).unwrap_err().to_string();
    assert!(
        err.starts_with("example.com/m/gone.go: source file not found"),
        "{err}"
    );
    // And a Go file it cannot read names the file on disk and the place.
    dir.create("mod/broken.go", "package m\n\nfunc Broken() {\n");
    let files = vec![covcore::profile::FileBlocks {
        path: "example.com/m/broken.go".into(),
        blocks: vec![],
    }];
    let err = format!("{:#}", gosrc::func_coverage(&root, &files).unwrap_err());
    assert!(
        err.contains("broken.go: line 3:15: '{' opened at line 3:15 is never closed"),
        "{err}"
    );
});

/// covtools' go.mod reader against the go command's own (`go mod edit
/// -json`, modfile.Parse): the same files accepted, the same module path
/// and go version read.
#[test]
fn gomod_reader_agrees_with_go_mod_edit() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("gomod_reader_agrees_with_go_mod_edit");
    let cases = [
        "module example.com/m\n\ngo 1.22\n",
        "// head\nmodule example.com/m // tail\ngo 1.22 // x\n",
        "module \"example.com/q\"\ngo 1.21.0\n",
        "module \"example.com/m\\x41\"\n",
        "module `example.com/m`\ngo 1.22\n",
        "module example.com/m /* c */\ngo 1.22\n",
        "/* c */ module example.com/m\n",
        "module example.com/m//x\ngo 1.22\n",
        "module (\n\texample.com/b // c\n)\ngo 1.22\n",
        "module example.com/m\ngo 1\n",
        "module example.com/m\ngo 1.22rc1\n",
        "module example.com/m\nmodule example.com/n\n",
        "module \"example.com/m\n",
        "module example.com/m\ngo 1.22\nrequire (\n\texample.com/x v1.0.0 // indirect\n)\n",
        "module a'b\n",
        "module example.com/m\r\ngo 1.22\r\n",
    ];
    for text in cases {
        let sub = dir.path(format!("m{}", text.len()));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("go.mod"), text).unwrap();
        let out = go_cmd(&dir, &go, &sub)
            .args(["mod", "edit", "-json"])
            .output();
        let ours = covcore::gosrc::gomod::GoMod::parse("go.mod", text.as_bytes());
        let go_json = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            ours.is_ok(),
            out.status.success(),
            "{text:?}: ours {ours:?}; go: {go_json} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let Ok(ours) = ours else { continue };
        // `"Module": {"Path": "…"}` and `"Go": "…"` in go's JSON.
        let field = |after: &str, key: &str| -> Option<String> {
            let rest = &go_json[go_json.find(after)?..];
            let rest = &rest[rest.find(&format!("\"{key}\": \""))? + key.len() + 5..];
            Some(rest[..rest.find('"')?].to_string())
        };
        assert_eq!(ours.module, field("\"Module\"", "Path"), "{text:?}");
        assert_eq!(
            ours.go,
            field("\"Go\"", "Go").filter(|g| !g.is_empty()),
            "{text:?}: {go_json}"
        );
    }
}
