//! The tests step: the configured test program or command, its output
//! streamed to the progress and to `<out>/tests.log`, its exit status kept.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use covcore::process::{process, shell_line, wait_for_children, wait_until};

use super::settings::{Settings, Tests};
use super::{Report, Started};
use crate::config;
use crate::progress::Progress;
use crate::runtime::control::{Control, Interrupted};
use crate::runtime::docker;
use crate::runtime::process::{self, Exit};
use crate::toolchain;

/// Runs the tests, streaming their output; keeps their exit status.
pub(super) fn run_tests(
    s: &Settings,
    started: &[Started],
    tests_bin: Option<&Path>,
    go: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    // A replicated service's URL is its first replica's.
    let mut host_urls: BTreeMap<String, String> = BTreeMap::new();
    for st in started {
        host_urls
            .entry(st.name.clone())
            .or_insert_with(|| st.host_url.clone());
    }
    let render_all =
        |items: &[String], urls: &BTreeMap<String, String>| -> anyhow::Result<Vec<String>> {
            items.iter().map(|a| config::render(a, "", urls)).collect()
        };
    let url_env = |urls: &BTreeMap<String, String>| -> Vec<(String, String)> {
        urls.iter()
            .map(|(n, u)| {
                (
                    format!("COVTOOLS_URL_{}", n.to_uppercase().replace('-', "_")),
                    u.clone(),
                )
            })
            .collect()
    };
    let render_env = |env: &BTreeMap<String, String>,
                      urls: &BTreeMap<String, String>|
     -> anyhow::Result<Vec<(String, String)>> {
        let mut out = url_env(urls);
        if let Some((_, project)) = &s.compose {
            // For a test that drives the stack itself (`docker compose -p`).
            out.push(("COVTOOLS_COMPOSE_PROJECT".into(), project.clone()));
        }
        for (k, v) in env {
            out.push((k.clone(), config::render(v, "", urls)?));
        }
        Ok(out)
    };

    fs::create_dir_all(&s.out).with_context(|| format!("creating {}", s.out.display()))?;
    let log_path = s.out.join("tests.log");
    let mut cmd;
    let shown;
    match &s.tests {
        Tests::Package {
            package,
            args,
            env,
            in_service: Some(service),
            ..
        } => {
            // In the service's own container: its loopback is the tests'.
            let svc = s.config.service(service).context("no such service")?;
            let mut urls = s.config.docker_urls();
            urls.insert(service.clone(), format!("http://127.0.0.1:{}", svc.port));
            let container = started
                .iter()
                .find(|st| &st.name == service)
                .and_then(|st| st.container.clone())
                .context("no container for the tests")?;
            let bin = tests_bin.context("the test program was not built")?;
            docker::run_ok(&[
                "cp",
                &bin.to_string_lossy(),
                &format!("{container}:/tmp/covtools-tests"),
            ])?;
            let targs = render_all(args, &urls)?;
            cmd = process(covtarget::docker::cli()?);
            cmd.arg("exec");
            for (k, v) in render_env(env, &urls)? {
                cmd.arg("-e").arg(format!("{k}={v}"));
            }
            cmd.arg(&container).arg("/tmp/covtools-tests").args(&targs);
            shown = format!(
                "{package} {} (in container {container}, beside service {service})",
                shell_line(&targs)
            );
        }
        Tests::Package {
            package,
            args,
            env,
            in_container: true,
            ..
        } => {
            let urls = s.config.docker_urls();
            let container = format!("{}-tests", s.run_name());
            let network = started
                .iter()
                .find_map(|st| st.network.clone())
                .context("no network for the tests")?;
            let mut create: Vec<String> = vec![
                "create".into(),
                "--name".into(),
                container.clone(),
                "--network".into(),
                network.clone(),
            ];
            create.extend(s.labels());
            for (k, v) in render_env(env, &urls)? {
                create.push("-e".into());
                create.push(format!("{k}={v}"));
            }
            create.push(s.base.clone());
            create.push("/covtools-tests".into());
            let targs = render_all(args, &urls)?;
            create.extend(targs.iter().cloned());
            control.add_container(&container);
            docker::run_ok(&create.iter().map(String::as_str).collect::<Vec<_>>())?;
            let bin = tests_bin.context("the test program was not built")?;
            docker::run_ok(&[
                "cp",
                &bin.to_string_lossy(),
                &format!("{container}:/covtools-tests"),
            ])?;
            cmd = process(covtarget::docker::cli()?);
            cmd.args(["start", "-a", &container]);
            shown = format!(
                "{package} {} (container {container} on {network})",
                shell_line(&targs)
            );
        }
        Tests::Package {
            package, args, env, ..
        } => {
            let bin = tests_bin.context("the test program was not built")?;
            let targs = render_all(args, &host_urls)?;
            cmd = process(bin);
            cmd.args(&targs).envs(render_env(env, &host_urls)?);
            shown = format!("{package} {} (on the host)", shell_line(&targs));
        }
        Tests::Command { argv, env } => {
            let argv = render_all(argv, &host_urls)?;
            cmd = process(&argv[0]);
            cmd.args(&argv[1..]).envs(render_env(env, &host_urls)?);
            shown = shell_line(&argv);
        }
    }
    if !matches!(
        s.tests,
        Tests::Package {
            in_container: true,
            ..
        }
    ) {
        // The Go covtools uses first on the tests' PATH (the configured one,
        // else ours): it may have installed it itself, and `go test ./e2e/...`
        // is the most common integration suite.
        let configured = cmd.get_env("PATH").map(|v| v.to_os_string());
        let rest = configured
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let go_dir = go.parent().unwrap_or(Path::new("/"));
        cmd.env("PATH", toolchain::path_before(go_dir, &rest));
        toolchain::go_env(&mut cmd);
    }
    cmd.dir(&s.config.module_dir)
        .stdin_null()
        .stdout_piped()
        .stderr_piped()
        .process_group();

    let phase = progress.phase("tests", 0);
    phase.set(shown.clone());
    progress.line(format!("tests: {shown}"));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            report
                .steps
                .push(("tests".into(), phase.fail("could not start")));
            bail!("starting the tests ({shown}): {e:#}");
        }
    };
    let log = Arc::new(Mutex::new(
        fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?,
    ));
    let pumps: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let (log, progress) = (log.clone(), progress.clone());
        std::thread::spawn(move || {
            // Bytes, not `lines()`: a line that is not UTF-8 must not stop
            // the reading, or the tests would block on a full pipe.
            for line in BufReader::new(stream).split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches('\r');
                let _ = writeln!(log.lock().unwrap(), "{line}");
                progress.line(format!("  tests | {line}"));
            }
        })
    })
    .collect();
    // No deadline here (the tests take what they take): woken by their
    // end, or by an interrupt (which wakes every wait for children).
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let mut ended = None;
    wait_for_children(far, || {
        ended = child.try_wait()?;
        Ok(ended.is_some() || control.interrupted())
    })?;
    let status = match ended {
        Some(st) => {
            // Whatever the tests left in their process group would hold
            // the output pipes open (and the readers) forever.
            process::signal(-(child.id() as i32), libc::SIGKILL);
            Some(st)
        }
        None => {
            process::signal(-(child.id() as i32), libc::SIGTERM);
            wait_until(&mut child, Instant::now() + Duration::from_secs(3))?;
            process::signal(-(child.id() as i32), libc::SIGKILL);
            let _ = child.wait();
            None
        }
    };
    for p in pumps {
        let _ = p.join();
    }
    let Some(status) = status else {
        report
            .steps
            .push(("tests".into(), phase.fail("interrupted")));
        return Err(Interrupted.into());
    };
    use std::os::unix::process::ExitStatusExt;
    let exit = match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(sig)) => Exit::Signal(sig),
        _ => Exit::Unknown,
    };
    report.tests_exit = Some(exit);
    let took = if exit == Exit::Code(0) {
        phase.finish("passed")
    } else {
        phase.fail(&format!("{exit}; collecting coverage anyway"))
    };
    report.steps.push(("tests".into(), took));
    Ok(())
}
