//! covselect on real git diffs of a notify copy measured per test: the
//! tests a change needs, mapped back through the base; what the map cannot
//! judge selects every test and says why; untested changes are listed.

use covcore::exit_codes::ExitStatus;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use super::{at_line, checked_map, line_of, local_run, owner_keys};
use crate::util::cover::notify_module;
use crate::util::{bin, copy_tree, require_go, Dir};

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// covselect's (exit code, stdout lines, stderr).
fn covselect(repo: &Path, map: &Path, extra: &[&str]) -> (i32, Vec<String>, String) {
    let out = Command::new(bin("covselect"))
        .arg("--map")
        .arg(map)
        .arg("--src")
        .arg(repo)
        .args(["--diff-base", "HEAD"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn edit(repo: &Path, file: &str, from: &str, to: &str) {
    let p = repo.join(file);
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{from:?} not in {file}");
    fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn covselect_picks_the_tests_that_ran_the_changed_statements() {
    let Some(_go) = require_go() else { return };
    let dir = Dir::new("per_test_covselect");
    let repo = dir.path("notify");
    copy_tree(&notify_module(), &repo);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    // -json: a flag the one-build runner does not take, so each test runs
    // in a `go test` of its own.
    let report = local_run(
        &dir,
        &repo,
        false,
        &["go", "test", "-count=1", "-json", "./e2e"],
    );
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    let map_path = dir.path("out/test-map.json");
    let map = checked_map(&dir.path("out"));
    assert!(!dir.path("out/tests/.bin").exists());
    assert!(
        map.tests.iter().all(|t| t.result == "passed"),
        "{:?}",
        map.tests
    );
    let owners = owner_keys(&map);
    let outbox = fs::read_to_string(repo.join("internal/outbox/outbox.go")).unwrap();
    // The tests whose blocks reach a line of outbox.go, from the map.
    let ran = |line: u32| -> Vec<String> {
        map.tests
            .iter()
            .filter(|t| at_line(&owners[&t.name], "outbox.go", line))
            .map(|t| t.name.clone())
            .collect()
    };
    let reset = || {
        git(&repo, &["reset", "-q"]);
        git(&repo, &["checkout", "-q", "--", "."]);
        git(&repo, &["clean", "-qfd"]);
    };

    // A statement added at the top of Push: the tests that entered Push.
    let push = line_of(&outbox, "m.To = strings.TrimSpace(m.To)");
    edit(
        &repo,
        "internal/outbox/outbox.go",
        "\tm.To = strings.TrimSpace(m.To)\n",
        "\tpanic(\"new\")\n\tm.To = strings.TrimSpace(m.To)\n",
    );
    let (code, tests, err) = covselect(&repo, &map_path, &[]);
    let want = ran(push);
    assert_eq!(
        want,
        ["TestAPIDeliversInOrder", "TestAPIRejectsBadMessages"]
    );
    assert_eq!((code, &tests), (0, &want), "{err}");
    let (_, go_run, _) = covselect(&repo, &map_path, &["--go-run"]);
    assert_eq!(
        go_run,
        ["^(TestAPIDeliversInOrder|TestAPIRejectsBadMessages)$"]
    );
    reset();

    // A changed return in Take: only the test that read its inbox.
    edit(
        &repo,
        "internal/outbox/outbox.go",
        "\treturn q\n}",
        "\treturn nil\n}",
    );
    let (code, tests, err) = covselect(&repo, &map_path, &[]);
    assert_eq!(
        (code, tests),
        (0, vec!["TestAPIDeliversInOrder".to_string()]),
        "{err}"
    );
    reset();

    // Comments only: nothing to run.
    edit(
        &repo,
        "internal/outbox/outbox.go",
        "// Take returns",
        "// Take (changed comment) returns",
    );
    let (code, tests, err) = covselect(&repo, &map_path, &[]);
    assert_eq!((code, tests.len()), (1, 0), "{err}");
    reset();

    // Code that runs only at shutdown (after the last snapshot): untested.
    let pending = line_of(&outbox, "n += len(q)");
    edit(
        &repo,
        "internal/outbox/outbox.go",
        "\t\tn += len(q)\n",
        "\t\tn += 2 * len(q)\n",
    );
    let (code, tests, err) = covselect(&repo, &map_path, &[]);
    assert_eq!((code, tests.len()), (1, 0), "{err}");
    assert!(
        err.contains(&format!("untested: internal/outbox/outbox.go:{pending}")),
        "{err}"
    );
    reset();

    // A change in test code: the test itself; a new test by its name.
    edit(&repo, "e2e/notify_test.go", "`not json`", "`{not json`");
    edit(
        &repo,
        "e2e/notify_test.go",
        "func TestAPIRejectsBadMessages",
        "func TestBrandNew(t *testing.T) {\n\tt.Log(\"new\")\n}\n\nfunc TestAPIRejectsBadMessages",
    );
    let (code, tests, err) = covselect(&repo, &map_path, &[]);
    assert_eq!(
        (code, tests),
        (
            0,
            vec![
                "TestAPIRejectsBadMessages".to_string(),
                "TestBrandNew".to_string()
            ]
        ),
        "{err}"
    );
    reset();

    // What the map cannot judge selects every test, saying why.
    let all: Vec<String> = map.tests.iter().map(|t| t.name.clone()).collect();
    let main = "cmd/notifyd/main.go";
    type Case<'a> = (Box<dyn Fn() + 'a>, &'a str);
    let cases: Vec<Case> = vec![
        (
            Box::new(|| {
                edit(
                    &repo,
                    main,
                    "fmt.Fprintln(w, \"ok\")",
                    "fmt.Fprintln(w, \"OK\")",
                )
            }),
            "code that ran at start-up changed: cmd/notifyd/main.go:",
        ),
        (
            Box::new(|| edit(&repo, main, "const exitLost = 4", "const exitLost = 5")),
            "a change outside any function (package-level declarations): cmd/notifyd/main.go:",
        ),
        (
            Box::new(|| {
                fs::write(
                    repo.join("internal/outbox/extra.go"),
                    "package outbox\n\nfunc Extra() int { return 1 }\n",
                )
                .unwrap();
                git(&repo, &["add", "-N", "internal/outbox/extra.go"]);
            }),
            "a new Go file: internal/outbox/extra.go",
        ),
        (
            Box::new(|| {
                edit(
                    &repo,
                    "go.mod",
                    "module example.com/notify",
                    "module example.com/notify\n\n// changed",
                )
            }),
            "go.mod changed",
        ),
        (
            Box::new(|| edit(&repo, "covtools.toml", "[gates]", "[gates]\n# changed")),
            "a file that is not Go changed: covtools.toml",
        ),
        (
            // Binary: git shows no ---/+++ lines, only its header.
            Box::new(|| {
                fs::write(repo.join("e2e/fixture data.bin"), b"\0\x01\x02").unwrap();
                git(&repo, &["add", "-N", "e2e/fixture data.bin"]);
            }),
            "a file that is not Go changed: e2e/fixture data.bin",
        ),
        (
            Box::new(|| {
                let p = repo.join("e2e/notify_test.go");
                let text = fs::read_to_string(&p).unwrap();
                let at = text.find("func TestSmokeHealthz").unwrap();
                let end = at + text[at..].find("\n}\n").unwrap() + 3;
                fs::write(&p, format!("{}{}", &text[..at], &text[end..])).unwrap();
            }),
            "a test was deleted: TestSmokeHealthz",
        ),
    ];
    for (apply, why) in cases {
        apply();
        let (code, tests, err) = covselect(&repo, &map_path, &[]);
        assert_eq!((code, &tests), (0, &all), "{why}: {err}");
        assert!(
            err.contains(&format!("every test: {why}")),
            "{why:?} not in: {err}"
        );
        let (_, go_run, _) = covselect(&repo, &map_path, &["--go-run"]);
        assert_eq!(go_run, [".*"]);
        reset();
    }
    let names: BTreeSet<&str> = all.iter().map(String::as_str).collect();
    assert_eq!(names.len(), 3);
}
