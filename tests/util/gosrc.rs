//! `covcore::gosrc`'s side and Go's side of tests/gosrc.rs: function extents
//! from go/parser (a small Go program built here) and from gosrc, per-function
//! figures from a profile, and a small module with tricky functions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use covcore::gosrc::{self, SourceRoot};
use covcore::input::Input;
use covcore::merge::{self, Options};

use super::go::go_cmd;
use super::Dir;

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
pub fn extents_helper(dir: &Dir, go: &Path) -> PathBuf {
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
pub fn go_extents(dir: &Dir, helper: &Path, files: &[PathBuf]) -> Vec<(PathBuf, Option<String>)> {
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

/// gosrc's answer for one file, in the helper's format.
pub fn our_extents(src: &[u8]) -> anyhow::Result<String> {
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
pub fn compare_extents(dir: &Dir, helper: &Path, files: &[PathBuf]) -> usize {
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

/// The `.go` files below `root`, sorted.
pub fn go_files(root: &Path) -> Vec<PathBuf> {
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

/// A profile merged by covcore.
pub fn merged(profile: &Path) -> covcore::merge::Merged {
    merge::merge(&[Input::Path(profile.to_path_buf())], &Options::default()).unwrap()
}

/// Our `go tool cover -func` text, and the (covered, total) of the total line.
pub fn ours(root: &SourceRoot, profile: &Path) -> (String, (u64, u64)) {
    let m = merged(profile);
    let funcs = gosrc::func_coverage(root, &m.files).unwrap();
    (gosrc::render_cover_func(&funcs), gosrc::func_total(&funcs))
}

/// Statements of all blocks of the files whose name ends in `suffix`.
pub fn all_block_statements(profile: &Path, suffix: &str) -> u64 {
    merged(profile)
        .files
        .iter()
        .filter(|f| f.path.ends_with(suffix.as_bytes()))
        .flat_map(|f| &f.blocks)
        .map(|b| b.stmts as u64)
        .sum()
}

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

/// Writes the module (example.com/m) into `mod/`; its root.
pub fn write_module(dir: &Dir) -> PathBuf {
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
