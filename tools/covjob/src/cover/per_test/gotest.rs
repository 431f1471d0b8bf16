//! `go test` suites, unchanged: the command as the user wrote it (`go test
//! …` or `go -C DIR test …`) taken apart. Built once where its flags allow
//! (gobin.rs); else it lists its top-level tests (`-list`) and runs each
//! alone (`-run '^Name$'`, `-count=1`, `-v`). Either way the recorder marks
//! a boundary before and after each test; subtests run inside their
//! top-level test and belong to it. In the finer mode (`per_test =
//! "subtests"`) the subtests a top-level test's run printed then run each
//! alone (`-run '^Name$/^Sub$'`), each its own test `Name/Sub`.

/// A `go test` command taken apart: everything up to and including `test`,
/// the user's `-run` pattern, and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GoTest {
    head: Vec<String>,
    run: Option<String>,
    rest: Vec<String>,
}

/// The `go test` command in `argv`, if it is one.
pub(super) fn parse(argv: &[String]) -> Option<GoTest> {
    let is_go = argv.first().is_some_and(|a| {
        std::path::Path::new(a)
            .file_name()
            .is_some_and(|n| n == "go")
    });
    if !is_go {
        return None;
    }
    let t = match argv.get(1).map(String::as_str) {
        Some("test") => 1,
        Some("-C") if argv.get(3).map(String::as_str) == Some("test") => 3,
        Some(c) if c.starts_with("-C=") && argv.get(2).map(String::as_str) == Some("test") => 2,
        _ => return None,
    };
    let mut run = None;
    let mut rest = Vec::new();
    let mut it = argv[t + 1..].iter();
    while let Some(a) = it.next() {
        // Arguments after -args belong to the test binary.
        if a == "-args" || a == "--args" {
            rest.push(a.clone());
            rest.extend(it.by_ref().cloned());
            break;
        }
        match a.trim_start_matches('-') {
            "run" if a.starts_with('-') => run = it.next().cloned(),
            f if a.starts_with('-') && f.starts_with("run=") => run = Some(f[4..].to_string()),
            _ => rest.push(a.clone()),
        }
    }
    Some(GoTest {
        head: argv[..=t].to_vec(),
        run,
        rest,
    })
}

impl GoTest {
    fn has_flag(&self, names: &[&str]) -> bool {
        let user = self
            .rest
            .iter()
            .take_while(|a| *a != "-args" && *a != "--args");
        user.map(|a| a.trim_start_matches('-')).any(|a| {
            names
                .iter()
                .any(|n| a == *n || a.starts_with(&format!("{n}=")))
        })
    }

    /// Everything up to and including `test`.
    pub(super) fn head(&self) -> &[String] {
        &self.head
    }

    /// The arguments after `test`, without `-run`.
    pub(super) fn rest(&self) -> &[String] {
        &self.rest
    }

    /// The top-level tests to run: the user's `-run` up to its first `/`,
    /// else every test.
    pub(super) fn pattern(&self) -> &str {
        self.run
            .as_deref()
            .map_or(".*", |r| r.split('/').next().unwrap_or(r))
    }

    /// `go test -list PATTERN …`: the top-level tests, one per line.
    pub(super) fn list_argv(&self) -> Vec<String> {
        let mut argv = self.head.clone();
        argv.extend(["-list".to_string(), self.pattern().to_string()]);
        argv.extend(self.rest.iter().cloned());
        argv
    }

    /// The command running one test (`Name` or `Name/Sub`) alone: never
    /// from the cache (a cached result runs no code), verbose so that a
    /// skip and the subtests show.
    pub(super) fn run_argv(&self, name: &str) -> Vec<String> {
        let mut argv = self.head.clone();
        argv.extend(["-run".to_string(), run_pattern(name)]);
        if !self.has_flag(&["count"]) {
            argv.push("-count=1".into());
        }
        if !self.has_flag(&["v", "json"]) {
            argv.push("-v".into());
        }
        argv.extend(self.rest.iter().cloned());
        argv
    }
}

/// The `-run` pattern of one test alone: `^Name$`, or `^Name$/^Sub$` for
/// a subtest (Go matches each level of a `/`-split pattern on its own).
pub(super) fn run_pattern(name: &str) -> String {
    let level = |n: &str| format!("^{}$", covcore::testmap::regex_quote(n));
    match name.split_once('/') {
        Some((top, sub)) => format!("{}/{}", level(top), level(sub)),
        None => level(name),
    }
}

/// The lines of `go test` output, trimmed; with `-json`, the lines of its
/// output events.
fn output_lines(output: &str) -> impl Iterator<Item = String> + '_ {
    output.lines().map(|l| {
        let event = l
            .starts_with('{')
            .then(|| serde_json::from_str::<serde_json::Value>(l).ok())
            .flatten();
        match event.as_ref().and_then(|e| e["Output"].as_str()) {
            Some(out) => out.trim().to_string(),
            None => l.trim().to_string(),
        }
    })
}

