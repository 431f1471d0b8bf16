//! Kubernetes targets, through a `kubectl` stand-in (tests/fixtures/kubectl)
//! that maps `kubectl exec` onto `docker exec` and records its arguments.

use std::fs;

use crate::util::kill_pull::*;
use crate::util::*;

#[test]
fn kubernetes_targets_go_through_kubectl_exec_with_the_exact_arguments() {
    let dir = Dir::new("kubernetes_targets_go_through_kubectl_exec_with_the_exact_arguments");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "k8s");
    // Pods are containers of the same name; the stand-in maps exec onto them.
    let pods: Vec<Container> = ["a", "b"]
        .iter()
        .map(|r| Container::run(&image, unique("k8s", r), &[]))
        .collect();
    let other = Container::run(&image, unique("k8s", "other"), &[]);
    pods[0].get("/hello");
    let stand_in = dir.path("bin/kubectl");
    fs::create_dir_all(dir.path("bin")).unwrap();
    fs::copy(fixtures().join("kubectl"), &stand_in).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&stand_in, fs::Permissions::from_mode(0o755)).unwrap();
    let table: String = pods
        .iter()
        .map(|p| format!("shop\tapp=orders\t{}\n", p.0))
        .collect::<String>()
        + &format!(
            "shop\tapp=other\t{}\nother-ns\tapp=orders\t{}\n",
            other.0, other.0
        );
    let pods_file = dir.create("pods.tsv", table);
    let log = dir.path("kubectl.log");
    let path = format!(
        "{}:{}",
        dir.path("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let env = [
        ("PATH", path.as_str()),
        ("KUBECTL_STANDIN_LOG", log.to_str().unwrap()),
        ("KUBECTL_STANDIN_PODS", pods_file.to_str().unwrap()),
    ];
    let (k, p) = kill_pipe_pull(
        &dir,
        &["--container", "server", "k8s-selector:shop/app=orders"],
        &["--out", "profiles"],
        &env,
    );
    assert_code(&k, 0, "covkill");
    assert_code(&p, 0, "covpull");
    let names: Vec<String> = pulled(&dir, b, &p.stdout)
        .iter()
        .map(|p| file_name(p))
        .collect();
    let mut want: Vec<String> = pods
        .iter()
        .map(|p| format!("k8s_shop_{}_server.cover-1.out", p.0))
        .collect();
    want.sort();
    assert_eq!(
        names, want,
        "every replica the selector matches, and only those"
    );
    assert_eq!(
        count_at(
            b,
            &dir.path("profiles").join(&want[0]),
            "fmt.Fprintln(w, \"hello\")"
        ),
        1
    );

    // The exact kubectl calls: the expansion once, then per pod one exec to
    // kill (covkill) and one to read every profile (covpull).
    let mut calls: Vec<String> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    calls.sort();
    let mut want_calls = vec![
        "get pods -n shop -l app=orders --field-selector=status.phase=Running -o name".to_string(),
    ];
    for p in &pods {
        for _ in 0..2 {
            want_calls.push(format!("exec -n shop {} -c server -- sh -c", p.0));
        }
    }
    want_calls.sort();
    assert_eq!(calls, want_calls);

    // A pod named directly, without a container: no -c at all. Its canonical
    // form goes through stdin as covkill would print it.
    fs::remove_file(&log).unwrap();
    let mut cmd = dir.tool("covpull");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["--out", "direct"])
        .stdin(format!("k8s:shop/{}\n", pods[1].0))
        .output();
    assert_code(&out, 0, "covpull k8s:NS/POD");
    assert_eq!(
        text(&out.stdout),
        format!("direct/k8s_shop_{}.cover-1.out\n", pods[1].0)
    );
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("exec -n shop {} -- sh -c\n", pods[1].0)
    );

    // A selector matching nothing is an error naming it.
    let mut cmd = dir.tool("covkill");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.arg("k8s-selector:shop/app=nothing").output();
    assert_code(&out, 1, "covkill with an empty selector");
    assert!(
        text(&out.stderr).contains("k8s-selector:shop/app=nothing: no pod in namespace shop matches the label selector \"app=nothing\""),
        "{}",
        text(&out.stderr)
    );
}
