//! `covcore::gosrc` against Go itself: function extents against go/parser on
//! every file of GOROOT/src (and CRLF/BOM copies, and hand-written tricky
//! files), and the per-function figures and total against `go tool cover
//! -func` on real profiles of standard-library packages and of a small
//! module, byte for byte. Their helpers are in `util::gosrc`.

use std::fmt::Write as _;

use covcore::gosrc::{self, SourceRoot};

use crate::util::go::{assert_same_text, cover_func, go_cmd, goroot};
use crate::util::gosrc::{
    all_block_statements, compare_extents, extents_helper, go_files, merged, ours, write_module,
};
use crate::util::*;

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
        assert_same_text(&got, &want, &format!("cover -func of {}", p.display()));
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
    assert_same_text(&got, &want, "cover -func of the module");
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
    assert_same_text(&got, &want, "cover -func of blocks on function boundaries");
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
