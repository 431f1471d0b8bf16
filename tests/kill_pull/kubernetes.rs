//! Kubernetes targets, through a `kubectl` stand-in (tests/fixtures/kubectl)
//! that maps `kubectl exec` onto `docker exec` and records its arguments.

use std::fs;
use std::path::PathBuf;

use crate::util::kill_pull::*;
use crate::util::*;

/// The stand-in as `kubectl` in DIR/bin, with its pods table (lines
/// `NS<TAB>SELECTOR<TAB>POD`): the PATH that puts it first, and the table.
fn stand_in(dir: &Dir, table: String) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let kubectl = dir.path("bin/kubectl");
    fs::create_dir_all(dir.path("bin")).unwrap();
    fs::copy(fixtures().join("kubectl"), &kubectl).unwrap();
    fs::set_permissions(&kubectl, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path("bin").display(),
        std::env::var("PATH").unwrap()
    );
    (path, dir.create("pods.tsv", table))
}

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
    let table: String = pods
        .iter()
        .map(|p| format!("shop\tapp=orders\t{}\n", p.0))
        .collect::<String>()
        + &format!(
            "shop\tapp=other\t{}\nother-ns\tapp=orders\t{}\n",
            other.0, other.0
        );
    let (path, pods_file) = stand_in(&dir, table);
    let log = dir.path("kubectl.log");
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

/// A pod of the stand-in: a container of the pod's name whose cover
/// directory is a named volume, as an `emptyDir` is the pod's: it outlives
/// the pod's container, so a container restarted in place keeps the
/// profiles written before. Container and volume removed on drop.
struct Pod {
    container: Option<Container>,
    volume: String,
}

impl Pod {
    fn run(image: &Image, name: String) -> Pod {
        let volume = format!("{name}-cover");
        let mut pod = Pod {
            container: None,
            volume,
        };
        pod.start(image, name);
        pod
    }

    fn start(&mut self, image: &Image, name: String) {
        let mount = format!("{}:{}", self.volume, covcore::contract::COVER_DIR);
        docker_ok(&["run", "-d", "--name", &name, "-v", &mount, &image.name]);
        let c = Container(name);
        c.wait_ready();
        self.container = Some(c);
    }

    fn c(&self) -> &Container {
        self.container.as_ref().expect("running")
    }

    fn name(&self) -> String {
        self.c().0.clone()
    }

    /// The kubelet restarting the pod's container in place: stopped (SIGTERM,
    /// within its grace period: the wrapper keeps the run's profile), a new
    /// container started in the same pod, the same volume mounted.
    fn restart_in_place(&mut self, image: &Image) {
        let name = self.name();
        docker_ok(&["stop", "-t", "20", &name]);
        drop(self.container.take());
        self.start(image, name);
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        drop(self.container.take());
        let _ = docker(&["volume", "rm", "-f", &self.volume]);
    }
}

/// `covkill ARGS | covpull ARGS | covmerge | covtotal ARGS`, through real
/// pipes; each stage's exit status and stderr (and covtotal's stdout).
fn pipeline(
    dir: &Dir,
    stages: [(&str, Vec<String>); 4],
    env: &[(&str, &str)],
) -> Vec<std::process::Output> {
    use std::process::{Command, Stdio};
    let mut children = Vec::new();
    let mut stdin = Stdio::null();
    let last = stages.len() - 1;
    for (i, (tool, args)) in stages.into_iter().enumerate() {
        let mut cmd = Command::new(bin(tool));
        cmd.current_dir(&dir.root)
            .args(args)
            .envs(env.iter().copied())
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let err = drain(child.stderr.take().unwrap());
        let out = child.stdout.take().unwrap();
        stdin = match i == last {
            true => {
                children.push((child, err, Some(drain(out))));
                break;
            }
            false => Stdio::from(out),
        };
        children.push((child, err, None));
    }
    children
        .into_iter()
        .map(|(mut child, err, out)| std::process::Output {
            status: child.wait().unwrap(),
            stdout: out.map(|o| o.join().unwrap()).unwrap_or_default(),
            stderr: err.join().unwrap(),
        })
        .collect()
}

