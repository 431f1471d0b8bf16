//! `covtools build`: builds each Go service of a module with
//! coverage, in one of two kinds, never writing into the service's tree:
//!
//! - `test` (default): a test binary, `go test -c -cover`, with the harness
//!   (tools/harness/covtools_harness_test.go) injected into its package main
//!   through `-overlay`; it writes a text profile when stopped.
//! - `cover`: the real main, `go build -cover`, from a copy of the module in
//!   which one file of package main imports the harness package
//!   (tools/harness/cover/, a module of its own outside -coverpkg); it writes
//!   Go's binary coverage into GOCOVERDIR and, in atomic mode, takes live
//!   snapshots. (`-overlay` cannot add that file: the cover tool opens the
//!   files of an instrumented package by their path.)
//!
//! The harness sources are embedded in this binary, so a covtools built in one
//! checkout never reads another checkout's files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use covcore::process::{process, ProcessBuilder};

use crate::config::{self, Config, ModuleArgs};
use crate::toolchain;

/// The harness's file name in the service package (and in the repo).
pub const HARNESS_FILE: &str = "covtools_harness_test.go";
/// The harness's test, selected with `-test.run`.
pub const HARNESS_TEST: &str = "TestCovtoolsHarness";
mod kind;

use kind::{check_go_version, prepare_cover_copy};
pub use kind::{
    BuildKind, HARNESS_COVER_GO_MOD, HARNESS_COVER_IMPORT_FILE, HARNESS_COVER_MODULE,
    HARNESS_COVER_SOURCE,
};

/// The test kind's harness, embedded (tools/harness/covtools_harness_test.go).
pub const HARNESS_TEST_SOURCE: &str =
    include_str!("../../../../tools/harness/covtools_harness_test.go");
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub module: ModuleArgs,
    /// Where the <service>.test binaries go [default: <module>/.covtools/work/bin].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// test (go test -c, a text profile at stop) or cover (go build -cover of
    /// the real main, live snapshots) [default: build.kind, else test].
    #[arg(long, value_name = "KIND")]
    pub kind: Option<BuildKind>,
    /// -covermode: set, count or atomic (default: from the configuration,
    /// else count; atomic for the cover kind).
    #[arg(long, value_name = "MODE")]
    pub cover_mode: Option<String>,
    /// -coverpkg pattern (default: from the configuration, else <module path>/...).
    #[arg(long, value_name = "PATTERN")]
    pub cover_packages: Option<String>,
    /// Build only this service (repeatable).
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// Builds run at once (default: the number of CPUs, at least 2).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
}

/// What runs the service in the built binary, and so how it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Harness {
    /// covtools' own harness (embedded in this binary) for the build kind.
    Covtools(BuildKind),
    /// A harness test file given by path, injected like covtools' own (test kind).
    Injected(PathBuf),
    /// The service's own hand-written harness test (e.g. `TestRun`; test kind).
    Own(String),
}

impl Harness {
    pub fn kind(&self) -> BuildKind {
        match self {
            Harness::Covtools(kind) => *kind,
            Harness::Injected(_) | Harness::Own(_) => BuildKind::Test,
        }
    }
}

/// One service to build.
#[derive(Debug, Clone)]
pub struct ServiceBuild {
    pub name: String,
    /// The main package, as `go` takes it (`./cmd/orders`), from the module root.
    pub package: String,
    pub harness: Harness,
}

/// Everything a build needs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub go: PathBuf,
    pub module_dir: PathBuf,
    pub out_dir: PathBuf,
    pub cover_mode: String,
    pub cover_packages: String,
    pub services: Vec<ServiceBuild>,
    pub jobs: usize,
}

/// A built test binary.
#[derive(Debug, Clone)]
pub struct Built {
    pub name: String,
    pub binary: PathBuf,
    /// The test to select with `-test.run` (`TestCovtoolsHarness` unless the
    /// service has its own harness).
    pub test: String,
    /// True for the injected harness: the service's arguments go after `--`.
    pub injected: bool,
    pub kind: BuildKind,
    pub elapsed: Duration,
}

/// The default output directory for a module's binaries:
/// `<module>/.covtools/work/bin`.
pub fn default_out_dir(module_dir: &Path) -> PathBuf {
    crate::config::work_dir(module_dir).join("bin")
}

