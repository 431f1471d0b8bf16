//! The contract between the Rust tools, the Go harness, the image's
//! entrypoint (docker/cover-wrapper.sh), covkill's in-container script and
//! the Dockerfile template: one definition of every port, directory, file
//! name, HTTP path and environment variable they share. The other languages
//! cannot import this module, so a test (tests/contract.rs) reads their files
//! and checks each value against the constants here.

/// The harness's killswitch port inside a container.
pub const KILLSWITCH_PORT: u16 = 19999;
/// The cover directory inside a container (the default of [`ENV_COVER_DIR`]).
pub const COVER_DIR: &str = "/cover";

/// Killswitch listen address for the harness (default `:19999`).
pub const ENV_KILLSWITCH_ADDR: &str = "COVKILL_ADDR";
/// After SIGTERM/SIGINT, how long `main()` may take before the harness writes anyway.
pub const ENV_GRACE: &str = "COVKILL_GRACE";
/// The cover directory the wrapper moves complete profiles into.
pub const ENV_COVER_DIR: &str = "COVER_DIR";
/// The instrumented binary the wrapper runs.
pub const ENV_COVER_BIN: &str = "COVER_BIN";
/// `test` (default) or `cover`: the build kind of COVER_BIN (cover: the real
/// main, run without `-test.*` flags with GOCOVERDIR set to the cover directory).
pub const ENV_COVER_KIND: &str = "COVER_KIND";
/// `always` (default) or `never`: does the wrapper start the service again?
pub const ENV_RESTART: &str = "COVER_RESTART";
/// A hand-written harness test the wrapper runs instead of the injected one.
pub const ENV_COVER_TEST: &str = "COVER_TEST";
/// Seconds under which the wrapper counts a run as a quick exit (backs off).
pub const ENV_MIN_UPTIME: &str = "COVER_MIN_UPTIME";
/// The wrapper's longest backoff between quick exits, seconds.
pub const ENV_BACKOFF_MAX: &str = "COVER_BACKOFF_MAX";

/// HTTP path of the killswitch (covkill asks this one; the harness answers it).
pub const KILL_PATH: &str = "/covkill";
/// HTTP path of a live snapshot (covkill --flush).
pub const FLUSH_PATH: &str = "/covtools/flush";
/// HTTP path of a live snapshot served over HTTP: taken as [`FLUSH_PATH`]
/// takes it, then every complete coverage file of the cover directory in
/// the answer, each framed as a line `<name> <length>\n` and its bytes
/// (covpull --flush on a local Docker engine: no exec in the container).
pub const SNAPSHOT_PATH: &str = "/covtools/snapshot";
/// HTTP path of a counter reset (covkill --reset).
pub const RESET_PATH: &str = "/covtools/reset";

/// The per-test coordinator's base URL, given to the tests of a
/// `covtools cover --per-test` run (the shop's shoptest reads it).
pub const ENV_TESTS_URL: &str = "COVTOOLS_TESTS_URL";
/// `POST <base>/test/start?name=NAME`: a test starts.
pub const TEST_START_PATH: &str = "/test/start";
/// `POST <base>/test/end?name=NAME&result=passed|failed|skipped`: it ended.
pub const TEST_END_PATH: &str = "/test/end";
/// HTTP path of the cover directory's listing, every build kind: one line
/// `<name> <length>\n` per complete coverage file, as the files are (no
/// snapshot). covkill's stop on a local Docker engine reads it before the
/// stop and from the restarted service, to see the new profile without an
/// exec. Answered 503 once the process is stopping, like [`FILES_PATH`].
pub const LIST_PATH: &str = "/covtools/list";
/// HTTP path of the cover directory's complete coverage files, every build
/// kind, as they are (no snapshot): each framed as [`SNAPSHOT_PATH`] frames
/// them. covpull reads a local engine's running containers this way. 503
/// once the process is stopping (the killswitch was hit, a signal came), so
/// that a reader never takes the ending run's answer for the next run's.
pub const FILES_PATH: &str = "/covtools/files";
/// Header every harness answer carries, so that covkill can tell the harness
/// from whatever else answers on a port given by mistake.
pub const HARNESS_HEADER: &str = "Covtools-Harness";

/// A complete text profile in the cover directory is `cover-<n>.out`, n decimal.
pub const PROFILE_PREFIX: &str = "cover-";
/// The suffix of a complete text profile.
pub const PROFILE_SUFFIX: &str = ".out";

/// Go's binary coverage files (GOCOVERDIR): one meta-data file per binary…
pub const COVMETA_PREFIX: &str = "covmeta.";
/// …and one counter file per process and write.
pub const COVCOUNTERS_PREFIX: &str = "covcounters.";

/// The file name of complete text profile number `n`.
pub fn profile_name(n: u64) -> String {
    format!("{PROFILE_PREFIX}{n}{PROFILE_SUFFIX}")
}

/// `Some(n)` when `name` is a complete text profile `cover-<n>.out`.
pub fn profile_number(name: &str) -> Option<u64> {
    let n = name
        .strip_prefix(PROFILE_PREFIX)?
        .strip_suffix(PROFILE_SUFFIX)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_round_trip() {
        assert_eq!(profile_name(12), "cover-12.out");
        assert_eq!(profile_number("cover-12.out"), Some(12));
        for bad in [
            "cover-.out",
            "cover-1a.out",
            ".cover-1.out.tmp",
            "cover-1.out.tmp",
        ] {
            assert_eq!(profile_number(bad), None, "{bad}");
        }
    }
}
