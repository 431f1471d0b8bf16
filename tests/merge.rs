//! covmerge: merge rules, inputs, outputs and errors, on hand-made profiles
//! whose right answer is known. (The proof against Go's own merge on real
//! profiles is in oracle.rs.)

use crate::util::*;

const A: &str = "mode: count
example.com/m/a.go:3.10,5.2 2 1
example.com/m/a.go:7.1,9.3 1 0
example.com/m/b.go:1.1,2.2 3 4
";
const B: &str = "mode: count
example.com/m/b.go:1.1,2.2 3 6
example.com/m/a.go:3.10,5.2 2 0
example.com/m/a.go:11.1,12.2 1 7
";
const A_B: &str = "mode: count
example.com/m/a.go:3.10,5.2 2 1
example.com/m/a.go:7.1,9.3 1 0
example.com/m/a.go:11.1,12.2 1 7
example.com/m/b.go:1.1,2.2 3 10
";

covtest!(
    merges_partly_overlapping_profiles_in_any_order,
    |dir: Dir| {
        dir.create("a.out", A);
        dir.create("b.out", B);
        assert_eq!(dir.tool("covmerge").args(["a.out", "b.out"]).stdout(), A_B);
        assert_eq!(dir.tool("covmerge").args(["b.out", "a.out"]).stdout(), A_B);
    }
);

covtest!(sorts_by_path_bytewise_then_position, |dir: Dir| {
    dir.create(
        "p.out",
        "mode: set\nz/a.go:10.1,10.5 1 1\nB/a.go:2.1,3.1 1 0\nz/a.go:9.2,9.3 1 0\nz/a.go:9.1,9.9 1 1\na/a.go:1.1,1.2 1 1\n",
    );
    let out = dir.tool("covmerge").arg("p.out").stdout();
    assert_eq!(
        out,
        "mode: set\nB/a.go:2.1,3.1 1 0\na/a.go:1.1,1.2 1 1\nz/a.go:9.1,9.9 1 1\nz/a.go:9.2,9.3 1 0\nz/a.go:10.1,10.5 1 1\n"
    );
});

covtest!(counts_saturate_at_u32_max, |dir: Dir| {
    dir.create("a.out", "mode: count\nf.go:1.1,2.1 1 4294967290\n");
    dir.create("b.out", "mode: count\nf.go:1.1,2.1 1 10\n");
    assert_eq!(
        dir.tool("covmerge").args(["a.out", "b.out"]).stdout(),
        "mode: count\nf.go:1.1,2.1 1 4294967295\n"
    );
});

covtest!(set_mode_ors, |dir: Dir| {
    dir.create(
        "a.out",
        "mode: set\nf.go:1.1,2.1 1 1\nf.go:3.1,4.1 1 0\nf.go:5.1,6.1 1 0\n",
    );
    dir.create(
        "b.out",
        "mode: set\nf.go:1.1,2.1 1 1\nf.go:3.1,4.1 1 1\nf.go:5.1,6.1 1 0\n",
    );
    assert_eq!(
        dir.tool("covmerge").args(["a.out", "b.out"]).stdout(),
        "mode: set\nf.go:1.1,2.1 1 1\nf.go:3.1,4.1 1 1\nf.go:5.1,6.1 1 0\n"
    );
});

covtest!(mixed_modes_fail_unless_converted, |dir: Dir| {
    dir.create("a.out", "mode: count\nf.go:1.1,2.1 1 5\nf.go:3.1,4.1 1 0\n");
    dir.create("b.out", "mode: set\nf.go:1.1,2.1 1 0\nf.go:3.1,4.1 1 0\n");
    let (_, err) = dir.tool("covmerge").args(["a.out", "b.out"]).expect_code(2);
    assert!(
        err.contains("a.out has mode count but b.out has mode set"),
        "{err}"
    );
    assert!(err.contains("--mode"), "{err}");
    assert_eq!(
        dir.tool("covmerge")
            .args(["a.out", "b.out", "--mode", "set"])
            .stdout(),
        "mode: set\nf.go:1.1,2.1 1 1\nf.go:3.1,4.1 1 0\n"
    );
    assert_eq!(
        dir.tool("covmerge")
            .args(["a.out", "b.out", "--mode", "count"])
            .stdout(),
        "mode: count\nf.go:1.1,2.1 1 5\nf.go:3.1,4.1 1 0\n"
    );
});

