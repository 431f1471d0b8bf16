//! Diff coverage against real git: file names git writes with a trailing
//! TAB or C-quoted, and the settings users keep in `~/.gitconfig` that
//! change what `git diff` prints.

use std::collections::BTreeSet;
use std::path::Path;

use crate::util::faults::{changed_repo, with_git_config, CHANGED_LINES};
use crate::util::*;

/// `covtotal --src REPO --diff-base main PROFILE` under `config` (the
/// global git configuration, or none): stdout, which must be exit 0.
fn covtotal_diff(dir: &Dir, repo: &Path, profile: &Path, config: Option<&Path>) -> String {
    let mut cmd = dir.tool("covtotal");
    cmd.arg("--src")
        .arg(repo)
        .args(["--diff-base", "main"])
        .arg(profile);
    with_git_config(&mut cmd.cmd, config);
    cmd.stdout()
}

/// The diff lines covtotal must print for `names`, each changed the same
/// way: one of two changed statements ran in each, G's lines did not.
fn expected(names: &[&str]) -> (String, BTreeSet<String>) {
    let n = names.len();
    (
        format!(
            "diff: (statements) 50.0% ({n} of {} changed statements covered since main)",
            2 * n
        ),
        names
            .iter()
            .map(|name| format!("uncovered: {name}:{CHANGED_LINES}"))
            .collect(),
    )
}

fn diff_lines(out: &str) -> (String, BTreeSet<String>) {
    let mut lines = out.lines().skip(1);
    let figure = lines.next().unwrap_or_default().to_string();
    (figure, lines.map(str::to_string).collect())
}

// git ends `+++ b/p/a b.go` with a TAB when the name holds a space, and
// quotes a name holding `"`, `\`, a control byte or (core.quotePath) a byte
// above 0x7f, with C escapes and octal bytes.
covtest!(diff_coverage_reads_names_git_tabs_or_quotes, |dir: Dir| {
    let names: [&str; 5] = [
        "p/a b.go",
        "p/q\"uote.go",
        "p/back\\slash.go",
        "p/é.go",
        "p/tab\tx.go",
    ];
    let bytes: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
    let (repo, profile) = changed_repo(&dir, "repo", &bytes);
    let out = covtotal_diff(&dir, &repo, &profile, None);
    assert_eq!(diff_lines(&out), expected(&names), "{out}");
});

// Each setting below changes what a bare `git diff` prints: other prefixes
// (w/, i/, none), an external diff program, colour escapes, copies or no
// renames, context between close hunks (which would count line 7, unchanged
// and uncovered), paths relative to the current directory, raw non-ASCII
// names. None may change the figure.
covtest!(
    diff_coverage_ignores_the_users_git_configuration,
    |dir: Dir| {
        let names = ["p/plain.go", "p/é.go"];
        let bytes: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        let (repo, profile) = changed_repo(&dir, "repo", &bytes);
        let want = expected(&names);
        let garbage = dir.create("garbage-diff.sh", "#!/bin/sh\necho '+++ b/nonsense.go'\n");
        std::fs::set_permissions(
            &garbage,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let configs = [
        "[diff]\n\tmnemonicPrefix = true\n".to_string(),
        "[diff]\n\tsrcPrefix = x/\n\tdstPrefix = w/\n".to_string(),
        "[diff]\n\tnoprefix = true\n".to_string(),
        format!("[diff]\n\texternal = {}\n", garbage.display()),
        "[color]\n\tdiff = always\n\tui = always\n".to_string(),
        "[diff]\n\trenames = copies\n".to_string(),
        "[diff]\n\trenames = false\n".to_string(),
        "[diff]\n\tinterHunkContext = 10\n\tcontext = 8\n".to_string(),
        "[diff]\n\trelative = true\n".to_string(),
        "[core]\n\tquotePath = false\n".to_string(),
        "[diff]\n\tmnemonicPrefix = true\n\tinterHunkContext = 10\n[color]\n\tdiff = always\n[core]\n\tquotePath = false\n".to_string(),
    ];
        for (i, config) in configs.iter().enumerate() {
            let file = dir.create(format!("gitconfig-{i}"), config);
            let out = covtotal_diff(&dir, &repo, &profile, Some(&file));
            assert_eq!(diff_lines(&out), want, "under\n{config}\n{out}");
        }
        // covreport's Markdown reads the same diff.
        let mnemonic = dir.path("gitconfig-0");
        let mut cmd = dir.tool("covreport");
        cmd.args(["--format", "markdown", "--src"])
            .arg(&repo)
            .args(["--diff-base", "main"])
            .arg(&profile);
        with_git_config(&mut cmd.cmd, Some(&mnemonic));
        let md = cmd.stdout();
        assert!(
            md.contains(
                "**Diff coverage** (since `main`): 50.0% (2 of 4 changed statements covered)"
            ),
            "{md}"
        );
        for name in names {
            assert!(md.contains(&format!("- `{name}:{CHANGED_LINES}`")), "{md}");
        }
    }
);