/// A short name for a module directory (its last component).
pub fn module_label(module_dir: &Path) -> String {
    let abs = std::path::absolute(module_dir).unwrap_or_else(|_| module_dir.to_path_buf());
    abs.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .next_back()
        .unwrap_or_else(|| "module".into())
}

impl BuildOptions {
    /// Options for the services of a configuration (all of them).
    pub fn from_config(config: &Config, go: PathBuf, out_dir: PathBuf) -> BuildOptions {
        let services = config
            .services
            .iter()
            .map(|s| ServiceBuild {
                name: s.name.clone(),
                package: s.package.clone(),
                harness: match &s.harness_test {
                    Some(t) => Harness::Own(t.clone()),
                    None => Harness::Covtools(config.build.kind),
                },
            })
            .collect();
        BuildOptions {
            go,
            module_dir: config.module_dir.clone(),
            out_dir,
            cover_mode: config.build.cover_mode.clone(),
            cover_packages: config.cover_packages(),
            services,
            jobs: default_jobs(),
        }
    }
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let go = toolchain::ensure_go()?;
    let module_dir = args.module.dir()?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&module_dir));
    crate::config::create_output_dir(&module_dir, &out_dir)?;
    let mut opts = options_for(&go, &module_dir, args.module.config.as_deref(), out_dir)?;
    if let Some(kind) = args.kind {
        for svc in &mut opts.services {
            if let Harness::Covtools(k) = &mut svc.harness {
                *k = kind;
            }
        }
        if args.cover_mode.is_none() {
            opts.cover_mode = kind.default_cover_mode().into();
        }
    }
    if let Some(mode) = args.cover_mode {
        opts.cover_mode = mode;
    }
    if let Some(p) = args.cover_packages {
        opts.cover_packages = p;
    }
    if let Some(j) = args.jobs {
        opts.jobs = j.max(1);
    }
    opts.services = select(opts.services, &args.services, |s| &s.name)?;
    for built in build_services(&opts)? {
        println!("{}", built.binary.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Build options for a module: from its configuration file when there is
/// one, else every main package of the module.
pub fn options_for(
    go: &Path,
    module_dir: &Path,
    config: Option<&Path>,
    out_dir: PathBuf,
) -> anyhow::Result<BuildOptions> {
    let file = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| module_dir.join(config::CONFIG_FILE));
    if config.is_some() || file.is_file() {
        let mut config = Config::load_file(&file)?;
        config.module_dir = module_dir.to_path_buf();
        return Ok(BuildOptions::from_config(
            &config,
            go.to_path_buf(),
            out_dir,
        ));
    }
    let module_path = config::module_path(module_dir)?;
    let services = main_packages(go, module_dir)?
        .into_iter()
        .map(|(name, package)| ServiceBuild {
            name,
            package,
            harness: Harness::Covtools(BuildKind::Test),
        })
        .collect();
    Ok(BuildOptions {
        go: go.to_path_buf(),
        module_dir: module_dir.to_path_buf(),
        out_dir,
        cover_mode: "count".into(),
        cover_packages: format!("{module_path}/..."),
        services,
        jobs: default_jobs(),
    })
}

/// Keeps the items named in `wanted` (all when it is empty); an unknown
/// name is an error listing the known ones.
pub fn select<T>(
    items: Vec<T>,
    wanted: &[String],
    name: impl Fn(&T) -> &String,
) -> anyhow::Result<Vec<T>> {
    if wanted.is_empty() {
        return Ok(items);
    }
    for w in wanted {
        if !items.iter().any(|i| name(i) == w) {
            let known: Vec<_> = items.iter().map(|i| name(i).as_str()).collect();
            bail!("no service {w:?} (services: {})", known.join(", "));
        }
    }
    Ok(items
        .into_iter()
        .filter(|i| wanted.contains(name(i)))
        .collect())
}

/// The main packages of a module as (name, ./relative/dir), named after
/// their directory.
fn main_packages(go: &Path, module_dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let out = go_command(go, module_dir)
        .args(["list", "-f", "{{.Name}} {{.Dir}}", "./..."])
        .output()
        .with_context(|| format!("go list ./... in {}", module_dir.display()))?;
    let root = std::fs::canonicalize(module_dir)?;
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(("main", dir)) = line.split_once(' ') else {
            continue;
        };
        let dir = Path::new(dir);
        let rel = dir.strip_prefix(&root).unwrap_or(dir);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "main".into());
        found.push((name, format!("./{}", rel.display())));
    }
    if found.is_empty() {
        bail!("{}: no main packages to build", module_dir.display());
    }
    Ok(found)
}

