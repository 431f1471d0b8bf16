//! The kvstore example measured in its own stack.

use crate::util::compose::{native_compose_run_with, NativeStop};
use crate::util::compose_run::Stack;
use crate::util::services::{cover_func, func_percent};
use crate::util::shapes::{assert_same_as_native, blocks, NATIVE_STOP};
use covcore::exit_codes::ExitStatus;
use covjob::runtime::process::Exit;

/// The example with its real Redis, by `covtools cover` (the library call
/// and the command a user types in the module): exit 0, its persistence
/// code covered, every block and every covered block the native `go build
/// -cover` run of the same stack has, and nothing of either run left.
#[test]
fn kvstore_is_measured_in_its_stack_block_for_block_as_natively() {
    let Some(stack) = Stack::new("kvstore", "kvstore", true) else {
        return;
    };
    let native = native_compose_run_with(
        &stack.dir,
        &stack.go,
        "kvstore",
        &[("KVSTORE_PORT", "127.0.0.1:0")],
        NativeStop::ExitWhileServing,
    );
    let native = blocks(&native.profile_path, &[NATIVE_STOP]);

    let r = stack.run("lib", &[]);
    assert_eq!(r.code, ExitStatus::Success, "{r:#?}");
    assert_eq!(r.runtime, "compose");
    assert_eq!(r.tests_exit, Some(Exit::Code(0)));
    assert!(r.teardown_problems.is_empty(), "{:?}", r.teardown_problems);
    assert_eq!(r.profiles.get("kvstore"), Some(&1), "{:?}", r.profiles);
    assert!(
        r.compose
            .as_deref()
            .is_some_and(|c| c.contains("override.yaml up -d --no-build")),
        "{:?}",
        r.compose
    );
    // The instrumented service's cover directory was a volume of the run.
    assert!(!r.compose_volumes.is_empty());
    assert_same_as_native(&r, &native);

    // The persistence code: the Redis client's every command and reply
    // kind, and the handlers that store.
    let func = cover_func(&stack.go, &stack.module, r.merged.as_ref().unwrap());
    for f in ["Dial", "Set", "Get", "Incr", "Del", "Do", "readReply"] {
        assert!(
            func_percent(&func, "internal/resp/resp.go", f) > 0.0,
            "{f}:\n{func}"
        );
    }
    for f in ["get", "put", "delete", "incr", "stats"] {
        assert!(
            func_percent(&func, "cmd/kvstore/handlers.go", f) > 0.0,
            "{f}:\n{func}"
        );
    }
    stack.assert_nothing_left(&r);

    // What a user types in the module (the base image is the local busybox
    // one: no registry here).
    let out = stack.command(&["--progress", "plain"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "== covtools cover summary (compose runtime)",
        "stack:     docker-compose -p ",
        "profiles:  1 (kvstore 1)",
        "example.com/kvstore/internal/resp",
        "result:    ok (exit 0)",
    ] {
        assert!(stdout.contains(want), "{want:?} not in:\n{stdout}");
    }
    let merged = stack.module.join(".covtools/merged.cov");
    assert_eq!(blocks(&merged, &[]), native, "the command's run");
    stack.assert_nothing_left(&covjob::cover::Report::default());
}

/// `[[tests]]` phases on a replicated compose service: every replica's live
/// snapshot before and after each phase, each phase's own figure.
#[test]
fn phases_are_measured_across_replicas() {
    let Some(stack) = Stack::new("phases", "kvstore", true) else {
        return;
    };
    let toml = std::fs::read_to_string(stack.module.join("covtools.toml")).unwrap();
    let (head, _) = toml.split_once("[tests]").unwrap();
    stack.write(
        "covtools.toml",
        &format!(
            "{head}[[tests]]\nname = \"writes\"\ncommand = [\"go\", \"test\", \"-count=1\", \"-run\", \"TestSetThenGet|TestCounters\", \"./e2e\"]\nenv = {{ SERVICE_URL = \"{{url:kvstore}}\" }}\n\n[[tests]]\nname = \"misses\"\ncommand = [\"go\", \"test\", \"-count=1\", \"-run\", \"TestMissingKey\", \"./e2e\"]\nenv = {{ SERVICE_URL = \"{{url:kvstore}}\" }}\n"
        ),
    );
    let r = stack.run("out", &["--set", "service.kvstore.replicas=2"]);
    assert_eq!(r.code, ExitStatus::Success, "{r:#?}");
    let names: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["writes", "misses"]);
    for p in &r.phases {
        assert_eq!(p.exit, Some(Exit::Code(0)), "{p:?}");
        assert!(p.percent > 0.0 && p.error.is_none(), "{p:?}");
    }
    // The writes ran the client's SET and INCR; the misses did not.
    assert!(r.phases[0].only_statements > 0, "{:?}", r.phases[0]);
    // One snapshot directory per replica.
    let snap = stack.dir.path("out/phases/.snapshot-0");
    let mut dirs: Vec<String> = std::fs::read_dir(&snap)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["kvstore.1", "kvstore.2"]);
    stack.assert_nothing_left(&r);
}

/// A Go test program of the module (`tests.package`) runs in a container
/// on the service's compose network, reaching it by its compose name.
#[test]
fn a_test_package_runs_on_the_compose_network() {
    let Some(stack) = Stack::new("package", "kvstore", true) else {
        return;
    };
    std::fs::create_dir_all(stack.module.join("cmd/probe")).unwrap();
    stack.write(
        "cmd/probe/main.go",
        r#"// Command probe stores a value through the service and reads it back.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func main() {
	url := flag.String("url", "", "the service's base URL")
	flag.Parse()
	req, _ := http.NewRequest("PUT", *url+"/items/probe", strings.NewReader("from the network"))
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 204 {
		fmt.Println("PUT:", err, r)
		os.Exit(1)
	}
	r, err := http.Get(*url + "/items/probe")
	if err != nil {
		fmt.Println("GET:", err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(r.Body)
	fmt.Printf("probe: %s read %q\n", *url, b)
	if string(b) != "from the network" {
		os.Exit(1)
	}
}
"#,
    );
    let r = stack.run(
        "out",
        &[
            "--test-package",
            "./cmd/probe",
            "--test-arg=-url",
            "--test-arg={url:kvstore}",
        ],
    );
    assert_eq!(r.code, ExitStatus::Success, "{r:#?}");
    let log = std::fs::read_to_string(stack.dir.path("out/tests.log")).unwrap();
    assert!(
        log.contains(r#"probe: http://kvstore:8080 read "from the network""#),
        "{log}"
    );
    stack.assert_nothing_left(&r);
}
