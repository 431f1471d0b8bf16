//! covselect: the integration tests a change needs. Given the test map of
//! a per-test run at the base (`covtools cover --per-test`) and a git diff
//! since the merge-base with a ref, print the tests that execute a changed
//! statement, one per line (select.rs says how each change is judged).

mod select;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use covcore::cli;
use covcore::exit_codes::ExitStatus;
use covcore::output::Output;

pub use select::Selection;

/// Print the integration tests that execute a statement changed since the
/// merge-base with REF, one per line, from the test map of a per-test run
/// of the base (`covtools cover --per-test` writes test-map.json).
///
/// The map describes the base: changed and removed lines select the tests
/// that ran the blocks on them; a line added inside a function selects the
/// tests that ran the blocks around it. Changes the map cannot judge (a new
/// file, go.mod, files that are not Go, package-level declarations, code
/// the start-up ran, test code outside a test, a deleted test) select every
/// test and say why on stderr; changed lines no test ran are listed there
/// as untested. Exit 0 when tests are selected, 1 when none is, 2 on an
/// error.
#[derive(Parser, Debug)]
#[command(name = "covselect", version, after_help = EXAMPLES)]
struct Cli {
    /// The test map of the base (test-map.json).
    #[arg(long, value_name = "FILE")]
    map: PathBuf,

    /// The Go module root the map's services were built from, in a git
    /// checkout.
    #[arg(long, value_name = "DIR")]
    src: PathBuf,

    /// The ref to compare with (its merge-base with HEAD, working tree
    /// changes included).
    #[arg(long, value_name = "REF")]
    diff_base: String,

    /// Print one regular expression for `go test -run` instead of the list
    /// (`.*` when every test is selected).
    #[arg(long)]
    go_run: bool,
}

const EXAMPLES: &str = "Examples:
  covselect --map .covtools/test-map.json --src . --diff-base origin/main
  go test -count=1 -run \"$(covselect --map test-map.json --src . --diff-base main --go-run)\" ./e2e";

/// The selection for the changes since the merge-base of `base` and HEAD
/// in the checkout holding `src`, from `map` (what `covselect` prints).
pub fn select_tests(
    map: &covcore::testmap::TestMap,
    src: &std::path::Path,
    base: &str,
) -> anyhow::Result<Selection> {
    let changes = covcore::diff::since(src, base, covcore::diff::Scope::Everything)?;
    select::select(map, src, &changes)
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let output = Output::open(None)?;
    let map = covcore::testmap::TestMap::read(&cli.map)?;
    let sel = select_tests(&map, &cli.src, &cli.diff_base)?;
    let prog = cli::prog_name();
    for why in &sel.all {
        eprintln!("{prog}: every test: {why}");
    }
    for u in &sel.untested {
        eprintln!("{prog}: untested: {u} (no test ran these changed lines)");
    }
    for i in &sel.ignored {
        eprintln!("{prog}: ignored: {i}");
    }
    let text = if cli.go_run {
        format!("{}\n", go_run(&sel))
    } else {
        sel.tests.iter().map(|t| format!("{t}\n")).collect()
    };
    output.write(|out| Ok(out.write_all(text.as_bytes())?))?;
    Ok(ExitStatus::negative_unless(!(sel.tests.is_empty() && sel.all.is_empty())).into())
}

/// A `-run` pattern for the selection: `^(A|B)$`, `.*` for every test (new
/// ones too), `^$` for none. A subtest (`A/x`, from a map of the finer
/// mode) selects its top-level test: one pattern cannot name subtests of
/// some tests and not of others.
pub fn go_run(sel: &Selection) -> String {
    if !sel.all.is_empty() {
        return ".*".into();
    }
    if sel.tests.is_empty() {
        return "^$".into();
    }
    let mut names: Vec<String> = Vec::new();
    for t in &sel.tests {
        let top = covcore::testmap::regex_quote(t.split('/').next().unwrap_or(t));
        if !names.contains(&top) {
            names.push(top);
        }
    }
    format!("^({})$", names.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_run_names_top_level_tests() {
        let sel = |tests: &[&str]| Selection {
            tests: tests.iter().map(|t| t.to_string()).collect(),
            ..Selection::default()
        };
        assert_eq!(go_run(&sel(&[])), "^$");
        assert_eq!(go_run(&sel(&["TestA", "TestB.x"])), r"^(TestA|TestB\.x)$");
        assert_eq!(
            go_run(&sel(&["TestA/one", "TestA/two", "TestC"])),
            "^(TestA|TestC)$"
        );
    }
}
