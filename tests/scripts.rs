//! The shell side a user runs by hand (scripts/): each script checked by
//! shellcheck and run for real with the tools built for these tests on
//! PATH: collect-dir.sh on profiles and binary coverage Go wrote,
//! collect-k8s.sh through the `kubectl` stand-in (tests/fixtures/kubectl,
//! pods are containers of the fixture service's image), collect-compose.sh
//! on a project that the real `docker-compose` started.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::go::go_cmd;
use crate::util::kill_pull::{
    self, assert_code, count_at, fixtures, text, unique, Container, Image,
};
use crate::util::report::{consumer, go_cover, run_ok, write_module};
use crate::util::*;

const SCRIPTS: [&str; 3] = ["collect-dir.sh", "collect-k8s.sh", "collect-compose.sh"];

fn script(name: &str) -> PathBuf {
    project_root().join("scripts").join(name)
}

/// A script run in `dir` with the tools under test first on PATH.
fn run(dir: &Dir, name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let tools = bin("covkill").parent().unwrap().to_path_buf();
    let mut cmd = dir.command(script(name));
    cmd.args(args)
        .env("PATH", covjob::toolchain::path_with(&tools));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
}

/// `covtotal PROFILE`'s stdout: what each script must print last.
fn covtotal(dir: &Dir, profile: &Path) -> String {
    dir.tool("covtotal").arg(profile).stdout()
}

#[test]
fn scripts_are_strict_executable_and_say_how_to_use_them() {
    let dir = Dir::new("scripts_are_strict_executable");
    run_ok(Command::new(consumer("shellcheck")).args(SCRIPTS.map(script)));
    for name in SCRIPTS {
        let path = script(name);
        let source = fs::read_to_string(&path).unwrap();
        assert!(source.starts_with("#!/usr/bin/env bash\n"), "{name}");
        assert!(source.contains("\nset -euo pipefail\n"), "{name}");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{name} is not executable");

        let help = run(&dir, name, &["--help"], &[]);
        assert_code(&help, 0, name);
        let first = text(&help.stdout).lines().next().unwrap_or("").to_string();
        assert!(first.starts_with(&format!("usage: {name} ")), "{first}");
        // Bad usage: the usage line on stderr, exit 2.
        let bad = run(&dir, name, &["--no-such-option"], &[]);
        assert_code(&bad, 2, name);
        assert!(text(&bad.stderr).contains(&first), "{}", text(&bad.stderr));
    }
    for name in ["collect-dir.sh", "collect-k8s.sh"] {
        let none = run(&dir, name, &[], &[]);
        assert_code(&none, 2, name);
        assert!(text(&none.stderr).starts_with("usage: "), "{name}");
    }
}