covtest!(numstmt_conflict_names_both_inputs, |dir: Dir| {
    dir.create("a.out", "mode: count\nf.go:1.1,2.1 1 5\n");
    dir.create("b.out", "mode: count\nf.go:1.1,2.1 2 5\n");
    dir.create("merged.cov", "precious\n");
    let (_, err) = dir
        .tool("covmerge")
        .args(["a.out", "b.out", "-o", "merged.cov"])
        .expect_code(2);
    assert!(
        err.contains("f.go:1.1,2.1: numStmt 1 in a.out but 2 in b.out"),
        "{err}"
    );
    assert_eq!(dir.read("merged.cov"), "precious\n");
});

covtest!(
    overlap_across_inputs_fails_naming_file_blocks_and_inputs,
    |dir: Dir| {
        dir.create("old.out", "mode: count\npkg/f.go:10.2,12.3 1 1\n");
        dir.create("new.out", "mode: count\npkg/f.go:11.5,13.1 1 1\n");
        let (out, err) = dir
            .tool("covmerge")
            .args(["old.out", "new.out"])
            .expect_code(2);
        assert_eq!(out, "");
        assert_eq!(err.lines().count(), 1, "{err}");
        for want in [
            "pkg/f.go",
            "10.2,12.3",
            "old.out",
            "11.5,13.1",
            "new.out",
            "--keep-overlaps",
        ] {
            assert!(err.contains(want), "missing {want}: {err}");
        }
        assert_eq!(
            dir.tool("covmerge")
                .args(["old.out", "new.out", "--keep-overlaps"])
                .stdout(),
            "mode: count\npkg/f.go:10.2,12.3 1 1\npkg/f.go:11.5,13.1 1 1\n"
        );
    }
);

covtest!(overlap_within_one_input_is_kept, |dir: Dir| {
    // //line directives and generated code give such blocks; every profile
    // of the same binary lists both.
    let p = "mode: count\npkg/f.go:10.2,12.3 1 1\npkg/f.go:11.5,13.1 1 0\n";
    dir.create("a.out", p);
    dir.create("b.out", p);
    assert_eq!(dir.tool("covmerge").arg("a.out").stdout(), p);
    assert_eq!(
        dir.tool("covmerge").args(["a.out", "b.out"]).stdout(),
        "mode: count\npkg/f.go:10.2,12.3 1 2\npkg/f.go:11.5,13.1 1 0\n"
    );
});

covtest!(touching_blocks_do_not_overlap, |dir: Dir| {
    dir.create("a.out", "mode: count\nf.go:1.1,2.5 1 1\n");
    dir.create("b.out", "mode: count\nf.go:2.5,3.1 1 1\n");
    dir.tool("covmerge").args(["a.out", "b.out"]).stdout();
});

covtest!(
    reads_globs_itself_stdin_text_and_stdin_path_lists,
    |dir: Dir| {
        dir.create("cover/a.out", A);
        dir.create("cover/b.out", B);
        assert_eq!(dir.tool("covmerge").arg("cover/*.out").stdout(), A_B);
        assert_eq!(dir.tool("covmerge").stdin(format!("{A}{B}")).stdout(), A_B);
        assert_eq!(
            dir.tool("covmerge")
                .arg("-")
                .stdin(format!("\r\n{}", A.replace('\n', "\r\n")))
                .stdout(),
            {
                let mut s = String::from("mode: count\n");
                s.push_str(&A[12..]);
                s
            }
        );
        let list = format!(
            "{}\n\n{}\n",
            dir.path("cover/a.out").display(),
            dir.path("cover/b.out").display()
        );
        assert_eq!(dir.tool("covmerge").stdin(list).stdout(), A_B);
        assert_eq!(
            dir.tool("covmerge")
                .args(["cover/a.out", "-"])
                .stdin(B)
                .stdout(),
            A_B
        );
    }
);

covtest!(include_and_exclude_filter_source_files, |dir: Dir| {
    dir.create(
        "p.out",
        "mode: set\nm/api/x.pb.go:1.1,2.1 1 1\nm/api/x.go:1.1,2.1 1 1\nm/internal/y.go:1.1,2.1 1 0\n",
    );
    assert_eq!(
        dir.tool("covmerge")
            .args(["p.out", "--exclude", "**/*.pb.go"])
            .stdout(),
        "mode: set\nm/api/x.go:1.1,2.1 1 1\nm/internal/y.go:1.1,2.1 1 0\n"
    );
    assert_eq!(
        dir.tool("covmerge")
            .args(["p.out", "--include", "m/internal/**"])
            .stdout(),
        "mode: set\nm/internal/y.go:1.1,2.1 1 0\n"
    );
});

