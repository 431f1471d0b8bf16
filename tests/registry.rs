//! `covtools images --push` against a real registry (Debian's
//! `docker-registry` on this host): the images tagged
//! REGISTRY/NAMESPACE/SERVICE:TAG and pushed, their references printed and
//! listed in pushed-images.txt; removed locally, pulled back by reference,
//! run, and the harness in them answers. A push that cannot happen says
//! why, naming the registry and what to do.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use covjob::docker_images::push;

use crate::util::registry::Registry;
use crate::util::services::{docker, docker_ok, wait_docker_profile, wait_until, DockerScope};
use crate::util::{bin, copy_tree, example_dir, require_docker, require_go, Dir};

/// The example module, copied under `dir` (without results of earlier
/// runs), so that runs write nothing into the repository.
fn example_copy(dir: &Dir) -> PathBuf {
    let module = dir.path("module");
    copy_tree(&example_dir(), &module);
    let _ = fs::remove_dir_all(module.join(".covtools"));
    module
}

/// `covtools images` of the example's catalog service on `base`, pushed to
/// `dest`, with the Go of the tests first on PATH; `env` on top.
fn images_push(go: &Path, module: &Path, prefix: &str, base: &str, dest: &str) -> Command {
    let mut cmd = Command::new(bin("covtools"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![go.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    cmd.args(["images", "--module"])
        .arg(module)
        .args(["--prefix", prefix, "--base", base, "--service", "catalog"])
        .args(["--push", dest]);
    cmd
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=covtools",
            "-c",
            "user.email=covtools@example.com",
        ])
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn pushed_images_come_back_from_the_registry_and_answer_the_killswitch() {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("pushed_images_come_back_from_the_registry_and_answer_the_killswitch");
    let Some(registry) = Registry::start(&dir.path("registry"), "127.0.0.1", false) else {
        return;
    };
    let scope = DockerScope::new("push");
    let base = scope.base_image();
    // The module as a checkout of its own: the tag is its commit.
    let module = example_copy(&dir);
    git(&module, &["init", "-q"]);
    git(&module, &["add", "-A"]);
    git(&module, &["commit", "-q", "-m", "example"]);
    let commit = git(&module, &["rev-parse", "--short", "HEAD"]);
    let dest = format!("{}/covtools-test/shop", registry.addr);
    let reference = format!("{dest}/catalog:{commit}");
    scope.images.lock().unwrap().push(reference.clone());
    let out = images_push(&go, &module, &scope.prefix, &base, &dest)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    // The references alone on stdout, for `helm --set image=…`, and listed.
    assert_eq!(stdout, format!("{reference}\n"), "{stderr}");
    let listed = fs::read_to_string(module.join(".covtools").join(push::PUSHED_FILE)).unwrap();
    assert_eq!(listed, format!("{reference}\n"));
    // The run left the checkout clean (its results are ignored).
    assert_eq!(git(&module, &["status", "--porcelain"]), "");

    // No local copy left: the pull below has to fetch it.
    let local = format!("{}/catalog:latest", scope.prefix);
    docker_ok(&["rmi", &reference, &local]);
    assert!(!docker(&["image", "inspect", &reference]).status.success());
    docker_ok(&["pull", &reference]);
    let c = scope.run("pulled", &["-p", "127.0.0.1::19999", &reference]);
    let port = docker_ok(&["port", &c, "19999/tcp"]);
    let addr = port
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .unwrap()
        .trim()
        .to_string();
    let mut answer = None;
    wait_until(
        "the pulled image's killswitch",
        Duration::from_secs(30),
        || {
            answer = covtarget::http::get(&addr, "/covkill", Duration::from_secs(5)).ok();
            answer.is_some()
        },
    );
    let answer = answer.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.describe());
    assert_eq!(answer.header("Covtools-Harness"), Some("test"));
    // It stopped writing its profile, which the wrapper kept.
    wait_docker_profile(&c, 1);

    // Uncommitted changes: the commit alone no longer names the image.
    fs::write(module.join("cmd/catalog/note.txt"), "changed\n").unwrap();
    let context = module.join(".covtools/work/images/catalog");
    let hash = push::context_hash(&context).unwrap();
    assert_eq!(
        push::default_tag(&module, &context).unwrap(),
        format!("{commit}-dirty-{}", &hash[..8])
    );
    // Not a checkout: the context's own hash.
    fs::remove_dir_all(module.join(".git")).unwrap();
    assert_eq!(push::default_tag(&module, &context).unwrap(), hash);
}

#[test]
fn push_errors_name_the_registry_and_what_to_do() {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("push_errors_name_the_registry_and_what_to_do");
    let scope = DockerScope::new("push-errors");
    let base = scope.base_image();
    let module = example_copy(&dir);
    // Built by each run below (and removed with the scope).
    scope
        .images
        .lock()
        .unwrap()
        .push(format!("{}/catalog:latest", scope.prefix));
    // No stored login can interfere.
    let config = dir.path("docker-config");
    fs::create_dir_all(&config).unwrap();
    let fails = |dest: &str| -> String {
        let out = images_push(&go, &module, &scope.prefix, &base, dest)
            .env("DOCKER_CONFIG", &config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("--push {dest}:\n{stderr}");
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        for l in docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).lines() {
            if l.starts_with(dest) {
                scope.images.lock().unwrap().push(l.to_string());
            }
        }
        stderr
    };

    // Nothing listens there.
    let unreachable = crate::util::services::free_addr();
    let err = fails(&format!("{unreachable}/ns"));
    assert!(
        err.contains(&format!(
            "{unreachable} is unreachable from the Docker engine"
        )) && err.contains("connection refused"),
        "{err}"
    );

    // A registry that wants a login.
    let Some(locked) = Registry::start(&dir.path("locked"), "127.0.0.1", true) else {
        return;
    };
    let err = fails(&locked.addr);
    assert!(
        err.contains(&format!("not logged in to {0}", locked.addr))
            && err.contains(&format!("`docker login {}`", locked.addr)),
        "{err}"
    );
    drop(locked);

    // Plain HTTP on an address that is not loopback (the engine's bridge):
    // the engine insists on HTTPS there.
    // (The network's own record may omit it: a container on it knows.)
    let probe = scope.run("gateway", &[&base, "sleep", "60"]);
    let gateway = docker_ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.Gateway}}",
        &probe,
    ]);
    let gateway = gateway.trim();
    assert!(
        !gateway.is_empty(),
        "no gateway address on the default bridge"
    );
    let Some(plain) = Registry::start(&dir.path("plain"), gateway, false) else {
        return;
    };
    let err = fails(&plain.addr);
    assert!(
        err.contains(&format!(
            "add \"{}\" to \"insecure-registries\"",
            plain.addr
        )) && err.contains("server gave HTTP response to HTTPS client"),
        "{err}"
    );
}
