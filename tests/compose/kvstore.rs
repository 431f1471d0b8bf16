//! The kvstore example measured in its own stack.

use crate::util::compose::{native_compose_run_with, NativeStop};
use crate::util::compose_run::Stack;
use crate::util::services::{cover_func, func_percent};
use crate::util::shapes::{assert_same_as_native, blocks, NATIVE_STOP};
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
    assert_eq!(r.code, 0, "{r:#?}");
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
