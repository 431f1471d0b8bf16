//! `[[tests]]` phases in integration-cover: each phase measured from the
//! live snapshots around it, in Docker and as local processes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use covjob::runtime::process::Exit;

use crate::util::cover::{cover_run, notify_module, notify_suite_run, Scope};
use crate::util::go::covdata_textfmt;
use crate::util::{bin, require_docker, require_go, Dir};
use covcore::exit_codes::ExitStatus;

/// Block -> (statements, count) of a text profile.
fn counts(path: &Path) -> BTreeMap<String, (u64, u64)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.starts_with("mode: "), "{}", path.display());
    text.lines()
        .skip(1)
        .map(|l| {
            let (block, count) = l.rsplit_once(' ').unwrap();
            let stmts = block.rsplit_once(' ').unwrap().1.parse().unwrap();
            (block.to_string(), (stmts, count.parse().unwrap()))
        })
        .collect()
}

/// Statements of the blocks `pick` keeps.
fn statements(c: &BTreeMap<String, (u64, u64)>, pick: impl Fn(&str) -> bool) -> u64 {
    c.iter()
        .filter(|(k, _)| pick(k))
        .map(|(_, (s, _))| *s)
        .sum()
}

fn covered(c: &BTreeMap<String, (u64, u64)>, block: &str) -> bool {
    c.get(block).is_some_and(|(_, n)| *n > 0)
}

/// `covtotal --json FILE`'s percent.
fn covtotal_percent(profile: &Path) -> f64 {
    let out = std::process::Command::new(bin("covtotal"))
        .arg("--json")
        .arg(profile)
        .output()
        .unwrap();
    assert!(out.status.success());
    let json = String::from_utf8_lossy(&out.stdout);
    let at = json.find("\"percent\":").unwrap() + "\"percent\":".len();
    json[at..]
        .split([',', '}'])
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The figures of the phases, recomputed here from the profiles the run
/// wrote (start-up, then each phase), checked against the report, the
/// summary, phases.json and covtotal; and start + phases = the total.
fn check_phases(go: &Path, out: &Path, report: &covjob::cover::Report, names: &[&str]) {
    let dir = out.join("phases");
    // The last snapshot, as the run read it, is what Go reads of the same
    // files (the newest counter file of each process).
    let last = dir.join(format!(".snapshot-{}", names.len()));
    let services: Vec<PathBuf> = fs::read_dir(&last)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let oracle = dir.join("oracle.txt");
    covdata_textfmt(go, &services, &oracle);
    let mut by_go: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (block, (stmts, n)) in fs::read_to_string(&oracle)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (block, count) = l.rsplit_once(' ').unwrap();
            let stmts: u64 = block.rsplit_once(' ').unwrap().1.parse().unwrap();
            (block.to_string(), (stmts, count.parse::<u64>().unwrap()))
        })
    {
        by_go.entry(block).or_insert((stmts, 0)).1 += n;
    }
    assert_eq!(
        counts(&out.join("merged.cov")),
        by_go,
        "the last snapshot vs go tool covdata"
    );
    let start = counts(&dir.join("start.cov"));
    let phases: Vec<_> = names
        .iter()
        .map(|n| counts(&dir.join(format!("{n}.cov"))))
        .collect();
    let merged = counts(&out.join("merged.cov"));
    for (block, (stmts, total)) in &merged {
        let sum: u64 = start[block].1 + phases.iter().map(|p| p[block].1).sum::<u64>();
        assert_eq!(sum, *total, "{block}: start + phases != the last snapshot");
        assert_eq!(start[block].0, *stmts);
    }
    let all = statements(&merged, |_| true);
    let json = fs::read_to_string(out.join("phases.json")).unwrap();
    let summary = covjob::cover::summary(report);
    assert_eq!(report.phases.len(), names.len());
    for (i, (name, p)) in names.iter().zip(&phases).enumerate() {
        let others = |b: &str| {
            covered(&start, b)
                || phases
                    .iter()
                    .enumerate()
                    .any(|(j, q)| j != i && covered(q, b))
        };
        let earlier = |b: &str| covered(&start, b) || phases[..i].iter().any(|q| covered(q, b));
        let mine = |b: &str| covered(p, b);
        let new = statements(p, |b| mine(b) && !earlier(b));
        let only = statements(p, |b| mine(b) && !others(b));
        let percent = 100.0 * statements(p, mine) as f64 / all as f64;
        let r = &report.phases[i];
        assert_eq!(r.name, *name);
        assert_eq!((r.new_statements, r.only_statements), (new, only), "{name}");
        assert!(
            (r.percent - percent).abs() < 1e-9,
            "{name}: {} vs {percent}",
            r.percent
        );
        let from_covtotal = covtotal_percent(&dir.join(format!("{name}.cov")));
        assert_eq!(
            format!("{from_covtotal:.1}"),
            format!("{percent:.1}"),
            "{name}"
        );
        assert!(
            json.contains(&format!(
                "\"name\":\"{name}\",\"exit\":\"{}\",\"percent\":{percent:.1},\"new_statements\":{new},\"only_statements\":{only}",
                r.exit.unwrap()
            )),
            "{json}"
        );
        assert!(
            summary.contains(&format!(
                "phase:     {name:<12} {percent:>5.1}%  {new:>5} new  {only:>5} only"
            )),
            "{summary}"
        );
    }
}

