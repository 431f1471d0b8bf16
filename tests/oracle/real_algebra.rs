//! Algebra on the real profiles: merge order, grouping and repetition do
//! not change covmerge's or covtotal's answer.

use std::collections::BTreeMap;

use crate::util::go::assert_same_text;
use crate::util::oracle::go_data;
use crate::util::profile_text::{block_lines, parse_block, read, total_line, Key};
use crate::util::*;

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
        assert_same_text(&rev, &all, &format!("{kind}: reversed order"));
        let mut rotated = files.clone();
        rotated.rotate_left(3);
        assert_same_text(
            &dir.tool("covmerge").args(&rotated).stdout(),
            &all,
            &format!("{kind}: rotated order"),
        );
        // (a b c)(d e f g) == a (b c d e f g), through files and through stdin.
        let left = dir.path(format!("{kind}-left.out"));
        let right = dir.path(format!("{kind}-right.out"));
        dir.merge_into(&files[..3], &left);
        dir.merge_into(&files[3..], &right);
        assert_same_text(
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
        assert_same_text(&nested, &all, &format!("{kind}: a (bcdefg) via stdin"));
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
    assert_same_text(&twice, &once, "set merge of every profile twice");
    let set = dir.create("set.out", &once);
    let again = dir
        .tool("covmerge")
        .args(["--mode", "set"])
        .arg(&set)
        .arg(&set)
        .stdout();
    assert_same_text(&again, &once, "set merge of the set merge with itself");
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
        dir.merge_into(&files[..4], &left);
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
