//! Helpers of tests/faults/: a git repository whose change touches files
//! with names git quotes, run under a chosen git configuration; commands
//! run as an unprivileged user; a small `go build -cover` program's cover
//! directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::report::run_ok;
use super::Dir;

/// `git ARGS` in `repo` with a fixed author and, when given, `config` as
/// the only global configuration (no system one): a user's settings as
/// they would be in `~/.gitconfig`.
pub fn git(repo: &Path, config: Option<&Path>, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.current_dir(repo)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .args(args);
    with_git_config(&mut cmd, config);
    run_ok(&mut cmd)
}

/// Makes git (and every git a tool runs) read `config` as the global
/// configuration, or none, and no system configuration.
pub fn with_git_config(cmd: &mut Command, config: Option<&Path>) {
    cmd.env("GIT_CONFIG_NOSYSTEM", "1").env(
        "GIT_CONFIG_GLOBAL",
        config.unwrap_or(Path::new("/dev/null")),
    );
}

/// One Go file before the change.
const BASE_GO: &str =
    "package p\n\nfunc F(x int) int {\n\tif x > 0 {\n\t\treturn 1\n\t}\n\treturn 0\n}\n";

/// The same file after: line 5 changed, lines 9-12 added. Two hunks four
/// lines apart, so that context between them would count lines that did not
/// change (line 7, uncovered).
const FEATURE_GO: &str = "package p\n\nfunc F(x int) int {\n\tif x > 0 {\n\t\treturn 2\n\t}\n\treturn 0\n}\n\nfunc G(y int) int {\n\treturn y * 2\n}\n";

/// The blocks of [`FEATURE_GO`] as `go test -cover` writes them: the `if`
/// and `return 2` ran, `return 0` and G did not.
const FEATURE_BLOCKS: &[&str] = &[
    "3.19,4.11 1 1",
    "4.11,6.3 1 1",
    "7.2,7.10 1 0",
    "10.19,12.2 1 0",
];

/// What covtotal reports for each changed file: of its changed statements
/// (`return 2`'s block and G's), one ran; G's lines are uncovered.
pub const CHANGED_LINES: &str = "10-12";

/// The module `example.com/m` as a git repository `repo` under `dir`:
/// branch `main` holds [`BASE_GO`] under each of `names` (paths in the
/// module), branch `feature` (checked out) changes each to [`FEATURE_GO`].
/// Returns the repository and the profile of the feature (`repo.out`).
pub fn changed_repo(dir: &Dir, repo: &str, names: &[&[u8]]) -> (PathBuf, PathBuf) {
    use std::os::unix::ffi::OsStrExt;
    let r = dir.path(repo);
    let file = |name: &[u8]| r.join(std::ffi::OsStr::from_bytes(name));
    dir.create(
        format!("{repo}/go.mod"),
        "module example.com/m\n\ngo 1.21\n",
    );
    for name in names {
        std::fs::create_dir_all(file(name).parent().unwrap()).unwrap();
        std::fs::write(file(name), BASE_GO).unwrap();
    }
    git(&r, None, &["init", "-q", "-b", "main"]);
    git(&r, None, &["add", "-A"]);
    git(&r, None, &["commit", "-qm", "base"]);
    git(&r, None, &["checkout", "-qb", "feature"]);
    let mut profile = b"mode: set\n".to_vec();
    for name in names {
        std::fs::write(file(name), FEATURE_GO).unwrap();
        for block in FEATURE_BLOCKS {
            profile.extend_from_slice(b"example.com/m/");
            profile.extend_from_slice(name);
            profile.push(b':');
            profile.extend_from_slice(block.as_bytes());
            profile.push(b'\n');
        }
    }
    git(&r, None, &["commit", "-qam", "feature"]);
    let out = dir.create(format!("{repo}.out"), profile);
    (r, out)
}

/// The uid and gid of `nobody`: a user without the rights of root.
const NOBODY: &str = "65534";

/// `program` run as `nobody` when this test runs as root (permission bits
/// do not stop root), else as this user; `None` where root cannot switch
/// (no setpriv).
pub fn unprivileged(program: &Path) -> Option<Command> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        return Some(Command::new(program));
    }
    let setpriv = which::which("setpriv").ok()?;
    let mut cmd = Command::new(setpriv);
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
    ])
    .arg(program);
    Some(cmd)
}

/// A `go build -cover` program in `dir/prog` (module `example.com/prog`,
/// one file `main.go`), run once into `dir/prog-cov`: that cover
/// directory.
pub fn cover_dir(dir: &Dir, go: &Path) -> PathBuf {
    dir.create("prog/go.mod", "module example.com/prog\n\ngo 1.21\n");
    dir.create(
        "prog/main.go",
        "package main\n\nimport \"os\"\n\nfunc main() {\n\tif len(os.Args) > 5 {\n\t\tprintln(\"many\")\n\t}\n\tprintln(\"ok\")\n}\n",
    );
    let exe = dir.path("prog/prog");
    run_ok(
        Command::new(go)
            .current_dir(dir.path("prog"))
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "")
            .args(["build", "-cover", "-covermode=count", "-o"])
            .arg(&exe),
    );
    let cov = dir.path("prog-cov");
    std::fs::create_dir_all(&cov).unwrap();
    run_ok(Command::new(&exe).env("GOCOVERDIR", &cov));
    cov
}