/// Go's own profiles and binary coverage in one folder, merged as Go's
/// profile of the whole module is; files still being written left out.
#[test]
fn collect_dir_merges_profiles_and_binary_coverage_like_go() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("collect_dir_merges_profiles_and_binary_coverage");
    write_module(&dir, "shop");
    let module = dir.path("shop");
    // calc as a text profile, store as Go's binary files, in subfolders.
    fs::create_dir_all(dir.path("pulled/store")).unwrap();
    go_cover(
        &go,
        &module,
        "count",
        &dir.path("pulled/calc.out"),
        &["./calc"],
    );
    go_cmd(&dir, &go, &module)
        .args(["test", "-cover", "-covermode=count", "./store", "-args"])
        .arg(format!(
            "-test.gocoverdir={}",
            dir.path("pulled/store").display()
        ))
        .stdout();
    assert!(fs::read_dir(dir.path("pulled/store")).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("covcounters.")));
    dir.create("pulled/.cover-2.out.tmp", "half a profile");
    dir.create("pulled/.partial.out", "mode: count\nbroken");
    // Go's profile of the whole module, the same runs: the oracle.
    go_cover(&go, &module, "count", &dir.path("all.out"), &["./..."]);

    let out = run(&dir, "collect-dir.sh", &["pulled"], &[]);
    assert_code(&out, 0, "collect-dir.sh pulled");
    let merged = dir.path("pulled/merged.cov");
    dir.merge_into([dir.path("all.out")], &dir.path("want.cov"));
    assert_eq!(
        fs::read_to_string(&merged).unwrap(),
        dir.read("want.cov"),
        "the merge of the folder is Go's profile of the module"
    );
    assert_eq!(text(&out.stdout), covtotal(&dir, &dir.path("all.out")));

    // A second run reads the same inputs (not its own merged.cov); -o and
    // covtotal's arguments; a gate that fails is exit 1.
    let out = run(
        &dir,
        "collect-dir.sh",
        &["-o", "again.cov", "pulled", "--", "--by", "package"],
        &[],
    );
    assert_code(&out, 0, "collect-dir.sh -o");
    assert_eq!(dir.read("again.cov"), dir.read("want.cov"));
    assert!(text(&out.stdout).contains("example.com/shop/store"));
    let out = run(
        &dir,
        "collect-dir.sh",
        &["pulled", "--", "--min", "100"],
        &[],
    );
    assert_code(&out, 1, "collect-dir.sh below --min");

    // Nothing to merge, or no folder: errors naming it.
    fs::create_dir_all(dir.path("empty/sub")).unwrap();
    let out = run(&dir, "collect-dir.sh", &["empty"], &[]);
    assert_code(&out, 2, "collect-dir.sh on an empty folder");
    assert!(
        text(&out.stderr).contains("empty: no coverage file"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&dir, "collect-dir.sh", &["missing"], &[]);
    assert_code(&out, 2, "collect-dir.sh on a missing folder");
    assert!(text(&out.stderr).contains("missing: not a folder"));
}