#[test]
fn phases_in_docker_measure_each_phase_from_live_snapshots() {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("live_phases_docker");
    let scope = Scope::new("live-phases");
    let module = notify_module();
    let report = cover_run(
        &dir,
        "out",
        Some(&scope),
        &["--module", &module.to_string_lossy()],
    );
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    assert_eq!(report.tests_exit, Some(Exit::Code(0)));
    let exits: Vec<_> = report
        .phases
        .iter()
        .map(|p| (p.name.as_str(), p.exit))
        .collect();
    assert_eq!(
        exits,
        [("smoke", Some(Exit::Code(0))), ("api", Some(Exit::Code(0)))]
    );
    check_phases(&go, &dir.path("out"), &report, &["smoke", "api"]);
    // The smoke phase asks /healthz only; the api phase queues messages.
    let out = dir.path("out/phases");
    let outbox = |c: &BTreeMap<String, (u64, u64)>| {
        c.iter()
            .any(|(k, (_, n))| k.contains("internal/outbox/outbox.go") && *n > 0)
    };
    assert!(!outbox(&counts(&out.join("smoke.cov"))));
    assert!(outbox(&counts(&out.join("api.cov"))));
    assert!(report.total.is_some());
    scope.assert_nothing_left();
}

#[test]
fn phases_are_refused_with_the_test_kind_before_anything_is_built() {
    let dir = Dir::new("live_phases_test_kind");
    let module = notify_module();
    for (flags, kind, mode) in [
        (&["--build-kind", "test"][..], "test", "count"),
        (&["--set", "build.cover_mode=count"][..], "cover", "count"),
    ] {
        let mut args = vec!["--module", module.to_str().unwrap(), "--runtime", "local"];
        args.extend_from_slice(flags);
        let report = cover_run(&dir, "out", None, &args);
        assert_eq!(report.code, ExitStatus::Error);
        let err = report.error.clone().unwrap();
        assert!(
            err.contains(&format!(
                "build kind {kind} with covermode {mode} cannot take"
            )) && err.contains("kind = \"cover\" (covermode atomic)"),
            "{err}"
        );
        assert!(
            report.steps.iter().all(|(s, _)| s != "build"),
            "{:?}",
            report.steps
        );
    }
}

const PHASED_MAIN: &str = r#"package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	hits := map[string]int{}
	for _, path := range []string{"/a", "/b", "/c"} {
		path := path
		http.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			hits[path]++
			switch path {
			case "/a":
				fmt.Fprintln(w, "a", hits[path])
			case "/b":
				fmt.Fprintln(w, "b", hits[path])
			default:
				fmt.Fprintln(w, "c", hits[path], hits["/a"]+hits["/b"])
			}
		})
	}
	log.Fatal(http.ListenAndServe(*addr, nil))
}
"#;

const PHASED_E2E: &str = r#"package e2e

import (
	"net/http"
	"os"
	"testing"
)

