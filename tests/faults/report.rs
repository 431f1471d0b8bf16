//! covreport (and covtotal --src) on hostile profiles: names an HTML parser
//! or XML cannot take as they are, a block spanning billions of lines, a
//! package name with a backtick.

use std::process::Command;

use serde_json::Value;

use crate::util::report::{chromium_selftest, consumer};
use crate::util::*;

/// A path that opens an HTML comment and a script inside a script element.
const HOSTILE: &str = "m/<!--<script>.go";

// The page's data sits in a script element. `<!--<script>` in it makes an
// HTML parser look for a second `</script>` past the first, swallowing the
// page's own script: the page stays blank. The same through a series name.
covtest!(
    html_page_lives_with_a_hostile_path_and_series_name,
    |dir: Dir| {
        dir.create(
            "h.out",
            format!("mode: set\n{HOSTILE}:1.1,2.2 1 1\nm/b.go:1.1,2.2 1 0\n"),
        );
        let series = format!("{HOSTILE}</script>=h.out");
        dir.tool("covreport")
            .args(["--format", "html", "h.out", "-o", "h.html", "--series"])
            .arg(&series)
            .stdout();
        let html = dir.read("h.html");
        let open = "<script type=\"application/json\" id=\"data\">";
        let data = &html[html.find(open).unwrap() + open.len()..];
        let data = &data[..data.find("</script>").unwrap()];
        assert!(!data.contains('<'), "a `<` in the data: {data}");
        let json: Value = serde_json::from_str(data).unwrap();
        assert_eq!(json["files"][0][0], HOSTILE);
        assert_eq!(json["series"][0], format!("{HOSTILE}</script>"));

        let (r, stderr) = chromium_selftest(&dir, "h.html");
        assert_eq!(r["errors"], Value::Array(vec![]), "{r}\n{stderr}");
        assert_eq!(r["files"], 2, "{r}");
        assert_eq!(r["total"], "50.0%", "{r}");
        assert_eq!(r["series"][0], format!("{HOSTILE}</script>"), "{r}");
    }
);

/// `bash -c 'ulimit -v KB; exec TOOL ARGS'`: the tool with its address
/// space bounded.
fn bounded(dir: &Dir, kb: u64, tool: &str) -> TestCommand {
    let mut cmd = dir.command("bash");
    cmd.args(["-c", &format!("ulimit -v {kb}; exec \"$0\" \"$@\"")])
        .arg(bin(tool));
    cmd
}

// No source says how long a file is: one block may claim four billion
// lines. Every format that needs no line list works per block (a few MB),
// and the line figures still count every line.
covtest!(a_block_of_billions_of_lines_costs_no_memory, |dir: Dir| {
    dir.create("big.out", "mode: set\nm/a.go:1.1,4000000000.1 1 1\n");
    for format in ["badge", "json", "markdown", "html"] {
        bounded(&dir, 256 << 10, "covreport")
            .args(["--format", format, "big.out", "-o"])
            .arg(format!("big.{format}"))
            .stdout();
    }
    let json: Value = serde_json::from_str(&dir.read("big.json")).unwrap();
    assert_eq!(
        json["lines"],
        serde_json::json!({"covered": 3_999_999_999u64, "total": 3_999_999_999u64})
    );
    // lcov and Cobertura list every line: they stream them. Two million
    // lines, in a tenth of the memory they would take as a list.
    dir.create("long.out", "mode: count\nm/a.go:3.1,2000002.9 1 4\n");
    bounded(&dir, 256 << 10, "covreport")
        .args(["--format", "lcov", "long.out", "-o", "long.info"])
        .stdout();
    let lcov = dir.read("long.info");
    assert!(lcov.contains("DA:3,4\n") && lcov.contains("DA:2000002,4\nLF:2000000\nLH:2000000\n"));
});

