//! Algebra on random profiles, checked against a merge computed here.

use crate::util::go::assert_same_text;
use crate::util::profile_text::{read, total_line};
use crate::util::random_profiles::{expected_merge, expected_total, random_case};
use crate::util::*;

covtest!(random_merges_match_the_obvious_merge, |dir: Dir| {
    for seed in 1..=40u64 {
        let case = random_case(seed);
        let files = case
            .profiles
            .iter()
            .enumerate()
            .map(|(i, p)| dir.create(format!("s{seed}/p{i}.out"), p))
            .collect::<Vec<_>>();
        let all = case.profiles.iter().collect::<Vec<_>>();
        let want = expected_merge(case.mode, &all);
        let what = |s: &str| format!("seed {seed} ({}): {s}", case.mode);
        assert_same_text(
            &dir.tool("covmerge").args(&files).stdout(),
            &want,
            &what("merge"),
        );
        // Commutative: every rotation and the reverse give the same bytes.
        for r in 1..files.len() {
            let mut rot = files.clone();
            rot.rotate_left(r);
            assert_same_text(
                &dir.tool("covmerge").args(&rot).stdout(),
                &want,
                &what("rotated"),
            );
        }
        assert_same_text(
            &dir.tool("covmerge").args(files.iter().rev()).stdout(),
            &want,
            &what("reversed"),
        );
        // Associative: (p0 p1) rest == p0 (p1 rest), and pairs agree with
        // the obvious merge of pairs.
        let head = dir.path(format!("s{seed}/head.out"));
        dir.merge_into(&files[..2], &head);
        assert_same_text(
            &read(&head),
            &expected_merge(case.mode, &all[..2]),
            &what("first two"),
        );
        assert_same_text(
            &dir.tool("covmerge").arg(&head).args(&files[2..]).stdout(),
            &want,
            &what("(p0 p1) rest"),
        );
        let tail = dir.tool("covmerge").args(&files[1..]).stdout();
        assert_same_text(
            &dir.tool("covmerge")
                .arg(&files[0])
                .arg("-")
                .stdin(tail)
                .stdout(),
            &want,
            &what("p0 (p1 rest)"),
        );
        // Concatenated in one stream, as `cat` gives.
        let cat = case.profiles.concat();
        assert_same_text(
            &dir.tool("covmerge").stdin(cat.clone()).stdout(),
            &want,
            &what("cat | covmerge"),
        );

        // The total: independent of order, splitting and stdin.
        let total = total_line(&expected_total(&want));
        assert_eq!(
            dir.tool("covtotal").args(&files).stdout(),
            total,
            "{}",
            what("covtotal")
        );
        assert_eq!(
            dir.tool("covtotal").args(files.iter().rev()).stdout(),
            total,
            "{}",
            what("covtotal reversed")
        );
        assert_eq!(
            dir.tool("covtotal").arg(&head).args(&files[2..]).stdout(),
            total,
            "{}",
            what("covtotal split")
        );
        assert_eq!(
            dir.tool("covtotal").stdin(cat).stdout(),
            total,
            "{}",
            what("cat | covtotal")
        );

        // Set mode: idempotent, and the conversion of the count merge.
        let set_want = {
            let set = expected_merge(case.mode, &all)
                .lines()
                .skip(1)
                .map(|l| {
                    let (k, c) = l.rsplit_once(' ').unwrap();
                    format!("{k} {}\n", u64::from(c != "0"))
                })
                .collect::<String>();
            format!("mode: set\n{set}")
        };
        let set_once = dir
            .tool("covmerge")
            .args(["--mode", "set"])
            .args(&files)
            .stdout();
        assert_same_text(&set_once, &set_want, &what("--mode set"));
        let twice = dir
            .tool("covmerge")
            .args(["--mode", "set"])
            .args(&files)
            .args(&files)
            .stdout();
        assert_same_text(&twice, &set_want, &what("--mode set, every input twice"));
    }
});