covtest!(output_file_is_written_atomically, |dir: Dir| {
    dir.create("a.out", A);
    dir.create("b.out", B);
    dir.tool("covmerge")
        .args(["a.out", "b.out", "-o", "merged.cov"])
        .stdout();
    assert_eq!(dir.read("merged.cov"), A_B);
    // A failing run leaves the good output as it was, and no temp file.
    dir.create("bad.out", "mode: count\nf.go:1.1,2.1 1 x\n");
    dir.tool("covmerge")
        .args(["a.out", "bad.out", "-o", "merged.cov"])
        .expect_code(2);
    assert_eq!(dir.read("merged.cov"), A_B);
    let names: Vec<String> = std::fs::read_dir(&dir.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
});

/// Every bad input: exit 2, one line naming the input and line and what was
/// expected, nothing on stdout, and no output file touched.
#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let dir = Dir::new("bad_inputs_fail_with_one_clear_line");
    let cases: &[(&str, &str, &str)] = &[
        ("missing-mode.out", "f.go:1.1,2.1 1 1\n", "missing-mode.out:1: expected a first line \"mode: set|count|atomic\""),
        ("empty.out", "", "empty.out:1: empty profile"),
        ("unknown-mode.out", "mode: sometimes\n", "unknown-mode.out:1: unknown mode \"sometimes\""),
        ("garbage.out", "mode: set\nf.go:1.1,2.1 1 1\nhello world\n", "garbage.out:3: expected \"file:startLine.startCol,endLine.endCol numStmt count\", found \"hello world\""),
        ("negative-count.out", "mode: count\nf.go:1.1,2.1 1 -3\n", "negative-count.out:2: expected a non-negative count, found \"-3\""),
        ("negative-stmts.out", "mode: count\nf.go:1.1,2.1 -1 3\n", "negative-stmts.out:2: expected a non-negative numStmt, found \"-1\""),
        ("text-count.out", "mode: count\nf.go:1.1,2.1 1 many\n", "text-count.out:2: expected a non-negative count, found \"many\""),
        ("huge-count.out", "mode: count\nf.go:1.1,2.1 1 9223372036854775808\n", "huge-count.out:2: count \"9223372036854775808\" is too large"),
        ("huge-stmts.out", "mode: count\nf.go:1.1,2.1 4294967296 1\n", "huge-stmts.out:2: numStmt \"4294967296\" is too large (at most 4294967295)"),
        ("huge-line.out", "mode: count\nf.go:4294967296.1,2.1 1 1\n", "huge-line.out:2: startLine \"4294967296\" is too large"),
        ("bad-pos.out", "mode: count\nf.go:1.x,2.1 1 1\n", "bad-pos.out:2: expected \"file:startLine.startCol"),
        ("no-file.out", "mode: count\n:1.1,2.1 1 1\n", "no-file.out:2: expected a file name"),
        ("two-modes.out", "mode: count\nf.go:1.1,2.1 1 1\nmode: set\nf.go:1.1,2.1 1 1\n", "two-modes.out:3: mode set differs"),
        ("missing-field.out", "mode: count\nf.go:1.1,2.1 1\n", "missing-field.out:2: expected \"file:"),
    ];
    dir.create("good.out", A);
    for (name, text, want) in cases {
        dir.create(name, text);
        dir.create("merged.cov", "precious\n");
        for tool in ["covmerge", "covtotal"] {
            let mut cmd = dir.tool(tool);
            cmd.args(["good.out", name]);
            if tool == "covmerge" {
                cmd.args(["-o", "merged.cov"]);
            }
            let (out, err) = cmd.expect_code(2);
            assert_eq!(out, "", "{tool} {name}");
            assert_eq!(err.lines().count(), 1, "{tool} {name}: {err}");
            assert!(
                err.starts_with(&format!("{tool}: ")),
                "{tool} {name}: {err}"
            );
            assert!(
                err.contains(want),
                "{tool} {name}: want {want:?} in {err:?}"
            );
        }
        assert_eq!(
            dir.read("merged.cov"),
            "precious\n",
            "{name} touched the output"
        );
    }
    // The same through stdin names <stdin>.
    let (_, err) = dir
        .tool("covmerge")
        .stdin("mode: set\nnonsense\n")
        .expect_code(2);
    assert!(err.contains("<stdin>:2: expected"), "{err}");
    // Inputs that are not there.
    let (_, err) = dir.tool("covmerge").arg("nope.out").expect_code(2);
    assert!(err.contains("nope.out: no such file"), "{err}");
    let (_, err) = dir.tool("covmerge").arg("nope/*.out").expect_code(2);
    assert!(
        err.contains("nope/*.out: the pattern matches no file"),
        "{err}"
    );
    let (_, err) = dir.tool("covmerge").stdin("").expect_code(2);
    assert!(err.contains("<stdin>: no input"), "{err}");
    let (_, err) = dir
        .tool("covmerge")
        .stdin("not/a/file.out\n")
        .expect_code(2);
    assert!(err.contains("<stdin>:1: expected a profile path"), "{err}");
}

