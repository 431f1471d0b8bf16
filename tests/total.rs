//! covtotal: the figure, its formats and the CI gates. (Agreement with Go's
//! own totals on real profiles is proven in oracle.rs.)

use crate::util::*;

// 10 statements, 7 covered: 70.0%.
const P: &str = "mode: count
example.com/m/a/x.go:1.1,2.1 3 1
example.com/m/a/x.go:3.1,4.1 2 0
example.com/m/b/y.go:1.1,2.1 4 9
example.com/m/b/y.go:3.1,4.1 1 0
";
// The same blocks, different counts: merged, 9 of 10 are covered.
const Q: &str = "mode: count
example.com/m/a/x.go:3.1,4.1 2 5
example.com/m/b/y.go:1.1,2.1 4 0
";

covtest!(prints_the_total_like_go_tool_cover_func, |dir: Dir| {
    dir.create("p.out", P);
    assert_eq!(
        dir.tool("covtotal").arg("p.out").stdout(),
        "total: (statements) 70.0%\n"
    );
    assert_eq!(
        dir.tool("covtotal").args(["--percent", "p.out"]).stdout(),
        "70.0\n"
    );
    assert_eq!(
        dir.tool("covtotal").stdin(P).stdout(),
        "total: (statements) 70.0%\n"
    );
});

covtest!(
    merges_before_counting_so_shared_blocks_count_once,
    |dir: Dir| {
        dir.create("p.out", P);
        dir.create("q.out", Q);
        assert_eq!(
            dir.tool("covtotal").args(["p.out", "q.out"]).stdout(),
            "total: (statements) 90.0%\n"
        );
        assert_eq!(
            dir.tool("covtotal").args(["q.out", "p.out"]).stdout(),
            "total: (statements) 90.0%\n"
        );
        dir.create("cat.out", format!("{P}{Q}"));
        assert_eq!(
            dir.tool("covtotal").arg("cat.out").stdout(),
            "total: (statements) 90.0%\n"
        );
    }
);

covtest!(breaks_down_by_package_and_file, |dir: Dir| {
    dir.create("p.out", P);
    let table = dir
        .tool("covtotal")
        .args(["--by", "package", "p.out"])
        .stdout();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["PACKAGE", "COVERED", "STATEMENTS", "PERCENT"],
            vec!["example.com/m/a", "3", "5", "60.0%"],
            vec!["example.com/m/b", "4", "5", "80.0%"],
            vec!["total", "7", "10", "70.0%"],
        ]
    );
    let table = dir
        .tool("covtotal")
        .args(["--by", "file", "p.out"])
        .stdout();
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("example.com/m/a/x.go "),
        "{table}"
    );
    let json = dir.tool("covtotal").args(["--json", "p.out"]).stdout();
    assert_eq!(
        json,
        "{\"covered\":7,\"statements\":10,\"percent\":70.0,\"packages\":[\
         {\"package\":\"example.com/m/a\",\"covered\":3,\"statements\":5,\"percent\":60.0},\
         {\"package\":\"example.com/m/b\",\"covered\":4,\"statements\":5,\"percent\":80.0}]}\n"
    );
});

covtest!(min_gate_exits_1_below_and_0_at_or_above, |dir: Dir| {
    dir.create("p.out", P);
    let (out, err) = dir
        .tool("covtotal")
        .args(["--min", "70.1", "p.out"])
        .expect_code(1);
    assert_eq!(out, "total: (statements) 70.0%\n");
    assert!(
        err.contains("total 70.0% is below the minimum 70.1%"),
        "{err}"
    );
    dir.tool("covtotal")
        .args(["--min", "70", "p.out"])
        .expect_code(0);
    dir.tool("covtotal")
        .args(["--min", "0", "p.out"])
        .expect_code(0);
    let (_, err) = dir
        .tool("covtotal")
        .args(["--min", "170", "p.out"])
        .expect_code(2);
    assert!(err.contains("--min 170"), "{err}");
});

