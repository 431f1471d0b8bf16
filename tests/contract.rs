//! The contract written once: covcore::contract holds every port, directory,
//! file name, HTTP path and environment variable that the Rust tools share
//! with the Go harness, the image's entrypoint (the wrapper), covtarget's
//! in-container scripts and the Dockerfile template. Those files cannot
//! import it, so each test here reads one of them and checks every shared
//! value it spells against the constants.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use covcore::contract;

use crate::util::project_root;

/// Every environment variable of the contract.
const ENV: &[&str] = &[
    contract::ENV_KILLSWITCH_ADDR,
    contract::ENV_GRACE,
    contract::ENV_COVER_DIR,
    contract::ENV_COVER_BIN,
    contract::ENV_COVER_KIND,
    contract::ENV_RESTART,
    contract::ENV_COVER_TEST,
    contract::ENV_MIN_UPTIME,
    contract::ENV_BACKOFF_MAX,
];

/// The first of `candidates` (paths from the repository root) that exists,
/// read: files being moved live at one of two places for a while.
fn read_first(candidates: &[&str]) -> (PathBuf, String) {
    let root = project_root();
    let path = candidates
        .iter()
        .map(|c| root.join(c))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("none of {candidates:?} exists"));
    let text = fs::read_to_string(&path).unwrap();
    (path, text)
}

/// Every file under the first existing directory of `candidates` (its
/// subdirectories included) ending in `.ext`, read, in path order.
fn read_dir_first(candidates: &[&str], ext: &str) -> Vec<(PathBuf, String)> {
    let root = project_root();
    let dir = candidates
        .iter()
        .map(|c| root.join(c))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("none of {candidates:?} exists"));
    let mut files = Vec::new();
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == ext) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no .{ext} file in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The words of `text` that name one of our environment variables
/// (`COVKILL_*`, `COVER_*`; Go's own GOCOVERDIR is not one).
fn env_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("COVKILL_") || w.starts_with("COVER_"))
        .map(str::to_string)
        .collect()
}

fn assert_known_env_names(path: &Path, text: &str) {
    for name in env_names(text) {
        assert!(
            ENV.contains(&name.as_str()),
            "{}: {name} is not in covcore::contract (add an ENV_ constant there)",
            path.display()
        );
    }
}

/// The shell defaults `${NAME:-default}` of `text`, as (name, default).
fn shell_defaults(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let Some((name, after)) = rest.split_once(":-") else {
            break;
        };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        // The default ends at its closing brace; it may itself be `${…}`.
        let default = match after.strip_prefix("${") {
            Some(_) => continue,
            None => after.split('}').next().unwrap_or_default(),
        };
        found.push((name.to_string(), default.to_string()));
    }
    found
}

/// The shell defaults of the cover directory and killswitch address in
/// `text` (each at least once) are the contract's.
fn assert_shell_defaults(path: &Path, text: &str) {
    let defaults = shell_defaults(text);
    let addr = format!(":{}", contract::KILLSWITCH_PORT);
    for (name, want) in [
        (contract::ENV_COVER_DIR, contract::COVER_DIR),
        (contract::ENV_KILLSWITCH_ADDR, addr.as_str()),
    ] {
        let got = defaults
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>();
        assert!(
            !got.is_empty(),
            "{}: no ${{{name}:-…}} default",
            path.display()
        );
        assert!(
            got.iter().all(|d| *d == want),
            "{}: ${{{name}:-…}} defaults {got:?}, the contract says {want:?}",
            path.display()
        );
    }
}

/// A shell script that finds complete profiles spells their name as the
/// contract does: the glob `cover-*.out`, and the number cut out between
/// the prefix and the suffix.
fn assert_profile_names(path: &Path, text: &str) {
    let (prefix, suffix) = (contract::PROFILE_PREFIX, contract::PROFILE_SUFFIX);
    let glob = format!("{prefix}*{suffix}");
    assert!(
        text.contains(&glob),
        "{}: no {glob} glob (covcore::contract::profile_name)",
        path.display()
    );
    assert!(
        text.contains(&format!("%{suffix}}}")),
        "{}: the profile number is not cut before {suffix:?}",
        path.display()
    );
    assert!(
        text.contains(&format!("/{prefix}}}")) || text.contains(&format!("#{prefix}}}")),
        "{}: the profile number is not cut after {prefix:?}",
        path.display()
    );
    // No other spelling of a profile name (e.g. `cover-*.txt`).
    for (i, _) in text.match_indices(&format!("{prefix}*")) {
        assert!(
            text[i..].starts_with(&glob),
            "{}: a profile glob other than {glob}: {:?}",
            path.display(),
            &text[i..(i + 16).min(text.len())]
        );
    }
}