/// The subtests of `name` that its `-v` run started (`=== RUN   Name/Sub`),
/// one level down, in the order they ran. Subtests of subtests belong to
/// theirs; a subtest whose own name holds a `/` cannot be run alone by
/// `-run` and is left to its parent.
pub(super) fn subtests(name: &str, output: &str) -> Vec<String> {
    let prefix = format!("=== RUN   {name}/");
    let mut subs: Vec<String> = Vec::new();
    for line in output_lines(output) {
        let Some(sub) = line.strip_prefix(&prefix) else {
            continue;
        };
        let full = format!("{name}/{sub}");
        if !sub.is_empty() && !sub.contains('/') && !subs.contains(&full) {
            subs.push(full);
        }
    }
    subs
}

/// The top-level tests in `go test -list` output: the lines that are Go
/// test, example or fuzz names (benchmarks do not run without -bench); with
/// `-json`, the lines of its output events.
pub(super) fn listed(output: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in output_lines(output) {
        let line = line.as_str();
        let named = ["Test", "Example", "Fuzz"]
            .iter()
            .any(|p| line.starts_with(p))
            && line.chars().all(|c| c.is_alphanumeric() || c == '_');
        if named && !names.iter().any(|n| n == line) {
            names.push(line.to_string());
        }
    }
    names
}

/// A test's result from its run's exit status and `-v` output: skipped
/// when Go says so or when it did not run at all (exit 0, no PASS line).
pub(super) fn result(name: &str, exit_ok: bool, log: &str) -> &'static str {
    let said = |word: &str| log.contains(&format!("--- {word}: {name} ("));
    if !exit_ok {
        "failed"
    } else if said("PASS") {
        "passed"
    } else {
        "skipped"
    }
}

/// The test's own time as Go reports it (`--- PASS: Name (0.01s)`): the
/// run's wall time would count building and starting the test binary.
pub(super) fn elapsed(name: &str, log: &str) -> Option<std::time::Duration> {
    ["PASS", "FAIL", "SKIP"].iter().find_map(|w| {
        let at = log.find(&format!("--- {w}: {name} ("))?;
        let rest = &log[at..];
        let secs = rest[rest.find('(')? + 1..rest.find("s)")?]
            .parse::<f64>()
            .ok()?;
        Some(std::time::Duration::from_secs_f64(secs))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn go_test_commands_as_users_write_them() {
        let g = parse(&words("go test -count=1 -run ^TestAPI ./e2e")).unwrap();
        assert_eq!(
            g.list_argv(),
            words("go test -list ^TestAPI -count=1 ./e2e")
        );
        assert_eq!(
            g.run_argv("TestAPIx"),
            words("go test -run ^TestAPIx$ -v -count=1 ./e2e")
        );
        let g = parse(&words("go -C sub test -v ./... -args -x")).unwrap();
        assert_eq!(
            g.list_argv(),
            words("go -C sub test -list .* -v ./... -args -x")
        );
        assert_eq!(
            g.run_argv("TestA"),
            words("go -C sub test -run ^TestA$ -count=1 -v ./... -args -x")
        );
        let g = parse(&words("/usr/bin/go test -run=A/b ./x")).unwrap();
        assert_eq!(g.list_argv(), words("/usr/bin/go test -list A ./x"));
        assert!(parse(&words("go vet ./...")).is_none());
        assert!(parse(&words("sh -c true")).is_none());
    }

    #[test]
    fn listed_tests_results_and_quoting() {
        let out = "TestA\nExampleB\nBenchmarkC\nFuzzD\nok  \texample.com/x\t0.01s\nTestA\n";
        assert_eq!(listed(out), ["TestA", "ExampleB", "FuzzD"]);
        let json = "{\"Action\":\"output\",\"Package\":\"x\",\"Output\":\"TestJ\\n\"}\n";
        assert_eq!(listed(json), ["TestJ"]);
        let log = "=== RUN   TestA\n--- SKIP: TestA (0.00s)\n";
        assert_eq!(result("TestA", true, log), "skipped");
        assert_eq!(result("TestA", true, "--- PASS: TestA (0.01s)\n"), "passed");
        assert_eq!(
            result("TestA", false, "--- PASS: TestA (0.01s)\n"),
            "failed"
        );
        assert_eq!(
            elapsed("TestA", "--- FAIL: TestA (1.25s)\n"),
            Some(std::time::Duration::from_millis(1250))
        );
    }

    #[test]
    fn subtests_one_level_down_and_their_patterns() {
        let log = "=== RUN   TestA\n=== RUN   TestA/create\n=== RUN   TestA/create/deep\n=== RUN   TestA/read_back\n=== RUN   TestAB/x\n--- PASS: TestA (0.01s)\n    --- PASS: TestA/create (0.00s)\n";
        assert_eq!(subtests("TestA", log), ["TestA/create", "TestA/read_back"]);
        let json = "{\"Action\":\"output\",\"Test\":\"TestJ/a#01\",\"Output\":\"=== RUN   TestJ/a#01\\n\"}\n";
        assert_eq!(subtests("TestJ", json), ["TestJ/a#01"]);
        assert_eq!(run_pattern("TestA"), "^TestA$");
        assert_eq!(run_pattern("TestA/a.b(1)"), r"^TestA$/^a\.b\(1\)$");
        let g = parse(&words("go test -count=1 ./e2e")).unwrap();
        assert_eq!(
            g.run_argv("TestA/x"),
            words("go test -run ^TestA$/^x$ -v -count=1 ./e2e")
        );
        assert_eq!(result("TestA/x", true, log), "skipped");
        assert_eq!(result("TestA/create", true, log), "passed");
    }
}