covtest!(first_error_by_input_order_is_reported, |dir: Dir| {
    // Several bad inputs: the report does not depend on thread timing.
    for i in 0..12 {
        dir.create(
            format!("p{i:02}.out"),
            format!("mode: count\nf.go:{i}.1,{i}.2 1 1\nbad line {i}\n"),
        );
    }
    for _ in 0..5 {
        let (_, err) = dir.tool("covmerge").arg("p*.out").expect_code(2);
        assert!(err.contains("p00.out:3:"), "{err}");
    }
});

covtest!(closed_stdout_pipe_exits_quietly, |dir: Dir| {
    // Large enough that the writer outlives the reader.
    let mut text = String::from("mode: count\n");
    for f in 0..2000 {
        for b in 0..50 {
            text.push_str(&format!(
                "example.com/m/pkg{f}/file.go:{}.1,{}.9 1 {b}\n",
                b * 2 + 1,
                b * 2 + 1
            ));
        }
    }
    dir.create("big.out", &text);
    let merge = format!("{} big.out", bin("covmerge").display());
    let table = format!("{} --by file big.out", bin("covtotal").display());
    for cmd in [merge, table] {
        let script = format!("{cmd} | head -1; echo \"status=${{PIPESTATUS[0]}}\"");
        let out = dir.command("bash").args(["-c", &script]).output();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stdout.ends_with("status=0\n"), "{cmd}: {stdout} {stderr}");
        assert_eq!(stdout.lines().count(), 2, "{cmd}: {stdout}");
        assert_eq!(stderr, "", "{cmd}");
    }
});

covtest!(
    output_to_a_fifo_or_through_a_link_keeps_the_special_file,
    |dir: Dir| {
        dir.create("a.out", A);
        // A FIFO (like /dev/null, not a regular file) is written in place, never
        // renamed over.
        let fifo = dir.path("pipe");
        dir.command("mkfifo").arg(&fifo).stdout();
        let reader = std::thread::spawn({
            let fifo = fifo.clone();
            move || std::fs::read_to_string(fifo).unwrap()
        });
        dir.tool("covmerge").args(["a.out", "-o", "pipe"]).stdout();
        assert_eq!(reader.join().unwrap(), A);
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
        // A symlink: the file it points to is replaced, the link stays.
        dir.create("real.cov", "old\n");
        std::os::unix::fs::symlink("real.cov", dir.path("link.cov")).unwrap();
        dir.tool("covmerge")
            .args(["a.out", "-o", "link.cov"])
            .stdout();
        assert!(std::fs::symlink_metadata(dir.path("link.cov"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(dir.read("real.cov"), A);
    }
);

covtest!(pipes_devices_and_dev_stdin_are_inputs, |dir: Dir| {
    dir.create("a.out", A);
    // A FIFO, as bash's process substitution gives.
    let (out, err) = dir
        .command("bash")
        .args([
            "-c",
            "exec \"$0\" <(cat a.out) b.out",
            bin("covmerge").to_str().unwrap(),
        ])
        .expect_code(2);
    assert_eq!(out, "");
    assert!(err.contains("b.out: no such file"), "{err}");
    dir.create("b.out", B);
    let out = dir
        .command("bash")
        .args([
            "-c",
            "exec \"$0\" <(cat a.out) b.out",
            bin("covmerge").to_str().unwrap(),
        ])
        .stdout();
    assert_eq!(out, A_B);
    // /dev/stdin, a pipe here.
    assert_eq!(
        dir.tool("covmerge")
            .args(["/dev/stdin", "b.out"])
            .stdin(A)
            .stdout(),
        A_B
    );
    // A character device is read: /dev/null holds an empty profile.
    let (_, err) = dir
        .tool("covmerge")
        .args(["a.out", "/dev/null"])
        .expect_code(2);
    assert!(err.contains("/dev/null:1: empty profile"), "{err}");
    // Stdin can be read once.
    let (_, err) = dir
        .tool("covmerge")
        .args(["-", "a.out", "-"])
        .stdin(A)
        .expect_code(2);
    assert!(err.contains("-: stdin is given more than once"), "{err}");
});

covtest!(paths_are_bytes_end_to_end, |dir: Dir| {
    let profile: &[u8] =
        b"mode: count\nm/a\xff.go:1.1,2.1 1 1\nm/a\xfe.go:1.1,2.1 2 0\nm/a\xff.go:3.1,4.1 1 0\n";
    let want: &[u8] =
        b"mode: count\nm/a\xfe.go:1.1,2.1 2 0\nm/a\xff.go:1.1,2.1 1 1\nm/a\xff.go:3.1,4.1 1 0\n";
    dir.create("p.out", profile);
    let out = dir.tool("covmerge").args(["p.out", "-o", "m.cov"]).output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dir.path("m.cov")).unwrap(), want);
    // covmerge takes its own output, and gives it back unchanged.
    let out = dir
        .tool("covmerge")
        .args(["m.cov", "p.out", "--mode", "set"])
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        b"mode: set\nm/a\xfe.go:1.1,2.1 2 0\nm/a\xff.go:1.1,2.1 1 1\nm/a\xff.go:3.1,4.1 1 0\n"
    );
    // Profile paths from a list on stdin are bytes too.
    let out = dir.tool("covmerge").stdin(&b"m.cov\n"[..]).output();
    assert_eq!(out.stdout, want);
});