/// The collection a user runs against a deployment, `covkill
/// k8s-selector:shop/app=orders | covpull --out cover | covmerge |
/// covtotal`, on three replicas through the stand-in: one restarted in
/// place (its earlier profile kept in the pod's volume and merged), one
/// deleted in the middle of the collection (named, the others collected,
/// covpull's exit 1), then one deleted under covkill itself.
#[test]
fn the_selector_pipeline_collects_replicas_a_restarted_pod_and_names_a_vanished_one() {
    let dir = Dir::new(
        "the_selector_pipeline_collects_replicas_a_restarted_pod_and_names_a_vanished_one",
    );
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "k8sfleet");
    let mut pods: Vec<Pod> = ["a", "b", "c"]
        .iter()
        .map(|r| Pod::run(&image, unique("k8sfleet", &format!("orders-{r}"))))
        .collect();
    let other = Container::run(&image, unique("k8sfleet", "other"), &[]);
    let (hello, add) = ("fmt.Fprintln(w, \"hello\")", "return a + b");
    pods[0].c().get("/hello");
    pods[1].c().get("/hello");
    pods[1].c().get("/hello");
    pods[1].restart_in_place(&image);
    pods[1].c().get("/hello");
    pods[1].c().get("/add?a=1&b=2");
    pods[2].c().get("/add?a=1&b=2");
    pods[2].c().get("/add?a=1&b=2");
    other.get("/hello");
    // The restarted pod's profile of its first container is in its volume.
    assert_eq!(pods[1].c().sh("ls /cover").trim(), "cover-1.out");

    let table: String = pods
        .iter()
        .map(|p| format!("shop\tapp=orders\t{}\n", p.name()))
        .chain([format!("shop\tapp=other\t{}\n", other.0)])
        .collect();
    let (path, pods_file) = stand_in(&dir, table);
    let (a, b_, c) = (pods[0].name(), pods[1].name(), pods[2].name());
    // Replica c is deleted at its second exec: covkill's went through,
    // covpull's finds the pod gone.
    let vanish = format!("{c}@2");
    let log = dir.path("kubectl.log");
    let env = [
        ("PATH", path.as_str()),
        ("KUBECTL_STANDIN_LOG", log.to_str().unwrap()),
        ("KUBECTL_STANDIN_PODS", pods_file.to_str().unwrap()),
        ("KUBECTL_STANDIN_VANISH", vanish.as_str()),
    ];
    let merged = dir.path("merged.cov");
    let src = b.module.display().to_string();
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let out = pipeline(
        &dir,
        [
            (
                "covkill",
                words(&["-c", "server", "k8s-selector:shop/app=orders"]),
            ),
            ("covpull", words(&["--out", "cover"])),
            ("covmerge", Vec::new()),
            ("covtotal", words(&["--src", &src])),
        ],
        &env,
    );
    assert_code(&out[0], 0, "covkill");
    assert_code(&out[1], 1, "covpull: a pod was deleted under it");
    assert_code(&out[2], 0, "covmerge");
    assert_code(&out[3], 0, "covtotal");
    let err = text(&out[1].stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("covpull: k8s:shop/{c}:server: the pod is gone"))
            && err.contains(&format!("pods \"{c}\" not found")),
        "{err}"
    );
    let mut names = entries(&dir.path("cover"));
    names.sort();
    let stem = |p: &str| format!("k8s_shop_{p}_server");
    assert_eq!(
        names,
        [
            format!("{}.cover-1.out", stem(&a)),
            format!("{}.cover-1.out", stem(&b_)),
            format!("{}.cover-2.out", stem(&b_)),
        ]
    );
    // The restarted pod's first container's profile counts with its second's:
    // every request to a and b, none to the deleted c or the other app.
    let pulled: Vec<PathBuf> = names.iter().map(|n| dir.path("cover").join(n)).collect();
    dir.merge_into(&pulled, &merged);
    assert_eq!(count_at(b, &merged, hello), 4);
    assert_eq!(count_at(b, &merged, add), 1);
    let go_total = func_cover(&go_func(b, &merged), "total");
    assert!(
        text(&out[3].stdout).contains(&go_total),
        "covtotal says {:?}, go tool cover -func says {go_total}",
        text(&out[3].stdout)
    );
    let calls = fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().filter(|l| l.starts_with("get ")).count(),
        1,
        "{calls}"
    );
    for p in [&a, &b_, &c] {
        let execs = format!("exec -n shop {p} -c server -- sh -c");
        assert_eq!(calls.lines().filter(|l| *l == execs).count(), 2, "{calls}");
    }

    // A replica deleted under covkill: named there, not passed on; covpull
    // collects the rest.
    let vanish = format!("{b_}@1");
    let log = dir.path("kubectl-2.log");
    let env = [
        ("PATH", path.as_str()),
        ("KUBECTL_STANDIN_LOG", log.to_str().unwrap()),
        ("KUBECTL_STANDIN_PODS", pods_file.to_str().unwrap()),
        ("KUBECTL_STANDIN_VANISH", vanish.as_str()),
    ];
    let (k, p) = kill_pipe_pull(
        &dir,
        &["-c", "server", "k8s-selector:shop/app=orders"],
        &["--out", "again"],
        &env,
    );
    assert_code(&k, 1, "covkill: a pod was deleted under it");
    assert_code(&p, 0, "covpull");
    let err = text(&k.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("covkill: k8s:shop/{b_}:server: the pod is gone")),
        "{err}"
    );
    assert_eq!(
        text(&p.stdout),
        format!("again/{0}.cover-1.out\nagain/{0}.cover-2.out\n", stem(&a))
    );
    drop(pods);
}
