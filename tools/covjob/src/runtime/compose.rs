//! The Compose CLI, as the `compose` runtime drives it: the v2 plugin
//! (`docker compose`) where Docker has it, else the v1 `docker-compose`
//! (the one Debian ships); one project (`-p NAME -f FILE…`, run in the
//! first file's directory so `.env` and relative paths resolve as Compose
//! resolves them for its users); its containers found by Compose's own
//! labels, never by guessing names (v1 names them `p_s_1`, v2 `p-s-1`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context};
use covcore::process::{process, Captured, ProcessBuilder};

use super::docker;

/// The label Compose puts on every container, network and named volume of
/// a project.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label naming a container's compose service.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// The label numbering a service's replicas from 1.
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";

/// How long a Compose command that does not start containers may take.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// A Compose CLI found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    /// `docker` (v2 plugin) or `docker-compose`.
    pub program: PathBuf,
    /// `["compose"]` for the plugin, nothing for the standalone CLI.
    pub args: Vec<String>,
    /// How a user types it: `docker compose` or `docker-compose`.
    pub shown: String,
    /// What `version --short` printed (`1.29.2`, `2.29.1`).
    pub version: String,
}

impl Cli {
    /// The plugin when `docker compose version` answers, else
    /// `docker-compose` from PATH; an error naming both otherwise. Looked
    /// up once per process.
    pub fn detect() -> anyhow::Result<Cli> {
        static CLI: OnceLock<Result<Cli, String>> = OnceLock::new();
        CLI.get_or_init(|| find().map_err(|e| format!("{e:#}")))
            .clone()
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// `docker compose` / `docker-compose` as a command, nothing else set.
    fn command(&self) -> ProcessBuilder {
        let mut cmd = process(&self.program);
        cmd.args(&self.args);
        cmd
    }
}

fn find() -> anyhow::Result<Cli> {
    let version = |cli: &Cli| -> Option<String> {
        let mut cmd = cli.command();
        cmd.args(["version", "--short"]);
        let out = cmd.output_within(Duration::from_secs(30)).ok()?;
        out.success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    if let Ok(docker) = covtarget::docker::cli() {
        let mut plugin = Cli {
            program: docker,
            args: vec!["compose".into()],
            shown: "docker compose".into(),
            version: String::new(),
        };
        if let Some(v) = version(&plugin) {
            plugin.version = v;
            return Ok(plugin);
        }
    }
    if let Ok(program) = which::which("docker-compose") {
        let mut v1 = Cli {
            program,
            args: Vec::new(),
            shown: "docker-compose".into(),
            version: String::new(),
        };
        match version(&v1) {
            Some(v) => v1.version = v,
            None => bail!(
                "{} is on PATH but `docker-compose version` fails: repair it, or install the Compose plugin (`docker compose`)",
                v1.program.display()
            ),
        }
        return Ok(v1);
    }
    bail!(
        "no Compose CLI: neither the Docker plugin `docker compose` nor `docker-compose` is installed \
         (install one: Docker's compose plugin, or Debian's docker-compose package)"
    )
}

/// A compose project name from any text: what both CLIs accept (lowercase
/// letters, digits, `-` and `_`, starting with a letter or digit).
pub fn project_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '-',
        })
        .collect();
    let name = name.trim_start_matches(['-', '_']);
    if name.is_empty() {
        "covtools".into()
    } else {
        name.to_string()
    }
}

/// One compose project: its name, files and CLI.
#[derive(Debug, Clone)]
pub struct Project {
    pub cli: Cli,
    pub name: String,
    pub files: Vec<PathBuf>,
}

/// A container of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub service: String,
    /// Its replica number, from 1.
    pub number: u32,
}

impl Project {
    /// The directory Compose takes as the project's: the first file's.
    pub fn dir(&self) -> &Path {
        self.files[0].parent().unwrap_or(Path::new("."))
    }

