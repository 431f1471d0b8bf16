//! covreport's HTML page in headless Chromium (Debian's `chromium`,
//! installed by `cargo xtask test`): rendered with no console errors, the
//! total equal to covtotal's, a click on a file showing its annotated
//! source; and a 2,000-file page that stays small and opens.

use serde_json::Value;

use crate::util::report::*;
use crate::util::*;

covtest!(
    html_renders_in_chromium_with_covtotals_total_and_annotated_source,
    |dir: Dir| {
        if shop(&dir).is_none() {
            return;
        }
        report(
            &dir,
            &[
                "--format",
                "html",
                "--src",
                "shop",
                "shop.out",
                "-o",
                "report.html",
            ],
        );
        let html = dir.read("report.html");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "the page fetches nothing"
        );
        let (r, stderr) = chromium_selftest(&dir, "report.html");
        let total = dir
            .tool("covtotal")
            .args(["--src", "shop", "--percent", "shop.out"])
            .stdout();
        assert_eq!(r["total"], format!("{}%", total.trim()), "{r}");
        assert_eq!(r["errors"], Value::Array(vec![]), "{r}");
        assert!(!stderr.contains("Uncaught"), "{stderr}");
        assert_eq!(r["files"], 2, "{r}");
        // The first file (calc.go) opened with its blocks annotated: 12 blocks,
        // 7 never run (go test's own profile says so).
        let prof = dir.read("shop.out");
        let calc: Vec<&str> = prof
            .lines()
            .filter(|l| l.contains("/calc/calc.go:"))
            .collect();
        let zero = calc.iter().filter(|l| l.ends_with(" 0")).count();
        assert!(
            r["opened"]
                .as_str()
                .unwrap()
                .starts_with("example.com/shop/calc/calc.go"),
            "{r}"
        );
        assert_eq!(r["blocks"].as_u64(), Some(calc.len() as u64), "{r}");
        assert_eq!(r["uncovered"].as_u64(), Some(zero as u64), "{r}");

        // Without --src: the index and a note.
        report(&dir, &["--format", "html", "shop.out", "-o", "index.html"]);
        let (r, _) = chromium_selftest(&dir, "index.html");
        let total = dir
            .tool("covtotal")
            .args(["--percent", "shop.out"])
            .stdout();
        assert_eq!(r["total"], format!("{}%", total.trim()), "{r}");
        assert_eq!(r["blocks"], 0, "{r}");
        assert!(dir
            .read("index.html")
            .contains("No source: run covreport with --src DIR"));
    }
);

covtest!(
    html_of_two_thousand_files_stays_small_and_opens,
    |dir: Dir| {
        // Generated source and a profile that matches it (the blocks of each
        // function body), in a module: 2,000 files of 30 functions.
        dir.create("big/go.mod", "module example.com/big\n\ngo 1.21\n");
        let mut profile = String::from("mode: count\n");
        let mut source_bytes = 0usize;
        for f in 0..2000 {
            let mut src = format!("package p{}\n\n", f / 40);
            for k in 0..30 {
                let line = 3 + k * 5;
                src.push_str(&format!(
                "func F{k}(x int) int {{\n\tif x > {k} {{\n\t\treturn x - {k}\n\t}}\n\treturn x\n"
            ));
                src.push_str("}\n");
                // Blocks as Go writes them: the if, its body, the tail.
                let (c1, c2) = ((f + k) % 3, (f * k) % 2);
                profile.push_str(&format!(
                "example.com/big/p{}/f{f}.go:{}.23,{}.12 1 {c1}\nexample.com/big/p{}/f{f}.go:{}.12,{}.3 1 {c2}\nexample.com/big/p{}/f{f}.go:{}.2,{}.10 1 {c1}\n",
                f / 40, line, line + 1, f / 40, line + 1, line + 3, f / 40, line + 3, line + 4
            ));
                let _ = line;
            }
            source_bytes += src.len();
            dir.create(format!("big/p{}/f{f}.go", f / 40), src);
        }
        dir.create("big.out", profile);
        report(
            &dir,
            &[
                "--format", "html", "--src", "big", "big.out", "-o", "big.html",
            ],
        );
        let size = std::fs::metadata(dir.path("big.html")).unwrap().len() as usize;
        assert!(
            size < 3 * source_bytes,
            "the page is {size} bytes for {source_bytes} bytes of source"
        );
        let t = std::time::Instant::now();
        let (r, _) = chromium_selftest(&dir, "big.html");
        assert_eq!(r["files"], 2000, "{r}");
        assert_eq!(r["errors"], Value::Array(vec![]), "{r}");
        assert_eq!(r["blocks"], 90, "{r}");
        eprintln!(
            "2,000-file page: {size} bytes, loaded and opened in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
);

covtest!(
    html_shows_a_column_per_series_and_sorts_by_it,
    |dir: Dir| {
        let Some(go) = require_go() else { return };
        // Two test runs, one per package: each is a series (as each service of
        // integration-cover is).
        write_module(&dir, "shop");
        let module = dir.path("shop");
        go_cover(&go, &module, "count", &dir.path("calc.out"), &["./calc"]);
        go_cover(&go, &module, "count", &dir.path("store.out"), &["./store"]);
        report(
            &dir,
            &[
                "--format",
                "html",
                "--src",
                "shop",
                "calc.out",
                "store.out",
                "--series",
                "calc-tests=calc.out",
                "--series",
                "store-tests=store.out",
                "-o",
                "series.html",
            ],
        );
        let (r, _) = chromium_selftest(&dir, "series.html");
        assert_eq!(r["errors"], Value::Array(vec![]), "{r}");
        assert_eq!(
            r["series"],
            serde_json::json!(["calc-tests", "store-tests"]),
            "{r}"
        );
        // calc.go (first by name) in each series: its own run's figure (as
        // covtotal --src counts it), and none in the other.
        let calc = dir
            .tool("covtotal")
            .args(["--src", "shop", "--percent", "calc.out"])
            .stdout();
        assert_eq!(
            r["seriesShown"],
            serde_json::json!([format!("{}%", calc.trim()), "\u{2013}"]),
            "{r}"
        );
        // Sorted by store-tests, highest first: store.go leads, and opens.
        assert_eq!(r["sortedFirst"], "example.com/shop/store/store.go", "{r}");
        assert!(
            r["opened"]
                .as_str()
                .unwrap()
                .starts_with("example.com/shop/store/store.go"),
            "{r}"
        );
    }
);
