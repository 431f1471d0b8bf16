//! The command line of `covtools cover`: a flag for every key of
//! `covtools.toml` (resolved in settings.rs), `--set` for any key.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::ModuleArgs;
use crate::docker_images::LOCAL_BASE_IMAGE;

// Every line under 80 columns: clap wraps longer ones, which would break a
// copied example (a test checks it).
const AFTER_HELP: &str = "\
The module is the nearest folder upward holding covtools.toml, else go.mod
(--module DIR elsewhere); its configuration is <module>/covtools.toml.
Every setting in it can be given on the command line: the options above, or
--set KEY=VALUE for any key (service.NAME.KEY for one service), e.g.
  --set gates.min=80 --set service.orders.ready=/healthz

Placeholders, in a service's args and env and in the tests' command, args
and env: {addr} (the service's listen address), {host} and {port} (its
parts, for services that take a bare port: -port {port}, PORT={port}),
{url:NAME} (service NAME's base URL), {host:NAME} and {port:NAME} (its
parts, as the tests reach it). {{ and }} are literal braces:
  sh -c 'go test ./e2e -port ${{PORT}}'

Runtimes:
  docker  (default) each service in a container on a private network
          <prefix>-net, named <prefix>-<service>, its port published on
          127.0.0.1 (readiness checks and host-run tests use it). The test
          program runs in a container on that network (tests.run_in =
          \"container\", the default), on the host (\"host\"), or in a
          service's own container (\"service:NAME\": for a service that
          listens on loopback only).
  local   the same test binaries as local processes through
          docker/cover-wrapper.sh, each with its own cover directory under
          <work>/local and free loopback ports; no Docker needed.
  swarm   each service as a Docker Swarm service of `replicas` tasks on
          this node (the engine must be a manager: `docker swarm init`),
          on an attachable overlay network <prefix>-net; each replica's
          port published on the node, {url:NAME} from the host is the
          first one's, tests on the network reach all of them by name.
          Each task slot keeps its cover directory in a volume, so a
          replaced task's profiles are collected too (test build kind).
  compose the module's compose file as written (docker compose, else
          docker-compose), each [[service]] (a compose service) run from
          its instrumented image through a generated override file, the
          other services (databases, caches) as the file says; project
          <prefix>-<pid>, removed as `down -v --remove-orphans` would.
With --push REGISTRY[/NAMESPACE] the images are also tagged
REGISTRY/NAMESPACE/<service>:<tag> and pushed (<out>/pushed-images.txt).
Tests run on the host run in the module root, with the Go covtools uses
(the one it installed into ~/.cache/covtools, if it did)
first on their PATH, so `go test ./e2e/...` works as a test command.

Collection, as a shell would run it (the summary prints the exact line):
  covkill TARGETS | covpull --out <out>/profiles \\
    | covmerge -o <out>/merged.cov
  covtotal --by package --src <module> [--min …] \\
    [--baseline … --max-drop …] <out>/merged.cov
  covreport --format lcov|cobertura|html|markdown|badge … next to merged.cov
The total is counted like `go tool cover -func` (covtotal --src). The tools
are the ones beside this program (cargo install puts them there), else on
PATH, or --tools DIR. Results go to <module>/.covtools (--out DIR).

Containers, services, volumes, the network and processes are always
removed (unless --keep); the service images are kept, so that the next
run reuses their layers (--rm-images removes them).

Exit codes: 0 ok; 1 the tests failed or a gate failed (coverage is still
collected and reported); 2 an error (after teardown); 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM). Either signal tears everything down; a
second one kills at once.

Examples:
  covtools cover
  covtools cover --runtime local --min 70
  covtools cover --baseline main.cov --max-drop 0.5
  covtools cover --module ../orders --runtime local
  covtools cover --runtime local -- \\
    sh -c 'curl -fsS $COVTOOLS_URL_GATEWAY/healthz'";

