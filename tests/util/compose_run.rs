//! Helpers of tests/compose/: `covtools cover` with the compose runtime on
//! a copy of an example stack (tests/modules/<name>), its host port chosen
//! by Docker through the stack's own `.env` (Compose's interpolation, as a
//! user would set it), and what a run left of its compose project in
//! `docker ps -a`, `docker network ls` and `docker volume ls`.

use covcore::exit_codes::ExitStatus;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use covjob::cover::Report;

use super::compose::{dep_images, module, require_compose};
use super::cover::{cover_run, Scope};
use super::{copy_tree, docker, require_docker, require_go, Dir};

/// The label Compose puts on what it creates.
const PROJECT_LABEL: &str = "com.docker.compose.project";

/// One test's copy of an example stack, its Docker objects scoped by
/// `scope.prefix` (the compose projects of its runs start with it).
pub struct Stack {
    pub dir: Dir,
    pub scope: Scope,
    pub module: PathBuf,
    pub go: PathBuf,
}

impl Stack {
    /// The example `name` copied to `<dir>/module` with a `.env` that
    /// publishes its port on a loopback port Docker picks
    /// (`KVSTORE_PORT=127.0.0.1:0`); `None` (a skip) without Go, Docker or
    /// Compose. `deps`: build the dependency images its compose file names.
    pub fn new(test: &str, name: &str, deps: bool) -> Option<Stack> {
        let go = require_go()?;
        if !require_docker() || require_compose().is_none() {
            return None;
        }
        let dir = Dir::new(&format!("compose_{test}"));
        let module_dir = dir.path("module");
        copy_tree(&module(name), &module_dir);
        let _ = fs::remove_dir_all(module_dir.join(".covtools"));
        fs::write(module_dir.join(".env"), "KVSTORE_PORT=127.0.0.1:0\n").unwrap();
        if deps {
            let compose = fs::read_to_string(module_dir.join("compose.yaml")).unwrap();
            for recipe in dep_images::RECIPES {
                if compose.contains(recipe.tag) {
                    dep_images::ensure(recipe).unwrap_or_else(|e| panic!("dep-images: {e:#}"));
                }
            }
        }
        Some(Stack {
            dir,
            // Compose v1 keeps only lowercase letters, digits, - and _.
            scope: Scope::new(&format!("compose-{}", test.replace('_', "-"))),
            module: module_dir,
            go,
        })
    }

    /// Writes a file of the stack (replacing the example's).
    pub fn write(&self, rel: &str, text: &str) {
        fs::write(self.module.join(rel), text).unwrap();
    }

    /// `covtools cover --module <copy> ARGS…` as a library call, results
    /// in `<dir>/<out>`, with the scope's prefix and busybox base.
    pub fn run(&self, out: &str, args: &[&str]) -> Report {
        let module = self.module.display().to_string();
        let mut all = vec!["--module", module.as_str()];
        all.extend_from_slice(args);
        cover_run(&self.dir, out, Some(&self.scope), &all)
    }

    /// The `covtools` binary in the stack's directory with `args` (the
    /// scope's prefix and base added), as a user types it there.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_covtools"));
        cmd.current_dir(&self.module)
            .arg("cover")
            .args(self.scope.args())
            .args(args);
        cmd
    }

    /// What of this test's compose projects Docker still lists, its
    /// containers and networks by name, and the volumes `report` saw
    /// mounted that still exist.
    pub fn leftovers(&self, report: &Report) -> Vec<String> {
        let mut found = Vec::new();
        let format = format!("{{{{.Label \"{PROJECT_LABEL}\"}}}}\t");
        for (what, list) in [
            ("container", ["ps", "-a", "--format"]),
            ("network", ["network", "ls", "--format"]),
            ("volume", ["volume", "ls", "--format"]),
        ] {
            let name = if what == "container" {
                "{{.Names}}"
            } else {
                "{{.Name}}"
            };
            let out = docker(
                &[
                    &list[..],
                    &[
                        &format!("{format}{name}"),
                        "--filter",
                        &format!("label={PROJECT_LABEL}"),
                    ],
                ]
                .concat(),
            );
            assert!(out.status.success(), "docker {list:?}: {out:?}");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let (project, name) = line.split_once('\t').unwrap_or(("", line));
                if project.starts_with(&self.scope.prefix) {
                    found.push(format!("{what} {name}"));
                }
            }
        }
        // What the run created outside the project (a tests container).
        for l in self.scope.leftovers() {
            if !found.contains(&l) {
                found.push(l);
            }
        }
        for v in &report.compose_volumes {
            if docker(&["volume", "inspect", v]).status.success() {
                found.push(format!("volume {v}"));
            }
        }
        found
    }

    pub fn assert_nothing_left(&self, report: &Report) {
        let left = self.leftovers(report);
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // What a failed test left: containers first (a network in use
        // cannot be removed), then networks, then volumes.
        let left = self.leftovers(&Report::default());
        for kind in ["container", "network", "volume"] {
            for l in left.iter().filter(|l| l.starts_with(kind)) {
                let name = &l[kind.len() + 1..];
                let args: Vec<&str> = match kind {
                    "container" => vec!["rm", "-f", "-v", name],
                    "network" => vec!["network", "rm", name],
                    _ => vec!["volume", "rm", "-f", name],
                };
                let _ = docker(&args);
            }
        }
    }
}

/// The summary's error line, and the assertion that it is one line of its
/// own with exit 2.
pub fn error_line(report: &Report) -> String {
    assert_eq!(report.code, ExitStatus::Error, "{report:#?}");
    let summary = covjob::cover::summary(report);
    let errors: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{summary}");
    errors[0]["error:".len()..].trim().to_string()
}