#[test]
fn collect_k8s_stops_every_pod_of_the_selector_and_totals_them() {
    let dir = Dir::new("collect_k8s_stops_every_pod_of_the_selector");
    let Some(b) = kill_pull::built(true) else {
        return;
    };
    let image = Image::build(b, &dir, "k8s-script");
    let pods: Vec<Container> = ["a", "b"]
        .iter()
        .map(|r| Container::run(&image, unique("k8s-script", r), &[]))
        .collect();
    let other = Container::run(&image, unique("k8s-script", "other"), &[]);
    pods[0].get("/hello");
    // The stand-in under another name: --kubectl must be what runs.
    let stand_in = dir.path("bin/kubectl-standin");
    fs::create_dir_all(dir.path("bin")).unwrap();
    fs::copy(fixtures().join("kubectl"), &stand_in).unwrap();
    let table: String = pods
        .iter()
        .map(|p| format!("shop\tapp=orders\t{}\n", p.0))
        .collect::<String>()
        + &format!("shop\tapp=other\t{}\n", other.0);
    let pods_file = dir.create("pods.tsv", table);
    let log = dir.path("kubectl.log");
    let env = [
        ("KUBECTL_STANDIN_LOG", log.to_str().unwrap()),
        ("KUBECTL_STANDIN_PODS", pods_file.to_str().unwrap()),
    ];
    let kubectl = stand_in.to_str().unwrap();
    let args = [
        "-n",
        "shop",
        "-c",
        "server",
        "-o",
        "k8s",
        "--kubectl",
        kubectl,
        "app=orders",
    ];
    let out = run(&dir, "collect-k8s.sh", &args, &env);
    assert_code(&out, 0, "collect-k8s.sh");
    let mut pulled: Vec<String> = entries(&dir.path("k8s"));
    pulled.retain(|n| n != "merged.cov");
    let mut want: Vec<String> = pods
        .iter()
        .map(|p| format!("k8s_shop_{}_server.cover-1.out", p.0))
        .collect();
    want.sort();
    assert_eq!(pulled, want, "every pod of the selector, and only those");
    let merged = dir.path("k8s/merged.cov");
    assert_eq!(count_at(b, &merged, "fmt.Fprintln(w, \"hello\")"), 1);
    assert_eq!(text(&out.stdout), covtotal(&dir, &merged));
    let calls = fs::read_to_string(&log).unwrap();
    assert!(
        calls.starts_with(
            "get pods -n shop -l app=orders --field-selector=status.phase=Running -o name\n"
        ),
        "{calls}"
    );
    assert_eq!(
        calls.matches(" -c server -- sh -c").count(),
        4,
        "one kill and one pull per pod:\n{calls}"
    );

    // A selector matching no pod is a negative result (exit 1, covkill's),
    // and no total follows.
    let out = run(
        &dir,
        "collect-k8s.sh",
        &[
            "-n",
            "shop",
            "-o",
            "none",
            "--kubectl",
            kubectl,
            "app=nothing",
        ],
        &env,
    );
    assert_code(&out, 1, "collect-k8s.sh, no pod");
    assert!(text(&out.stderr).contains("no pod in namespace shop matches"));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

/// A compose project of two services and one container outside it.
#[test]
fn collect_compose_reads_the_containers_of_one_compose_project() {
    let dir = Dir::new("collect_compose_reads_the_containers_of_one_project");
    let Some(b) = kill_pull::built(true) else {
        return;
    };
    let compose = which::which("docker-compose").unwrap_or_else(|_| {
        panic!("docker-compose is not installed (Debian's docker-compose package)")
    });
    let image = Image::build(b, &dir, "compose-script");
    let outside = Container::run(&image, unique("compose-script", "outside"), &[]);
    let project = Project {
        compose,
        name: format!("covtools-scripts-{}", std::process::id()),
        file: dir.create(
            "docker-compose.yml",
            format!(
                "version: \"2.4\"\nservices:\n  api:\n    image: {0}\n  worker:\n    image: {0}\n",
                image.name
            ),
        ),
    };
    project.compose(&["up", "-d", "--no-build"]);
    let api = Container(format!("{}_api_1", project.name));
    let worker = Container(format!("{}_worker_1", project.name));
    for c in [&api, &worker] {
        c.wait_ready();
    }
    api.get("/hello");

    // Only the api service.
    let out = run(
        &dir,
        "collect-compose.sh",
        &["-p", &project.name, "-s", "api", "-o", "api"],
        &[],
    );
    assert_code(&out, 0, "collect-compose.sh -s api");
    assert_eq!(
        entries(&dir.path("api")),
        [format!("docker_{}.cover-1.out", api.0), "merged.cov".into()]
    );
    let merged = dir.path("api/merged.cov");
    assert_eq!(count_at(b, &merged, "fmt.Fprintln(w, \"hello\")"), 1);
    assert_eq!(text(&out.stdout), covtotal(&dir, &merged));

    // The whole project, found from the folder's name as Compose does; the
    // container outside it is left alone.
    fs::create_dir_all(dir.path(&project.name)).unwrap();
    let inside = Dir {
        root: dir.path(&project.name),
    };
    let out = run(&inside, "collect-compose.sh", &["--", "--min", "0"], &[]);
    assert_code(&out, 0, "collect-compose.sh in the project's folder");
    // covpull copies every profile a container holds: api's first one too.
    let mut want = vec![
        format!("docker_{}.cover-1.out", api.0),
        format!("docker_{}.cover-2.out", api.0),
        format!("docker_{}.cover-1.out", worker.0),
        "merged.cov".into(),
    ];
    want.sort();
    assert_eq!(entries(&inside.path("cover")), want);
    assert!(
        !outside.sh("ls /cover").contains("cover-"),
        "outside was stopped"
    );

    let out = run(
        &dir,
        "collect-compose.sh",
        &["-p", "covtools-no-such-project"],
        &[],
    );
    assert_code(&out, 1, "collect-compose.sh on no project");
    assert!(text(&out.stderr)
        .contains("no running container of compose project covtools-no-such-project"));
}

/// A compose project, taken down (containers and network) when dropped.
struct Project {
    compose: PathBuf,
    name: String,
    file: PathBuf,
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.compose);
        cmd.arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .args(args);
        cmd
    }

    fn compose(&self, args: &[&str]) {
        run_ok(&mut self.command(args));
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.command(&["down", "-v", "--remove-orphans"]).output();
    }
}
