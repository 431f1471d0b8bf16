//! A `go test` suite built once: `go test -c` writes one test binary per
//! package, and each top-level test runs from its package's binary in the
//! package directory (as `go test` runs it), instead of one `go test` per
//! test that builds and links again. Only for commands whose flags are all
//! known here (build flags go to the build, test flags become `-test.*`);
//! anything else runs one `go test` per test (gotest.rs).

use std::path::{Path, PathBuf};

use super::gotest::GoTest;

/// Build flags that take a value, and those that do not.
const BUILD_VALUE: &[&str] = &[
    "tags", "ldflags", "gcflags", "asmflags", "mod", "modfile", "overlay", "pgo", "buildvcs",
    "toolexec", "p", "vet",
];
const BUILD_BOOL: &[&str] = &[
    "a",
    "race",
    "msan",
    "asan",
    "trimpath",
    "modcacherw",
    "x",
    "work",
];
/// Test flags (as `-test.NAME`) that take a value, and those that do not.
const TEST_VALUE: &[&str] = &["count", "timeout", "parallel", "cpu", "skip", "shuffle"];
const TEST_BOOL: &[&str] = &["v", "failfast", "short", "fullpath"];

/// The user's arguments taken apart.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Split {
    pub(super) build: Vec<String>,
    pub(super) test: Vec<String>,
    pub(super) packages: Vec<String>,
    /// After `-args`.
    pub(super) binary: Vec<String>,
}

/// `None` when a flag is not one of the known ones.
pub(super) fn split(g: &GoTest) -> Option<Split> {
    let mut out = Split::default();
    let mut it = g.rest().iter();
    while let Some(a) = it.next() {
        if a == "-args" || a == "--args" {
            out.binary.extend(it.by_ref().cloned());
            break;
        }
        let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            out.packages.push(a.clone());
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let value =
            |it: &mut std::slice::Iter<String>| inline.clone().or_else(|| it.next().cloned());
        if BUILD_VALUE.contains(&name) {
            out.build.push(format!("-{name}={}", value(&mut it)?));
        } else if BUILD_BOOL.contains(&name) {
            out.build.push(a.clone());
        } else if TEST_VALUE.contains(&name) {
            out.test.push(format!("-test.{name}={}", value(&mut it)?));
        } else if TEST_BOOL.contains(&name) {
            out.test.push(format!(
                "-test.{name}={}",
                inline.as_deref().unwrap_or("true")
            ));
        } else {
            return None;
        }
    }
    if out.packages.is_empty() {
        out.packages.push(".".into());
    }
    Some(out)
}

impl Split {
    /// `go [-C DIR] test -c -o DIR/ BUILD… PACKAGES…`.
    pub(super) fn build_argv(&self, g: &GoTest, bins: &Path) -> Vec<String> {
        let mut argv = g.head().to_vec();
        argv.extend(["-c".into(), "-o".into(), format!("{}/", literal(bins))]);
        argv.extend(self.build.iter().cloned());
        argv.extend(self.packages.iter().cloned());
        argv
    }

    /// `go [-C DIR] list -f '{{.ImportPath}} {{.Dir}}' BUILD… PACKAGES…`.
    pub(super) fn list_argv(&self, g: &GoTest) -> Vec<String> {
        let mut argv: Vec<String> = g.head()[..g.head().len() - 1].to_vec();
        argv.extend([
            "list".into(),
            "-f".into(),
            "{{{{if or .TestGoFiles .XTestGoFiles}}}}{{{{.ImportPath}}}}\t{{{{.Dir}}}}{{{{end}}}}"
                .into(),
        ]);
        argv.extend(
            self.build
                .iter()
                .filter(|f| !f.starts_with("-vet") && !f.starts_with("-exec"))
                .cloned(),
        );
        argv.extend(self.packages.iter().cloned());
        argv
    }

    /// The command running test `name` (`Name` or `Name/Sub`) of a
    /// package's binary in its directory, with what `go test` would pass
    /// it.
    pub(super) fn run_argv(&self, bin: &Path, dir: &Path, name: &str) -> Vec<String> {
        let mut argv = in_dir(bin, dir);
        argv.push(format!("-test.run={}", super::gotest::run_pattern(name)));
        argv.push("-test.paniconexit0".into());
        let has = |f: &str| {
            self.test
                .iter()
                .any(|t| t.starts_with(&format!("-test.{f}=")))
        };
        if !has("count") {
            argv.push("-test.count=1".into());
        }
        if !has("timeout") {
            argv.push("-test.timeout=10m0s".into());
        }
        if !has("v") {
            argv.push("-test.v=true".into());
        }
        argv.extend(self.test.iter().cloned());
        argv.extend(self.binary.iter().cloned());
        argv
    }
}

/// `sh -c 'cd DIR && exec BIN…'`: the tests' working directory is their
/// package's, as under `go test`.
pub(super) fn in_dir(bin: &Path, dir: &Path) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        "cd \"$0\" && exec \"$@\"".into(),
        literal(dir),
        literal(bin),
    ]
}

/// A path as a literal of the tests' templates (braces doubled).
fn literal(p: &Path) -> String {
    p.display()
        .to_string()
        .replace('{', "{{")
        .replace('}', "}}")
}

/// The packages with tests (`go list` lines) and their binaries in `bins`
/// (`go test -c -o DIR/` names them after the import path's last element).
pub(super) fn binaries(list: &str, bins: &Path) -> Vec<(PathBuf, PathBuf)> {
    list.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(path, dir)| {
            let name = path.rsplit('/').next()?;
            let bin = bins.join(format!("{name}.test"));
            bin.is_file().then(|| (bin, PathBuf::from(dir)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> GoTest {
        super::super::gotest::parse(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap()
    }

    #[test]
    fn flags_go_to_the_build_or_the_test_binary() {
        let s = split(&g(
            "go test -count=1 -tags e2e -v -timeout 2m ./e2e ./x -args -k",
        ))
        .unwrap();
        assert_eq!(s.build, ["-tags=e2e"]);
        assert_eq!(
            s.test,
            ["-test.count=1", "-test.v=true", "-test.timeout=2m"]
        );
        assert_eq!(s.packages, ["./e2e", "./x"]);
        assert_eq!(s.binary, ["-k"]);
        assert!(split(&g("go test -json ./e2e")).is_none());
        assert!(split(&g("go test -coverprofile=x ./e2e")).is_none());
        assert_eq!(split(&g("go test")).unwrap().packages, ["."]);
        let run = s.run_argv(Path::new("/b/e2e.test"), Path::new("/m/e2e"), "TestA");
        assert_eq!(
            run[3..],
            [
                "/m/e2e",
                "/b/e2e.test",
                "-test.run=^TestA$",
                "-test.paniconexit0",
                "-test.count=1",
                "-test.v=true",
                "-test.timeout=2m",
                "-k"
            ]
            .map(String::from)[..]
        );
        let b = split(&g("go -C sub test -race ./...")).unwrap();
        assert_eq!(
            b.build_argv(&g("go -C sub test -race ./..."), Path::new("/o")),
            ["go", "-C", "sub", "test", "-c", "-o", "/o/", "-race", "./..."].map(String::from)
        );
    }
}