// With the source, the file's length is known: a block ending past it
// belongs to another version of the file, and covreport refuses it.
covtest!(src_refuses_a_block_past_the_end_of_its_file, |dir: Dir| {
    dir.create("m/go.mod", "module m\n\ngo 1.21\n");
    dir.create("m/a.go", "package m\n\nfunc A() {\n\tprintln()\n}\n");
    dir.create("big.out", "mode: set\nm/a.go:3.10,4000000000.1 1 1\n");
    dir.create("ok.out", "mode: set\nm/a.go:3.10,5.2 1 1\n");
    let (_, err) = bounded(&dir, 256 << 10, "covreport")
        .args(["--format", "badge", "--src", "m", "big.out"])
        .expect_code(2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "m/a.go:3.10,4000000000.1: the block ends at line 4000000000, past the end of"
        ) && err.contains("a.go (6 lines)"),
        "{err}"
    );
    for format in ["lcov", "cobertura", "json", "html"] {
        let (_, err) = dir
            .tool("covreport")
            .args(["--format", format, "--src", "m", "big.out"])
            .expect_code(2);
        assert!(err.contains("past the end of"), "{format}: {err}");
        dir.tool("covreport")
            .args(["--format", format, "--src", "m", "ok.out"])
            .stdout();
    }
    // covtotal --src prints `go tool cover -func`'s figure, which counts
    // statements and no lines: per block, whatever the span.
    let out = bounded(&dir, 256 << 10, "covtotal")
        .args(["--src", "m", "big.out"])
        .stdout();
    assert_eq!(out, "total: (statements) 100.0%\n");
});

// XML 1.0 has no way to write U+0001 (not even `&#1;`): refused, naming the
// path, no file written. What XML can carry is written and xmllint reads it
// against the DTD; the HTML page carries any name inside its JSON.
covtest!(cobertura_refuses_what_xml_cannot_carry, |dir: Dir| {
    for (name, shown) in [
        ("m/a\u{1}b.go", "m/a\\u{1}b.go"),
        ("m/a\u{1f}.go", "m/a\\u{1f}.go"),
        ("m/\u{ffff}.go", "m/\\u{ffff}.go"),
    ] {
        dir.create("c.out", format!("mode: set\n{name}:1.1,2.2 1 1\n"));
        let (_, err) = dir
            .tool("covreport")
            .args(["--format", "cobertura", "c.out", "-o", "c.xml"])
            .expect_code(2);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(shown) && err.contains("XML 1.0 cannot carry"),
            "{err}"
        );
        assert_eq!(entries(&dir.root), ["c.out"], "nothing written");
        let html = dir
            .tool("covreport")
            .args(["--format", "html", "c.out"])
            .stdout();
        assert!(
            html.contains(name) != name.contains(char::is_control),
            "a control character written raw in the page, or the name lost"
        );
    }
    dir.create(
        "c.out",
        "mode: set\nm/tab\there & <é>.go:1.1,2.2 1 1\nm/\u{7f}.go:1.1,2.2 1 0\n",
    );
    dir.tool("covreport")
        .args(["--format", "cobertura", "c.out", "-o", "c.xml"])
        .stdout();
    let dtd = project_root().join("tests/fixtures/coverage-04.dtd");
    let out = Command::new(consumer("xmllint"))
        .args(["--noout", "--dtdvalid"])
        .arg(&dtd)
        .arg(dir.path("c.xml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
});

// A code span ends at the first run of as many backticks as opened it.
covtest!(markdown_code_spans_hold_backticks, |dir: Dir| {
    dir.create(
        "b.out",
        "mode: set\nm/a`b/x.go:1.1,2.2 1 1\nm/``c`/y.go:1.1,2.2 1 0\n",
    );
    let md = dir
        .tool("covreport")
        .args(["--format", "markdown", "b.out"])
        .stdout();
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(
        rows,
        [
            "| ``` m/``c` ``` | 0 | 1 | 0.0% |",
            "| ``m/a`b`` | 1 | 1 | 100.0% |"
        ],
        "{md}"
    );
});