/// `go tool cover -func` (x/tools' ParseProfiles) decides which numbers a
/// profile may hold; covmerge accepts exactly those, and reads them alike.
/// Beyond Go's int, both refuse; numStmt and positions past 32 bits are
/// refused by covmerge as too large (Go's tools keep them in 32 bits too),
/// and counts past 32 bits saturate, as merged counts do.
#[test]
fn numbers_are_read_as_go_reads_them() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("numbers_are_read_as_go_reads_them");
    dir.create("go.mod", "module example.com/m\n\ngo 1.22\n");
    dir.create("a.go", "package m\n\nfunc F() int {\n\treturn 1\n}\n");
    // (numStmt, count, what covmerge writes, or the message it gives)
    let cases: &[(&str, &str, Result<&str, &str>)] = &[
        ("1", "00000000001", Ok("1 1")),
        ("0001", "0", Ok("1 0")),
        ("+2", "+7", Ok("2 7")),
        ("1", "-0", Ok("1 0")),
        ("1", "4294967295", Ok("1 4294967295")),
        ("1", "4294967296", Ok("1 4294967295")),
        ("1", "9223372036854775807", Ok("1 4294967295")),
        (
            "1",
            "9223372036854775808",
            Err("count \"9223372036854775808\" is too large"),
        ),
        ("1", "-1", Err("expected a non-negative count")),
        ("-1", "1", Err("expected a non-negative numStmt")),
        ("1", "1_000", Err("expected a non-negative count")),
        ("1", "0x10", Err("expected a non-negative count")),
        ("1", "+", Err("expected a non-negative count")),
        ("1", "1.0", Err("expected a non-negative count")),
    ];
    for (stmts, count, want) in cases {
        let text = format!("mode: count\nexample.com/m/a.go:3.14,5.2 {stmts} {count}\n");
        dir.create("p.out", &text);
        let go_out = dir
            .command(&go)
            .args(["tool", "cover", "-func=p.out"])
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .output();
        let ours = dir.tool("covmerge").arg("p.out").output();
        let ours_err = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(
            ours.status.success(),
            go_out.status.success(),
            "{text:?}: go: {}; covmerge: {ours_err}",
            String::from_utf8_lossy(&go_out.stderr)
        );
        match want {
            Ok(fields) => assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                format!("mode: count\nexample.com/m/a.go:3.14,5.2 {fields}\n"),
                "{text:?}"
            ),
            Err(msg) => assert!(ours_err.contains(msg), "{text:?}: {ours_err}"),
        }
    }
    // Past 32 bits Go still accepts a numStmt; covmerge says it is too large.
    dir.create(
        "p.out",
        "mode: count\nexample.com/m/a.go:3.14,5.2 4294967296 1\n",
    );
    let (_, err) = dir.tool("covmerge").arg("p.out").expect_code(2);
    assert!(
        err.contains("p.out:2: numStmt \"4294967296\" is too large (at most 4294967295)"),
        "{err}"
    );
}
