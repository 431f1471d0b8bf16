//! What a user does: `cargo install --locked --path <clone>`, then the
//! installed `covtools cover` in a Go module of their own that has never
//! seen covtools. The results land in that module, and the clone is left
//! byte for byte as it was (its build goes to a target folder of this test
//! under target/, the only place that changes).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::cover::Scope;
use crate::util::{bin, copy_tree, project_root, require_docker, require_go, Dir};

#[test]
fn installed_covtools_measures_a_module_outside_the_clone_and_leaves_the_clone_as_it_was() {
    if require_go().is_none() || !require_docker() {
        return;
    }
    let dir = Dir::new("installed_covtools_measures_a_module_outside_the_clone");
    let repo = project_root();
    let before = Checkout::read(&repo);

    // The install, as the README says, into a root of this test. Its build
    // folder lives under target/ and is kept, so the next run only relinks.
    // `--debug`: the same command but for the profile; a release build
    // (lto, one codegen unit) costs a fresh CI machine about nine minutes.
    let root = dir.path("root");
    let out = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .args(["install", "--locked", "--debug", "--quiet", "--path"])
        .arg(&repo)
        .arg("--root")
        .arg(&root)
        .env("CARGO_TARGET_DIR", repo.join("target/install-test"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo install failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let bin_dir = root.join("bin");
    for tool in [
        "covtools",
        "covkill",
        "covpull",
        "covmerge",
        "covtotal",
        "covreport",
    ] {
        assert!(bin_dir.join(tool).is_file(), "{tool} not installed");
    }

    // A module that never saw covtools, outside the clone, with only its
    // covtools.toml added.
    let outside = tempfile::Builder::new()
        .prefix("covtools-install-test-")
        .tempdir()
        .unwrap();
    let module = outside.path().join("portenv");
    copy_tree(&repo.join("tests/modules/portenv"), &module);
    assert!(!module.join(".covtools").exists());
    let scope = Scope::new("install");
    let path = covjob::toolchain::path_with(&bin_dir);
    let out = Command::new(bin_dir.join("covtools"))
        .arg("cover")
        .args(scope.args())
        .args(["--rm-images", "--progress", "plain"])
        .current_dir(module.join("e2e"))
        .env("PATH", path)
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "covtools cover\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    scope.assert_nothing_left();

    // The total, in the summary and on the line CI regexes read.
    let total = stdout
        .lines()
        .find_map(|l| l.strip_prefix("total:     "))
        .and_then(|l| l.split('%').next())
        .unwrap_or_else(|| panic!("no total in:\n{stdout}"));
    assert!(
        total.parse::<f64>().is_ok_and(|t| t > 0.0),
        "total {total:?} in:\n{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some(format!("coverage: {total}% of statements").as_str())
    );

    // Its results are under the module, named in the summary.
    let state = module.join(".covtools");
    let merged = state.join("merged.cov");
    assert!(
        stdout.contains(&format!("merged:    {}", merged.display())),
        "{stdout}"
    );
    let profile = fs::read_to_string(&merged).unwrap();
    assert!(profile.starts_with("mode: "), "{profile}");
    assert!(
        profile.contains("example.com/portenv/main.go:"),
        "{profile}"
    );
    for report in [
        "lcov.info",
        "cobertura.xml",
        "report.html",
        "summary.md",
        "badge.svg",
    ] {
        let p = state.join(report);
        assert!(p.is_file(), "{} missing", p.display());
        assert!(
            stdout.contains(&format!("report:    {}", p.display())),
            "{stdout}"
        );
    }
    assert!(fs::read_to_string(state.join(".gitignore"))
        .unwrap()
        .lines()
        .any(|l| l == "*"));

    // And the clone is exactly as it was.
    let after = Checkout::read(&repo);
    assert_eq!(
        before.status, after.status,
        "git status of the clone changed"
    );
    for ((dir, was), (_, is)) in before.outputs.iter().zip(&after.outputs) {
        let new: Vec<&PathBuf> = is.iter().filter(|f| !was.contains(f)).collect();
        assert!(new.is_empty(), "new under {dir}: {new:?}");
    }
}

/// Started where there is no Go module: one line saying where it looked,
/// exit 2, and nothing written there.
#[test]
fn covtools_cover_outside_any_module_says_where_it_looked() {
    let nowhere = tempfile::Builder::new()
        .prefix("covtools-no-module-")
        .tempdir()
        .unwrap();
    let here = nowhere.path().canonicalize().unwrap();
    assert!(
        here.ancestors().all(|d| !d.join("go.mod").exists()),
        "a go.mod above {}",
        here.display()
    );
    let out = Command::new(bin("covtools"))
        .arg("cover")
        .current_dir(&here)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "covtools: no covtools.toml or go.mod in {} or any folder above it",
            here.display()
        )),
        "{stderr}"
    );
    assert!(fs::read_dir(&here).unwrap().next().is_none());

    // A covtools.toml without its go.mod: the same, naming that folder.
    fs::write(here.join("covtools.toml"), "").unwrap();
    let out = Command::new(bin("covtools"))
        .args(["cover", "--module"])
        .arg(&here)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "covtools: no go.mod in {}: covtools measures a Go module; run it inside one, or pass --module DIR",
            here.display()
        )
    );
}

/// What a run could change in the clone: `git status` (tracked files
/// changed, and every untracked or ignored file outside target/), and the
/// files under the folders where results used to go.
struct Checkout {
    status: String,
    outputs: Vec<(String, Vec<PathBuf>)>,
}

impl Checkout {
    fn read(repo: &Path) -> Checkout {
        let out = Command::new("git")
            .current_dir(repo)
            .args([
                "status",
                "--porcelain",
                "--ignored",
                "--untracked-files=all",
                "--",
                ".",
                ":(exclude)target",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "git status failed");
        let outputs = ["target/cover", "target/covtools"]
            .iter()
            .map(|d| (d.to_string(), files_under(&repo.join(d))))
            .collect();
        Checkout {
            status: String::from_utf8_lossy(&out.stdout).into_owned(),
            outputs,
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(files_under(&p));
        } else {
            found.push(p);
        }
    }
    found
}