func get(t *testing.T, path string) {
	resp, err := http.Get(os.Getenv("PHASED_URL") + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestA(t *testing.T) { get(t, "/a") }

func TestB(t *testing.T) {
	get(t, "/b")
	t.Fatal("a deliberate failure after /b")
}

func TestC(t *testing.T) { get(t, "/c") }
"#;

const PHASED_CONFIG: &str = r#"[build]
kind = "cover"

[[service]]
name = "phased"
package = "."
port = 8080
args = ["-addr", "{addr}"]

[[tests]]
name = "one"
command = ["go", "test", "-count=1", "-run", "^TestA$", "./e2e"]
env = { PHASED_URL = "{url:phased}" }

[[tests]]
name = "two"
command = ["go", "test", "-count=1", "-run", "^TestB$", "./e2e"]
env = { PHASED_URL = "{url:phased}" }

[[tests]]
name = "three"
command = ["go", "test", "-count=1", "-run", "^TestC$", "./e2e"]
env = { PHASED_URL = "{url:phased}" }
"#;

#[test]
fn local_phases_a_failed_phase_keeps_every_phases_coverage() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("live_phases_local_failed");
    dir.create("phased/go.mod", "module example.com/phased\n\ngo 1.21\n");
    dir.create("phased/main.go", PHASED_MAIN);
    dir.create("phased/e2e/e2e_test.go", PHASED_E2E);
    dir.create("phased/covtools.toml", PHASED_CONFIG);
    let report = cover_run(
        &dir,
        "out",
        None,
        &[
            "--module",
            &dir.path("phased").to_string_lossy(),
            "--runtime",
            "local",
        ],
    );
    // The failed phase fails the run, and every phase is still measured.
    assert_eq!(report.code, ExitStatus::Negative, "{report:#?}");
    assert_eq!(report.tests_exit, Some(Exit::Code(1)));
    assert!(report.error.is_none(), "{:?}", report.error);
    let exits: Vec<_> = report.phases.iter().map(|p| p.exit).collect();
    assert_eq!(
        exits,
        [
            Some(Exit::Code(0)),
            Some(Exit::Code(1)),
            Some(Exit::Code(0))
        ]
    );
    check_phases(&go, &dir.path("out"), &report, &["one", "two", "three"]);
    // Each phase ran its own branch of the handler; only phase two ran /b's.
    let branch = |phase: &str, needle: &str| -> bool {
        let text = fs::read_to_string(dir.path(format!("out/phases/{phase}.cov"))).unwrap();
        let line = PHASED_MAIN
            .lines()
            .position(|l| l.contains(needle))
            .unwrap()
            + 1;
        text.lines()
            .any(|l| l.contains(&format!("main.go:{line}.")) && !l.ends_with(" 0"))
    };
    assert!(branch("one", "\"a\", hits") && !branch("one", "\"b\", hits"));
    assert!(branch("two", "\"b\", hits") && !branch("two", "\"c\", hits"));
    assert!(branch("three", "\"c\", hits") && !branch("three", "\"a\", hits"));
    assert!(covjob::cover::summary(&report).contains("FAILED (exit 1)"));
}

#[test]
fn notify_runs_in_the_test_kind_too_with_its_go_test_suite() {
    let Some(_go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("live_notify_test_kind");
    let scope = Scope::new("live-notify-test");
    // A command after `--` replaces the phases: one run of the whole suite.
    let report = notify_suite_run(&dir, &scope, &["--build-kind", "test"], &["-v"]);
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    assert!(report.phases.is_empty());
    assert_eq!(report.profiles.get("notifyd"), Some(&1));
    let log = fs::read_to_string(dir.path("out/tests.log")).unwrap();
    for t in [
        "TestSmokeHealthz",
        "TestAPIDeliversInOrder",
        "TestAPIRejectsBadMessages",
    ] {
        assert!(log.contains(&format!("--- PASS: {t}")), "{log}");
    }
    let merged = fs::read_to_string(report.merged.as_ref().unwrap()).unwrap();
    assert!(merged.starts_with("mode: count\n"));
    assert!(merged
        .lines()
        .any(|l| l.contains("internal/outbox/outbox.go") && !l.ends_with(" 0")));
    scope.assert_nothing_left();
}

#[test]
fn phases_as_local_processes_measure_notify_too() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("live_phases_local_notify");
    let module = notify_module();
    let report = cover_run(
        &dir,
        "out",
        None,
        &["--module", &module.to_string_lossy(), "--runtime", "local"],
    );
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    assert_eq!(report.runtime, "local");
    check_phases(&go, &dir.path("out"), &report, &["smoke", "api"]);
    // The run's reports are made from the last snapshot as from a pulled profile.
    let lcov = fs::read_to_string(dir.path("out/lcov.info")).unwrap();
    assert!(lcov.contains("internal/outbox/outbox.go"), "{lcov}");
}

#[test]
fn the_cover_kind_without_phases_is_collected_by_the_stop_and_pull_pipeline() {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("live_cover_kind_pipeline");
    let scope = Scope::new("live-cover-pipeline");
    // A command after `--` replaces the phases; the kind stays cover.
    let report = notify_suite_run(&dir, &scope, &[], &[]);
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    assert!(report.phases.is_empty());
    assert_eq!(
        report.profiles.get("notifyd"),
        Some(&1),
        "one process, one counter file"
    );
    assert!(covjob::cover::summary(&report).contains("profiles:  1 (notifyd 1)"));
    // The merged profile is exactly what Go reads of the pulled files.
    let pulled = dir.path("out/profiles");
    let inputs: Vec<PathBuf> = fs::read_dir(&pulled)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let oracle = dir.path("oracle.txt");
    covdata_textfmt(&go, &inputs, &oracle);
    let by_go = counts(&oracle);
    assert_eq!(counts(report.merged.as_ref().unwrap()), by_go);
    scope.assert_nothing_left();
}

#[test]
fn the_shop_runs_in_both_kinds_with_the_same_blocks() {
    let Some(_go) = require_go() else { return };
    let dir = Dir::new("live_shop_both_kinds");
    let mut merged = Vec::new();
    for kind in ["test", "cover"] {
        // Every service is built by its own build_services call, all at once.
        let report = cover_run(
            &dir,
            kind,
            None,
            &["--runtime", "local", "--build-kind", kind],
        );
        assert_eq!(report.code, ExitStatus::Success, "{kind}: {report:#?}");
        let per: Vec<(&str, usize)> = report
            .profiles
            .iter()
            .map(|(s, n)| (s.as_str(), *n))
            .collect();
        assert_eq!(
            per,
            [("catalog", 1), ("gateway", 1), ("orders", 1)],
            "{kind}"
        );
        merged.push(report.merged.clone().unwrap());
    }
    let (test_blocks, cover_blocks) = (
        crate::util::cover::block_set(&merged[0]),
        crate::util::cover::block_set(&merged[1]),
    );
    assert!(!test_blocks.is_empty());
    assert_eq!(
        test_blocks, cover_blocks,
        "the two kinds' block sets differ"
    );
}