/// A `go` command run in the module with the settings every build uses:
/// static binaries (they run in any base image, scratch included).
fn go_command(go: &Path, module_dir: &Path) -> ProcessBuilder {
    let mut cmd = process(go);
    cmd.dir(module_dir).env("CGO_ENABLED", "0");
    toolchain::go_env(&mut cmd);
    cmd
}

/// Builds every service of `opts`, `opts.jobs` at a time. All builds run even
/// when one fails; the error then carries each failure with the Go
/// compiler's own message.
pub fn build_services(opts: &BuildOptions) -> anyhow::Result<Vec<Built>> {
    if !opts.go.is_file() {
        bail!(
            "go: {} not found (install Go, or put `go` on PATH)",
            opts.go.display()
        );
    }
    if !["set", "count", "atomic"].contains(&opts.cover_mode.as_str()) {
        bail!(
            "cover mode {:?}: expected set, count or atomic",
            opts.cover_mode
        );
    }
    check_go_version(&opts.go, &opts.module_dir)?;
    std::fs::create_dir_all(opts.out_dir.join(".overlay"))
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let dirs = package_dirs(opts)?;
    let cover_copy = if opts
        .services
        .iter()
        .any(|s| s.harness.kind() == BuildKind::Cover)
    {
        Some(prepare_cover_copy(opts, &dirs)?)
    } else {
        None
    };
    let started = Instant::now();
    crate::note!(
        "covtools build: building {} service(s) in {} with -covermode={} -coverpkg={}",
        opts.services.len(),
        opts.module_dir.display(),
        opts.cover_mode,
        opts.cover_packages
    );
    let jobs: Vec<(&ServiceBuild, PathBuf)> = opts.services.iter().zip(dirs).collect();
    let results = covcore::pool::map(&jobs, opts.jobs.max(1), |(svc, dir)| {
        let result = build_one(opts, svc, dir, cover_copy.as_deref());
        match &result {
            Ok(b) => crate::note!(
                "covtools build: {} -> {} ({:.1}s)",
                b.name,
                b.binary.display(),
                b.elapsed.as_secs_f64()
            ),
            Err(_) => crate::note!("covtools build: {} FAILED", svc.name),
        }
        result
    });
    let mut built = Vec::new();
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(b) => built.push(b),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} service builds failed:\n{}",
            failures.len(),
            opts.services.len(),
            failures.join("\n")
        );
    }
    crate::note!(
        "covtools build: {} binaries in {:.1}s",
        built.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(built)
}