    /// `CLI -p NAME -f FILE… ARGS…` in the project directory, stdin closed.
    pub fn command(&self, args: &[&str]) -> ProcessBuilder {
        let mut cmd = self.cli.command();
        cmd.args(["-p", &self.name]);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args).dir(self.dir()).stdin_null();
        cmd
    }

    /// The command line as a user would type it (for messages).
    pub fn shown(&self, args: &[&str]) -> String {
        let mut words = vec![self.cli.shown.clone(), "-p".into(), self.name.clone()];
        for f in &self.files {
            words.extend(["-f".into(), f.display().to_string()]);
        }
        words.extend(args.iter().map(|a| a.to_string()));
        words.join(" ")
    }

    /// Runs a Compose command, bounded by `timeout`.
    pub fn run(&self, args: &[&str], timeout: Duration) -> anyhow::Result<Captured> {
        self.command(args).output_within(timeout)
    }

    /// [`Project::run`]; its stdout, or an error holding Compose's own
    /// message on one line.
    pub fn run_ok(&self, args: &[&str], timeout: Duration) -> anyhow::Result<String> {
        let out = self.run(args, timeout)?;
        if out.timed_out() {
            bail!(
                "{} {}: no result within {:.0}s",
                self.cli.shown,
                args.join(" "),
                timeout.as_secs_f64()
            );
        }
        if !out.success() {
            bail!("{}", message(&String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The services of the project's files (`config --services`).
    pub fn services(&self) -> anyhow::Result<Vec<String>> {
        let out = self.run_ok(&["config", "--services"], TIMEOUT)?;
        Ok(out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    /// The files merged and interpolated, as Compose will run them
    /// (`config`, YAML).
    pub fn config(&self) -> anyhow::Result<String> {
        self.run_ok(&["config"], TIMEOUT)
    }

    /// `down -v --remove-orphans -t SECONDS`: containers, networks and
    /// volumes of the project, named and anonymous.
    pub fn down(&self, stop_timeout: Duration) -> anyhow::Result<()> {
        let t = stop_timeout.as_secs().to_string();
        self.run_ok(&["down", "-v", "--remove-orphans", "-t", &t], TIMEOUT)
            .map(drop)
            .with_context(|| format!("{} down", self.cli.shown))
    }

    /// What `down -v --remove-orphans` removes, found by the project's
    /// label and removed through the engine: every container (orphans and
    /// one-off ones too) with its anonymous volumes, then the networks and
    /// the named volumes. A few `docker` calls instead of `down`: the v1
    /// CLI spends a second starting Python before it does anything. The
    /// caller falls back to [`Project::down`] when this fails.
    pub fn remove(&self) -> anyhow::Result<()> {
        let label = format!("label={PROJECT_LABEL}={}", self.name);
        let ids = |kind: &[&str]| -> anyhow::Result<Vec<String>> {
            let mut args = kind.to_vec();
            args.extend(["-q", "--filter", &label]);
            Ok(docker::run_ok(&args)?
                .split_whitespace()
                .map(String::from)
                .collect())
        };
        let remove = |what: &[&str], ids: Vec<String>| -> anyhow::Result<()> {
            if ids.is_empty() {
                return Ok(());
            }
            let mut args = what.to_vec();
            args.extend(ids.iter().map(String::as_str));
            docker::run_ok(&args).map(drop)
        };
        remove(&["rm", "-f", "-v"], ids(&["ps", "-a"])?)?;
        remove(&["network", "rm"], ids(&["network", "ls"])?)?;
        remove(&["volume", "rm", "-f"], ids(&["volume", "ls"])?)
    }

    /// The project's containers, running or not, by its label; one-off
    /// containers (`run`) are not services' and are left out.
    pub fn containers(&self) -> anyhow::Result<Vec<Container>> {
        let format = format!(
            "{{{{.ID}}}}\t{{{{.Names}}}}\t{{{{.Label \"{SERVICE_LABEL}\"}}}}\t{{{{.Label \"{NUMBER_LABEL}\"}}}}\t{{{{.Label \"com.docker.compose.oneoff\"}}}}"
        );
        let label = format!("label={PROJECT_LABEL}={}", self.name);
        let out = docker::run_ok(&["ps", "-a", "--filter", &label, "--format", &format])?;
        let mut all: Vec<Container> = out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 5 && !f[4].eq_ignore_ascii_case("true")).then(|| Container {
                    id: f[0].to_string(),
                    name: f[1].to_string(),
                    service: f[2].to_string(),
                    number: f[3].parse().unwrap_or(1),
                })
            })
            .collect();
        all.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
        Ok(all)
    }
}

/// Compose's error output on one line: the service-level `ERROR: for S …`
/// line when there is one (v1 repeats it per container), else every line
/// but the progress ones, joined.
pub fn message(stderr: &str) -> String {
    const PROGRESS: [&str; 10] = [
        "Creating",
        "Starting",
        "Stopping",
        "Removing",
        "Recreating",
        "Attaching",
        "Network ",
        "Container ",
        "Volume ",
        "Encountered errors",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !PROGRESS.iter().any(|p| l.starts_with(p)))
        .collect();
    let squeeze = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(l) = lines.iter().rev().find(|l| l.starts_with("ERROR: for ")) {
        return squeeze(&l["ERROR: ".len()..]);
    }
    let start = lines
        .iter()
        .position(|l| l.starts_with("ERROR:") || l.starts_with("Error"));
    let text = squeeze(&lines[start.unwrap_or(0)..].join(" "));
    let text = text.strip_prefix("ERROR: ").unwrap_or(&text).to_string();
    if text.is_empty() {
        "failed without a message".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_what_both_clis_accept() {
        assert_eq!(project_name("covtools-shop-1234"), "covtools-shop-1234");
        assert_eq!(project_name("Covtools.My Shop_1"), "covtools-my-shop_1");
        assert_eq!(project_name("-x"), "x");
        assert_eq!(project_name("..."), "covtools");
    }

    #[test]
    fn compose_messages_on_one_line() {
        let v1_up = "Creating network \"p_default\" with the default driver\nCreating p_app_1 ... \nCreating p_app_1 ... error\n\nERROR: for p_app_1  Cannot start service app: driver failed: listen tcp4 127.0.0.1:43999: bind: address already in use\n\nERROR: for app  Cannot start service app: driver failed: listen tcp4 127.0.0.1:43999: bind: address already in use\nEncountered errors while bringing up the project.\n";
        assert_eq!(
            message(v1_up),
            "for app Cannot start service app: driver failed: listen tcp4 127.0.0.1:43999: bind: address already in use"
        );
        let v1_config = "The Compose file './invalid.yaml' is invalid because:\nservices.app.ports contains an invalid type, it should be an array\n";
        assert_eq!(
            message(v1_config),
            "The Compose file './invalid.yaml' is invalid because: services.app.ports contains an invalid type, it should be an array"
        );
        let v2 = " Network p_default  Creating\n Container p-dep-1  Error\ndependency failed to start: container p-dep-1 is unhealthy\n";
        assert_eq!(
            message(v2),
            "dependency failed to start: container p-dep-1 is unhealthy"
        );
        assert_eq!(message(""), "failed without a message");
    }
}
