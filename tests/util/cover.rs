//! Helpers of the `integration-cover` tests (tests/cover.rs): Docker
//! objects scoped to a test, running the task as the command would, the
//! blocks of a profile, processes left behind.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use covcore::profile::{self, Mode, Pos, Visitor};
use covjob::cover::{self, Args, Report};
use covjob::progress::Progress;
use covjob::runtime::control::Control;
use covjob::runtime::process::Exit;

use super::services::cover_func;
use super::{bin, Dir};
use covcore::exit_codes::ExitStatus;

// ---------------------------------------------------------------------------
// Docker objects of one test, removed when it ends (also when it fails).

pub struct Scope {
    pub prefix: String,
}

impl Scope {
    pub fn new(test: &str) -> Scope {
        Scope {
            prefix: format!("covtools-cover-{test}-{}", std::process::id()),
        }
    }

    pub fn base_tag(&self) -> String {
        format!("{}-base:local", self.prefix)
    }

    /// `--prefix`, and a local busybox base under this test's own tag.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--prefix".into(),
            self.prefix.clone(),
            "--base".into(),
            "local".into(),
            "--local-base-tag".into(),
            self.base_tag(),
        ]
    }

    /// Containers and networks of this test that exist now.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (what, args) in [
            ("container", vec!["ps", "-a", "--format", "{{.Names}}"]),
            ("network", vec!["network", "ls", "--format", "{{.Name}}"]),
        ] {
            let out = Command::new("docker").args(&args).output().unwrap();
            assert!(out.status.success(), "docker {args:?} failed");
            for name in String::from_utf8_lossy(&out.stdout).lines() {
                if name.starts_with(&self.prefix) {
                    found.push(format!("{what} {name}"));
                }
            }
        }
        found
    }

    pub fn assert_nothing_left(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        for l in self.leftovers() {
            let (what, name) = l.split_once(' ').unwrap();
            let args: Vec<&str> = match what {
                "container" => vec!["rm", "-f", "-v", name],
                _ => vec!["network", "rm", name],
            };
            // Containers first: a network in use cannot be removed.
            let _ = Command::new("docker").args(&args).output();
        }
        let images = Command::new("docker")
            .args([
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                &format!("reference={}/*", self.prefix),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for image in images.lines().chain([self.base_tag().as_str()]) {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

// ---------------------------------------------------------------------------

/// Runs the task like `cargo xtask integration-cover ARGS…` with the tools
/// under test, outputs in `dir/<out>` (the default with an empty `out`), binaries and local cover directories
/// in `dir/work`.
pub fn cover_run(dir: &Dir, out: &str, scope: Option<&Scope>, args: &[&str]) -> Report {
    cover_run_with(dir, out, scope, args, &Control::new())
}

/// The notify module (tests/modules/notify).
pub fn notify_module() -> PathBuf {
    super::project_root().join("tests/modules/notify")
}

/// `integration-cover` of the notify module with `flags`, its phases
/// replaced by one run of its whole suite (a command after `--`):
/// `go test -count=1 <go_test_flags> ./e2e`.
pub fn notify_suite_run(
    dir: &Dir,
    scope: &Scope,
    flags: &[&str],
    go_test_flags: &[&str],
) -> Report {
    let module = notify_module();
    let module = module.to_string_lossy();
    let mut args = vec!["--module", &module];
    args.extend(flags);
    args.extend(["--", "go", "test", "-count=1"]);
    args.extend(go_test_flags);
    args.push("./e2e");
    cover_run(dir, "out", Some(scope), &args)
}

pub fn cover_run_with(
    dir: &Dir,
    out: &str,
    scope: Option<&Scope>,
    args: &[&str],
    control: &Control,
) -> Report {
    let tools = bin("covkill").parent().unwrap().to_path_buf();
    // An empty `out`: the default output directory.
    let mut argv: Vec<String> = match out {
        "" => vec![],
        out => vec!["--out".into(), dir.path(out).display().to_string()],
    };
    argv.extend([
        "--work".into(),
        dir.path("work").display().to_string(),
        "--tools".into(),
        tools.display().to_string(),
    ]);
    if let Some(s) = scope {
        argv.extend(s.args());
    }
    // As `cargo xtask integration-cover`: the bundled example unless told.
    if !args.contains(&"--module") {
        argv.extend([
            "--module".into(),
            super::example_dir().display().to_string(),
        ]);
    }
    argv.extend(args.iter().map(|a| a.to_string()));
    let args = Args::parse_from_args(&argv).unwrap_or_else(|e| panic!("{e}"));
    let report = cover::execute(&args, control, &Progress::new(false));
    eprintln!("{report:#?}");
    report
}

/// Every block (file and position) of a profile, covered or not.
pub fn block_set(profile: &Path) -> BTreeSet<(String, Pos)> {
    struct Collect(BTreeSet<(String, Pos)>);
    impl Visitor for Collect {
        fn mode(&mut self, _: Mode, _: u64) -> anyhow::Result<()> {
            Ok(())
        }
        fn block(&mut self, path: &[u8], pos: Pos, _: u32, _: u32, _: u64) -> anyhow::Result<()> {
            self.0
                .insert((String::from_utf8_lossy(path).into_owned(), pos));
            Ok(())
        }
    }
    let mut c = Collect(BTreeSet::new());
    profile::parse(
        &profile.display().to_string(),
        fs::File::open(profile).unwrap(),
        &mut c,
    )
    .unwrap();
    c.0
}

/// `go tool cover -func` of a profile in the example: (its output, the
/// total it prints).
pub fn cover_func_total(go: &Path, profile: &Path) -> (String, String) {
    let text = cover_func(go, &crate::util::example_dir(), profile);
    let total = text
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .trim_end_matches('%')
        .to_string();
    (text, total)
}

/// Processes whose command line or environment mentions `needle` (a test's
/// own work directory: the wrapper's COVER_DIR, the test binaries' paths).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        for f in ["cmdline", "environ"] {
            let Ok(bytes) = fs::read(entry.path().join(f)) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if text.contains(needle) {
                let cmd = fs::read(entry.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "pid {pid}: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
                break;
            }
        }
    }
    found
}

pub fn assert_ok(r: &Report) {
    assert_eq!(r.code, ExitStatus::Success, "{r:#?}");
    assert_eq!(r.tests_exit, Some(Exit::Code(0)));
    assert!(r.error.is_none());
    assert!(r.teardown_problems.is_empty(), "{:?}", r.teardown_problems);
    // One complete profile per service, each pulled and merged.
    let per: Vec<(&str, usize)> = r.profiles.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(per, [("catalog", 1), ("gateway", 1), ("orders", 1)]);
    // What the command prints: each figure above, the table, where the
    // merged profile is, the steps' durations.
    let summary = cover::summary(r);
    let total = r.total.as_deref().expect("a total");
    let merged = r.merged.as_ref().expect("a merged profile");
    for want in [
        "profiles:  3 (catalog 1, gateway 1, orders 1)".to_string(),
        format!("total:     {total}"),
        format!("merged:    {}", merged.display()),
        "example.com/shop/internal/money".to_string(),
        "collect:".to_string(),
        "teardown".to_string(),
        "result:    ok (exit 0)".to_string(),
    ] {
        assert!(summary.contains(&want), "{want:?} not in:\n{summary}");
    }
}