/// The directory of each service's package, checking that it is a main
/// package (one `go list` for all).
fn package_dirs(opts: &BuildOptions) -> anyhow::Result<Vec<PathBuf>> {
    // go list prints a package once however often it is named: two services
    // may run one package with different arguments.
    let mut packages: Vec<&String> = opts.services.iter().map(|s| &s.package).collect();
    packages.sort();
    packages.dedup();
    let out = go_command(&opts.go, &opts.module_dir)
        .args([
            "list",
            "-e",
            "-f",
            "{{.Name}}\t{{.Dir}}\t{{with .Error}}{{.Err}}{{end}}",
        ])
        .args(&packages)
        .output()
        .with_context(|| format!("go list in {}", opts.module_dir.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = stdout.lines().collect();
    if listed.len() != packages.len() {
        bail!(
            "go list printed {} lines for {} packages:\n{stdout}",
            listed.len(),
            packages.len()
        );
    }
    let lines = opts.services.iter().map(|s| {
        let i = packages.iter().position(|p| *p == &s.package).unwrap();
        listed[i]
    });
    let mut dirs = Vec::new();
    for (svc, line) in opts.services.iter().zip(lines) {
        let mut parts = line.splitn(3, '\t');
        let (pkg_name, dir, err) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if !err.is_empty() {
            bail!("service {}: package {}: {err}", svc.name, svc.package);
        }
        if pkg_name != "main" {
            bail!(
                "service {}: package {} is `package {pkg_name}`, not a main package",
                svc.name,
                svc.package
            );
        }
        let dir = PathBuf::from(dir);
        let added = match svc.harness {
            Harness::Covtools(BuildKind::Cover) => Some(HARNESS_COVER_IMPORT_FILE),
            Harness::Covtools(BuildKind::Test) | Harness::Injected(_) => Some(HARNESS_FILE),
            Harness::Own(_) => None,
        };
        if let Some(file) = added.filter(|f| dir.join(f).exists()) {
            bail!(
                "service {}: {} already exists; the harness is added under that name",
                svc.name,
                dir.join(file).display()
            );
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

fn build_one(
    opts: &BuildOptions,
    svc: &ServiceBuild,
    dir: &Path,
    cover_copy: Option<&Path>,
) -> anyhow::Result<Built> {
    let started = Instant::now();
    let binary = std::path::absolute(opts.out_dir.join(format!("{}.test", svc.name)))?;
    let kind = svc.harness.kind();
    let (mut cmd, what) = match (kind, cover_copy) {
        (BuildKind::Cover, Some(copy)) => {
            let mut cmd = go_command(&opts.go, copy);
            cmd.env("GOWORK", "off").args([
                "build",
                &format!(
                    "-ldflags=-X={HARNESS_COVER_MODULE}.coverMode={}",
                    opts.cover_mode
                ),
            ]);
            (cmd, "go build -cover")
        }
        (BuildKind::Cover, None) => unreachable!("the cover kind's copy is prepared first"),
        (BuildKind::Test, _) => {
            let mut cmd = go_command(&opts.go, &opts.module_dir);
            cmd.args(["test", "-c"]);
            (cmd, "go test -c")
        }
    };
    let (test, injected) = match &svc.harness {
        Harness::Covtools(BuildKind::Cover) => (String::new(), false),
        Harness::Covtools(BuildKind::Test) | Harness::Injected(_) => {
            let source = std::path::absolute(
                opts.out_dir
                    .join(".overlay")
                    .join(format!("{}.{HARNESS_FILE}", svc.name)),
            )?;
            match &svc.harness {
                Harness::Injected(file) => std::fs::copy(file, &source)
                    .map(drop)
                    .with_context(|| format!("service {}: harness {}", svc.name, file.display()))?,
                _ => std::fs::write(&source, HARNESS_TEST_SOURCE)
                    .with_context(|| format!("writing {}", source.display()))?,
            }
            let overlay = std::path::absolute(
                opts.out_dir
                    .join(".overlay")
                    .join(format!("{}.json", svc.name)),
            )?;
            let replace = Overlay {
                replace: BTreeMap::from([(
                    dir.join(HARNESS_FILE).to_string_lossy().into_owned(),
                    source.to_string_lossy().into_owned(),
                )]),
            };
            let body = format!("{}\n", serde_json::to_string(&replace)?);
            std::fs::write(&overlay, body)
                .with_context(|| format!("writing {}", overlay.display()))?;
            cmd.arg(format!("-overlay={}", overlay.display()));
            (HARNESS_TEST.to_string(), true)
        }
        Harness::Own(test) => (test.clone(), false),
    };
    cmd.arg("-cover")
        .arg(format!("-covermode={}", opts.cover_mode))
        .arg(format!("-coverpkg={}", opts.cover_packages))
        .arg("-o")
        .arg(&binary)
        .arg(&svc.package);
    cmd.output()
        .with_context(|| format!("building {} ({}) failed", svc.name, svc.package))?;
    if !binary.is_file() {
        bail!(
            "building {} ({}): {what} wrote no {}; does the package have any code?",
            svc.name,
            svc.package,
            binary.display()
        );
    }
    Ok(Built {
        name: svc.name.clone(),
        binary,
        test,
        injected,
        kind,
        elapsed: started.elapsed(),
    })
}

/// `go build -overlay`'s file: `{"Replace": {"<file the build sees>":
/// "<file read>"}}`.
#[derive(serde::Serialize)]
struct Overlay {
    #[serde(rename = "Replace")]
    replace: BTreeMap<String, String>,
}

/// Builds a plain static Go program of the module (e.g. the integration-test
/// program) to `out`.
pub fn build_program(
    go: &Path,
    module_dir: &Path,
    package: &str,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let out = std::path::absolute(out)?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    go_command(go, module_dir)
        .args(["build", "-o"])
        .arg(&out)
        .arg(package)
        .output()
        .with_context(|| format!("go build {package}"))?;
    Ok(out)
}