#[derive(clap::Parser, Debug, Clone, Default)]
#[command(
    name = "cover",
    about = "Build the Go services with coverage, run them, run the integration tests, collect, merge and gate coverage",
    after_help = AFTER_HELP
)]
pub struct Args {
    #[command(flatten)]
    pub module: ModuleArgs,
    /// Override any configuration key (repeatable): gates.min=80,
    /// service.orders.ready=/healthz, tests.args=["-gateway","{url:gateway}"].
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
    /// docker, local, swarm or compose [default: run.runtime, else docker].
    #[arg(long, value_name = "RUNTIME", value_parser = crate::config::RUNTIMES)]
    pub runtime: Option<String>,
    /// Also push the service images, tagged REGISTRY[/NAMESPACE]/<service>:<tag>;
    /// the references go to <out>/pushed-images.txt (the swarm runtime
    /// then runs them from the registry).
    #[arg(long, value_name = "REGISTRY[/NAMESPACE]")]
    pub push: Option<String>,
    /// The pushed images' tag [default: the module's short git commit, plus
    /// the image's content hash if the module has uncommitted changes; else
    /// a content hash of the image's build context].
    #[arg(long, value_name = "TAG", requires = "push")]
    pub tag: Option<String>,
    /// The compose runtime's compose file, relative to the module
    /// (repeatable, as Compose's -f) [default: run.compose_file, else the
    /// first of compose.yaml, compose.yml, docker-compose.yaml,
    /// docker-compose.yml].
    #[arg(long = "compose-file", value_name = "FILE")]
    pub compose_files: Vec<PathBuf>,
    /// The base image [default: image.base]. `local` builds a FROM-scratch
    /// busybox image (--local-base-tag) and uses it: no registry needed.
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// The tag `--base local` builds.
    #[arg(long, value_name = "TAG", default_value = LOCAL_BASE_IMAGE)]
    pub local_base_tag: String,
    /// Prefix of the containers (<prefix>-<service>), the network
    /// (<prefix>-net) and the images (<prefix>/<service>:latest)
    /// [default: covtools-<module dir>]. What an ended run left under it is
    /// removed; a run still going under it on this host is an error.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Where the profiles, the merged profile, the reports and the logs go
    /// [default: <module>/.covtools].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where binaries, image contexts and local cover directories go
    /// [default: <module>/.covtools/work].
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// The directory holding covkill, covpull, covmerge, covtotal and
    /// covreport [default: beside this program, else on PATH].
    #[arg(long, value_name = "DIR")]
    pub tools: Option<PathBuf>,
    /// Build kind: test (go test -c, profiles when stopped) or cover (go build
    /// -cover of the real main, live snapshots; needed by [[tests]] phases)
    /// [default: build.kind, else test].
    #[arg(long, value_name = "KIND")]
    pub build_kind: Option<String>,
    /// -covermode: set, count or atomic [default: build.cover_mode].
    #[arg(long, value_name = "MODE")]
    pub cover_mode: Option<String>,
    /// -coverpkg pattern [default: build.cover_packages, else <module>/...].
    #[arg(long, value_name = "PATTERN")]
    pub cover_packages: Option<String>,
    /// The killswitch port inside the containers [default: image.killswitch_port].
    #[arg(long, value_name = "PORT")]
    pub killswitch_port: Option<u16>,
    /// A service's readiness (repeatable): NAME=/PATH (an HTTP GET answering
    /// 2xx) or NAME=port (its port accepting connections).
    #[arg(long = "ready", value_name = "NAME=/PATH|port", value_parser = parse_key_value)]
    pub ready: Vec<(String, String)>,
    /// How long each service may take to become ready, e.g. 60s, 500ms
    /// [default: run.ready_timeout, else 60s].
    #[arg(long, value_name = "DURATION", value_parser = covtarget::parse_duration)]
    pub ready_timeout: Option<Duration>,
    /// Run this Go main package of the module as the tests [default: tests.package].
    #[arg(long, value_name = "PACKAGE")]
    pub test_package: Option<String>,
    /// One more argument for the tests (repeatable), e.g. --test-arg=-skip --test-arg=stock.
    #[arg(long = "test-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub test_args: Vec<String>,
    /// Where a test package runs under Docker: container, host or
    /// service:NAME (in that service's container) [default: tests.run_in,
    /// else container].
    #[arg(long, value_name = "WHERE")]
    pub tests_in: Option<String>,
    /// Coverage per test, in <out>/test-map.json: a `go test` command runs
    /// its top-level tests one at a time (with =subtests, each subtest alone
    /// too); other tests mark each test's start and end at
    /// $COVTOOLS_TESTS_URL [default: tests.per_test]. Needs build kind
    /// cover.
    #[arg(
        long,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "tests"
    )]
    pub per_test: Option<String>,
    /// Minimum total coverage, percent [default: gates.min].
    #[arg(long, value_name = "PERCENT")]
    pub min: Option<f64>,
    /// A baseline profile or percent file to compare with [default: gates.baseline].
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// The largest allowed drop from the baseline, points [default: gates.max_drop, else 0].
    #[arg(long, value_name = "POINTS")]
    pub max_drop: Option<f64>,
    /// Diff coverage since the merge-base with this git ref (the module is
    /// in a git checkout) [default: gates.diff_base].
    #[arg(long, value_name = "REF")]
    pub diff_base: Option<String>,
    /// Minimum diff coverage, percent [default: gates.diff_min].
    #[arg(long, value_name = "PERCENT")]
    pub diff_min: Option<f64>,
    /// The reports written next to merged.cov, comma-separated: lcov,
    /// cobertura, html, markdown, badge, or none [default: report.formats,
    /// else all].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub reports: Option<Vec<String>>,
    /// Leave the containers, network and processes running (for debugging);
    /// the summary prints how to remove them.
    #[arg(long)]
    pub keep: bool,
    /// Remove the run's service images at the end (they are kept by
    /// default: the next run reuses their layers and builds in a second).
    #[arg(long, conflicts_with = "keep")]
    pub rm_images: bool,
    /// Builds at once [default: the number of CPUs, at least 2].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Progress display: auto (bars on a terminal), bars or plain.
    #[arg(long, value_name = "STYLE", default_value = "auto", value_parser = ["auto", "bars", "plain"])]
    pub progress: String,
    /// A test command run on the host (in the module root, Go first on
    /// PATH) instead of the configured tests; its arguments may use
    /// {url:NAME}, and $COVTOOLS_URL_<NAME> holds each service's URL.
    #[arg(last = true, value_name = "COMMAND")]
    pub test_command: Vec<String>,
}

impl Args {
    /// The `--help` text at a terminal width (tests check its examples).
    pub fn help(width: usize) -> String {
        use clap::CommandFactory;
        Args::command()
            .term_width(width)
            .render_long_help()
            .to_string()
    }

    /// Parses the task's arguments (without the program name), as
    /// `covtools cover ARGS…` would.
    pub fn parse_from_args<I, T>(args: I) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        Args::try_parse_from(
            std::iter::once(std::ffi::OsString::from("cover"))
                .chain(args.into_iter().map(Into::into)),
        )
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?}: expected KEY=VALUE")),
    }
}