#[test]
fn harness_speaks_the_contract() {
    // Subdirectories included: the cover kind's harness is tools/harness/cover/.
    let harnesses = read_dir_first(&["tools/harness"], "go");
    // Each build kind's harness answers the killswitch with the header, and
    // one of them at least serves the snapshot paths.
    for (path, text) in &harnesses {
        // Every kind answers the snapshot path (the test kind with its 501),
        // and lists and serves its cover directory (the exec-free stop).
        for must in [
            contract::KILL_PATH,
            contract::SNAPSHOT_PATH,
            contract::LIST_PATH,
            contract::FILES_PATH,
            contract::HARNESS_HEADER,
        ] {
            assert!(
                text.contains(&format!("\"{must}\"")),
                "{}: never spells \"{must}\"",
                path.display()
            );
        }
    }
    for must in [
        contract::FLUSH_PATH,
        contract::SNAPSHOT_PATH,
        contract::RESET_PATH,
    ] {
        assert!(
            harnesses
                .iter()
                .any(|(_, text)| text.contains(&format!("\"{must}\""))),
            "no harness serves {must}"
        );
    }
    for (path, text) in &harnesses {
        let (path, text) = (path.as_path(), text.as_str());
        assert_known_env_names(path, text);
        for name in [contract::ENV_KILLSWITCH_ADDR, contract::ENV_GRACE] {
            assert!(
                text.contains(&format!("\"{name}\"")),
                "{}: does not read {name}",
                path.display()
            );
        }
        // Every quoted ":port" is the killswitch's default address.
        let addr = format!("\":{}\"", contract::KILLSWITCH_PORT);
        let ports = text
            .match_indices("\":")
            .map(|(i, _)| &text[i..])
            .filter_map(|t| {
                let end = t[2..].find('"')? + 3;
                let lit = &t[..end];
                let port = &lit[2..lit.len() - 1];
                (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(lit)
            })
            .collect::<Vec<_>>();
        assert!(
            !ports.is_empty() && ports.iter().all(|p| *p == addr),
            "{}: killswitch address literals {ports:?}, the contract says {addr}",
            path.display()
        );
        // Every covtools HTTP path it spells is one of the contract's, and the
        // answer header is spelled as the contract spells it.
        let paths = [
            contract::KILL_PATH,
            contract::FLUSH_PATH,
            contract::SNAPSHOT_PATH,
            contract::RESET_PATH,
            contract::LIST_PATH,
            contract::FILES_PATH,
        ];
        for (i, _) in text.match_indices("\"/cov") {
            let lit = text[i + 1..].split('"').next().unwrap();
            assert!(
                paths.contains(&lit),
                "{}: HTTP path {lit:?} is not in covcore::contract ({paths:?})",
                path.display()
            );
        }
        let header = contract::HARNESS_HEADER.to_ascii_lowercase();
        for (i, _) in text.to_ascii_lowercase().match_indices(&header) {
            assert_eq!(
                &text[i..i + header.len()],
                contract::HARNESS_HEADER,
                "{}: the harness header spelled otherwise",
                path.display()
            );
        }
    }
}

#[test]
fn wrapper_speaks_the_contract() {
    let (path, text) = read_first(&["docker/cover-wrapper.sh", "scripts/cover-wrapper.sh"]);
    assert_known_env_names(&path, &text);
    assert_shell_defaults(&path, &text);
    assert_profile_names(&path, &text);
    for name in [
        contract::ENV_COVER_BIN,
        contract::ENV_RESTART,
        contract::ENV_COVER_TEST,
        contract::ENV_MIN_UPTIME,
        contract::ENV_BACKOFF_MAX,
    ] {
        assert!(
            text.contains(&format!("${{{name}")),
            "{}: does not read {name}",
            path.display()
        );
    }
    // The harness reads the killswitch address the wrapper sets.
    assert!(
        text.contains(&format!("export {}", contract::ENV_KILLSWITCH_ADDR)),
        "{}: does not export {}",
        path.display(),
        contract::ENV_KILLSWITCH_ADDR
    );
}

/// The covtools HTTP paths a shell script spells (`/covkill`,
/// `/covtools/flush`…; the cover directory `/cover…` and the names of Go's
/// files in it, `…/covcounters.*`, are not).
fn shell_http_paths(text: &str) -> Vec<&str> {
    text.match_indices("/cov")
        .map(|(i, _)| {
            let len = text[i + 1..]
                .find(|c: char| !(c.is_ascii_lowercase() || c == '/'))
                .map_or(text.len() - i, |n| n + 1);
            &text[i..i + len]
        })
        .filter(|p| {
            let file = |prefix: &str| p[1..].starts_with(prefix.trim_end_matches('.'));
            !(p.starts_with(contract::COVER_DIR)
                || file(contract::COVCOUNTERS_PREFIX)
                || file(contract::COVMETA_PREFIX))
        })
        .collect()
}

/// `[Cc][Oo]…`: a shell pattern matching `word` in any case.
fn any_case_pattern(word: &str) -> String {
    word.chars()
        .map(|c| match (c.to_ascii_uppercase(), c.to_ascii_lowercase()) {
            (u, l) if u != l => format!("[{u}{l}]"),
            _ => c.to_string(),
        })
        .collect()
}

#[test]
fn in_container_scripts_speak_the_contract() {
    let scripts = read_dir_first(&["tools/covtarget/src/sh", "tools/target/src/sh"], "sh");
    // ask.sh, where present, is the prelude of the others (covtarget
    // concatenates them): it asks the harness and knows its header.
    let prelude = scripts
        .iter()
        .find(|(p, _)| p.ends_with("ask.sh"))
        .map_or("", |(_, text)| text.as_str());
    if !prelude.is_empty() {
        let header = format!("*{}:*", any_case_pattern(contract::HARNESS_HEADER));
        assert!(
            prelude.contains(&header),
            "ask.sh does not tell the harness by its {} header ({header})",
            contract::HARNESS_HEADER
        );
    }
    let paths = [
        contract::KILL_PATH,
        contract::FLUSH_PATH,
        contract::RESET_PATH,
    ];
    for (path, text) in &scripts {
        assert_known_env_names(path, text);
        for p in shell_http_paths(text) {
            assert!(
                paths.contains(&p),
                "{}: HTTP path {p:?} is not in covcore::contract ({paths:?})",
                path.display()
            );
        }
        if path.ends_with("ask.sh") {
            continue;
        }
        assert_profile_names(path, text);
        assert!(
            shell_defaults(text)
                .iter()
                .any(|(n, d)| n == contract::ENV_COVER_DIR && d == contract::COVER_DIR),
            "{}: no ${{{}:-{}}}",
            path.display(),
            contract::ENV_COVER_DIR,
            contract::COVER_DIR
        );
    }
    let (path, kill) = scripts
        .iter()
        .find(|(p, _)| p.ends_with("kill.sh"))
        .expect("covkill's kill.sh");
    assert_shell_defaults(path, kill);
    assert!(
        shell_http_paths(kill).contains(&contract::KILL_PATH),
        "{}: never spells {}",
        path.display(),
        contract::KILL_PATH
    );
}

#[test]
fn dockerfile_template_speaks_the_contract() {
    let (path, text) = read_first(&["docker/Dockerfile.template"]);
    assert_known_env_names(&path, &text);
    let env = text
        .lines()
        .find_map(|l| l.strip_prefix("ENV "))
        .unwrap_or_else(|| panic!("{}: no ENV line", path.display()));
    for (name, want) in [
        (
            contract::ENV_COVER_DIR,
            format!("\"{}\"", contract::COVER_DIR),
        ),
        // The port is the service's setting (default the contract's), so
        // the template leaves it to a field.
        (
            contract::ENV_KILLSWITCH_ADDR,
            "\":{{KILLSWITCH_PORT}}\"".to_string(),
        ),
    ] {
        let set = format!("{name}={want}");
        assert!(
            env.contains(&set),
            "{}: the ENV line does not set {set}",
            path.display()
        );
    }
    let volume = format!("VOLUME [\"{}\"]", contract::COVER_DIR);
    assert!(
        text.lines().any(|l| l == volume),
        "{}: the cover directory is not declared a volume ({volume})",
        path.display()
    );
    assert!(
        env.contains(&format!("{}=", contract::ENV_COVER_BIN)),
        "{}: the ENV line does not set {}",
        path.display(),
        contract::ENV_COVER_BIN
    );
}

#[test]
fn shell_defaults_are_read_as_the_shell_reads_them() {
    assert_eq!(
        shell_http_paths(
            "d=/cover/x \"$d\"/covcounters.*; [ \"$4\" = /covkill ] # /covtools/flush,"
        ),
        ["/covkill", "/covtools/flush"]
    );
    assert_eq!(any_case_pattern("Ab-c"), "[Aa][Bb]-[Cc]");
    assert_eq!(
        shell_defaults("d=${1:-${COVER_DIR:-/cover}}\na=${COVKILL_ADDR:-:19999}"),
        [
            ("COVER_DIR".to_string(), "/cover".to_string()),
            ("COVKILL_ADDR".to_string(), ":19999".to_string()),
        ]
    );
    assert_eq!(
        env_names("# COVER_DIR, $COVKILL_ADDR; GOCOVERDIR"),
        BTreeSet::from(["COVER_DIR".to_string(), "COVKILL_ADDR".to_string()])
    );
}

/// The shop's own driver marks its checks at the per-test coordinator by
/// the contract's variable and paths.
#[test]
fn shoptest_speaks_the_per_test_contract() {
    let (path, text) = read_first(&["tests/example/cmd/shoptest/main.go"]);
    let path = path.display();
    assert!(
        text.contains(&format!("os.Getenv(\"{}\")", contract::ENV_TESTS_URL)),
        "{path}: does not read {}",
        contract::ENV_TESTS_URL
    );
    for p in [contract::TEST_START_PATH, contract::TEST_END_PATH] {
        let (dir, what) = p.rsplit_once('/').unwrap();
        assert!(
            text.contains(&format!("\"{dir}/\"+what"))
                && text.contains(&format!("mark(\"{what}\"")),
            "{path}: does not POST {p}"
        );
    }
}