covtest!(baseline_gate_reports_old_new_and_delta, |dir: Dir| {
    dir.create("p.out", P);
    dir.create("q.out", Q);
    // A percent saved from the main branch, in any of the forms covtotal prints.
    for saved in ["90.0\n", "90%\n", "total: (statements) 90.0%\n"] {
        dir.create("main.pct", saved);
        let (_, err) = dir
            .tool("covtotal")
            .args(["--baseline", "main.pct", "p.out"])
            .expect_code(1);
        assert!(
            err.contains("baseline 90.0% -> now 70.0% (delta -20.0)"),
            "{err}"
        );
    }
    dir.create("main.pct", "70.5\n");
    dir.tool("covtotal")
        .args(["--baseline", "main.pct", "--max-drop", "0.5", "p.out"])
        .expect_code(0);
    dir.tool("covtotal")
        .args(["--baseline", "main.pct", "--max-drop", "0.4", "p.out"])
        .expect_code(1);
    // A profile as the baseline: the merged p+q (90%) against p alone.
    dir.tool("covmerge")
        .args(["p.out", "q.out", "-o", "main.cov"])
        .stdout();
    let (_, err) = dir
        .tool("covtotal")
        .args(["--baseline", "main.cov", "p.out"])
        .expect_code(1);
    assert!(
        err.contains("baseline 90.0% -> now 70.0% (delta -20.0)"),
        "{err}"
    );
    let (_, err) = dir
        .tool("covtotal")
        .args(["--baseline", "p.out", "main.cov"])
        .expect_code(0);
    assert!(err.contains("(delta +20.0): ok"), "{err}");
    // A bad baseline is an error, before anything is printed.
    dir.create("bad.pct", "\nlots\n");
    let (out, err) = dir
        .tool("covtotal")
        .args(["--baseline", "bad.pct", "p.out"])
        .expect_code(2);
    assert_eq!(out, "");
    assert!(
        err.contains("bad.pct:2: expected a percent such as 81.2"),
        "{err}"
    );
});

covtest!(no_statements_is_zero_percent, |dir: Dir| {
    dir.create("e.out", "mode: set\n");
    assert_eq!(
        dir.tool("covtotal").arg("e.out").stdout(),
        "total: (statements) 0.0%\n"
    );
});

covtest!(rounds_like_go_printf, |dir: Dir| {
    // What Go's fmt.Printf("%.1f", 100*covered/total) prints for each.
    for (covered, total, want) in [
        (1, 8, "12.5"),
        (1, 3, "33.3"),
        (2, 3, "66.7"),
        (1999, 2000, "100.0"),
        (1, 1000, "0.1"),
    ] {
        let text = format!(
            "mode: set\nf.go:1.1,2.1 {covered} 1\nf.go:3.1,4.1 {} 0\n",
            total - covered
        );
        assert_eq!(
            dir.tool("covtotal").arg("--percent").stdin(text).stdout(),
            format!("{want}\n")
        );
    }
});

covtest!(paths_that_are_not_utf8_stay_distinct, |dir: Dir| {
    dir.create(
        "p.out",
        &b"mode: set\nm/a\xff.go:1.1,2.1 1 1\nm/a\xfe.go:1.1,2.1 2 0\nm/b\xff/c.go:1.1,2.1 4 1\n"[..],
    );
    let out = dir
        .tool("covtotal")
        .args(["--by", "file", "p.out"])
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').collect();
    assert!(rows[1].starts_with(b"m/a\xfe.go "), "{:?}", rows);
    assert!(rows[2].starts_with(b"m/a\xff.go "), "{:?}", rows);
    assert!(rows[3].starts_with(b"m/b\xff/c.go "), "{:?}", rows);
    assert!(rows[4].starts_with(b"total "), "{:?}", rows);
    let out = dir
        .tool("covtotal")
        .args(["--by", "package", "p.out"])
        .output();
    let rows: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').collect();
    assert!(rows[1].starts_with(b"m "), "{:?}", rows);
    assert!(rows[2].starts_with(b"m/b\xff "), "{:?}", rows);
    assert_eq!(
        dir.tool("covtotal").args(["--percent", "p.out"]).stdout(),
        "71.4\n"
    );
});
