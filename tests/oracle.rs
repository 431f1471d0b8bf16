//! The proof against Go: real profiles made in this test run by the real Go
//! toolchain (tests of standard-library packages, text `-coverprofile` runs
//! and binary `-test.gocoverdir` runs, overlapping on purpose), and Go's own
//! tools as the oracle: `go tool covdata merge|textfmt|func`, the `coverage:`
//! line of `go test`, `go tool cover -func`. Then the algebra (commutative,
//! associative, idempotent, split-independent) on those real profiles and on
//! random ones whose right answer is computed here.
//!
//! The Go data is made once per test run (`util::oracle::go_data()`) and
//! shared; the algebra is in `oracle/`.

use crate::util::go::{assert_same_text, cover_func, last_percent};
use crate::util::oracle::go_data;
use crate::util::profile_text::{block_lines, block_set, read, sorted_profile, total_line};
use crate::util::*;

mod random;
mod real_algebra;

// ---------------------------------------------------------------------------
// Against Go.

covtest!(binary_runs_merge_exactly_like_covdata_merge, |dir: Dir| {
    let Some(data) = go_data() else { return };
    for g in &data.groups {
        let inputs = data.member_textfmts(g);
        let ours = dir.tool("covmerge").args(&inputs).stdout();
        let go = sorted_profile(&read(&g.merged));
        assert!(
            block_lines(&go).len() > 100,
            "{}: Go's merge is suspiciously small",
            g.name
        );
        assert_same_text(&ours, &go, &format!("merge {}", g.name));
        // Also when written with -o, and whatever the input order.
        let out = dir.path(format!("{}.out", g.name));
        dir.merge_into(inputs.iter().rev(), &out);
        assert_same_text(&read(&out), &go, &format!("merge {} reversed, -o", g.name));
    }
});

covtest!(each_binary_run_reads_back_like_textfmt, |dir: Dir| {
    // One input: covmerge only sorts (and sums blocks Go listed twice).
    let Some(data) = go_data() else { return };
    for r in &data.runs {
        let ours = dir.tool("covmerge").arg(&r.textfmt).stdout();
        assert_same_text(&ours, &sorted_profile(&read(&r.textfmt)), r.name);
    }
});

covtest!(text_profiles_merge_to_go_block_set, |dir: Dir| {
    // `go test -coverprofile` runs are separate executions from the binary
    // runs, so only the block set (not every count) must match Go's merge.
    let Some(data) = go_data() else { return };
    for g in &data.groups {
        let inputs = data.member_texts(g);
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
        let inputs = data.member_textfmts(g);
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
        let want = last_percent(&cover_func(&dir, &data.go, &dir.root, p)).unwrap();
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
