//! The build and images steps: every service as a coverage test binary and
//! the test program (build_services.rs), then the base image and one image
//! per service (docker_images.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;

use super::settings::{Settings, Tests};
use super::Report;
use crate::build_services::{self, BuildOptions};
use crate::docker_images;
use crate::progress::Progress;
use crate::runtime::control::Control;

/// Builds the services (and the test program) in parallel; returns the
/// test program's binary when the tests are a package.
pub(super) fn build(
    s: &Settings,
    go: &Path,
    bin_dir: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Option<PathBuf>> {
    let opts = BuildOptions::from_config(&s.config, go.to_path_buf(), bin_dir.to_path_buf());
    enum Job<'a> {
        Service(&'a build_services::ServiceBuild),
        Tests(&'a str),
    }
    let mut jobs: Vec<Job> = opts.services.iter().map(Job::Service).collect();
    if let Tests::Package { package, .. } = &s.tests {
        jobs.push(Job::Tests(package));
    }
    let phase = progress.phase("build", jobs.len() as u64);
    phase.set(format!(
        "go test -c -cover -covermode={} -coverpkg={}",
        opts.cover_mode, opts.cover_packages
    ));
    let tests_out = bin_dir.join("tests").join("integration-tests");
    let failures: Vec<String> = covcore::pool::map(&jobs, s.jobs, |job| {
        if control.interrupted() {
            return None;
        }
        match job {
            Job::Service(svc) => {
                let item = phase.item(&svc.name, "go test -c");
                let one = BuildOptions {
                    services: vec![(*svc).clone()],
                    jobs: 1,
                    ..opts.clone()
                };
                match build_services::build_services(&one) {
                    Ok(b) => {
                        item.done(&format!("{}", b[0].binary.display()));
                        None
                    }
                    Err(e) => {
                        item.fail("build failed");
                        Some(format!("{e:#}"))
                    }
                }
            }
            Job::Tests(package) => {
                let item = phase.item("tests", &format!("go build {package}"));
                match build_services::build_program(go, &s.config.module_dir, package, &tests_out) {
                    Ok(p) => {
                        item.done(&format!("{}", p.display()));
                        None
                    }
                    Err(e) => {
                        item.fail("build failed");
                        Some(format!("building the tests ({package}): {e:#}"))
                    }
                }
            }
        }
    })
    .into_iter()
    .flatten()
    .collect();
    control.check()?;
    if !failures.is_empty() {
        report.steps.push(("build".into(), phase.fail("failed")));
        bail!("{}", failures.join("\n"));
    }
    report.steps.push(("build".into(), phase.finish("built")));
    Ok(matches!(s.tests, Tests::Package { .. }).then_some(tests_out))
}

/// The base image (with `--base local`) and one image per service; returns
/// service -> image.
pub(super) fn build_images(
    s: &Settings,
    bin_dir: &Path,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<BTreeMap<String, String>> {
    let images = docker_images::service_images(&s.config, bin_dir, &s.prefix, "latest")?;
    let phase = progress.phase("images", images.len() as u64 + s.build_local_base as u64);
    if s.build_local_base {
        let item = phase.item(
            "base",
            &format!("FROM scratch + static busybox -> {}", s.base),
        );
        if let Err(e) = docker_images::build_base_image(&s.base) {
            item.fail("failed");
            report.steps.push(("images".into(), phase.fail("failed")));
            return Err(e);
        }
        item.done(&s.base);
    }
    let contexts = s.work.join("images");
    let failures: Vec<String> = covcore::pool::each(&images, |img| {
        let item = phase.item(&img.service, &format!("docker build -t {}", img.image));
        let dir = contexts.join(&img.service);
        let r = docker_images::write_context(img, &s.base, &dir)
            .and_then(|()| docker_images::docker_build(&dir, &img.image, None));
        match r {
            Ok(()) => {
                item.done(&img.image);
                None
            }
            Err(e) => {
                item.fail("failed");
                Some(format!("{e:#}"))
            }
        }
    })
    .into_iter()
    .flatten()
    .collect();
    if !failures.is_empty() {
        report.steps.push(("images".into(), phase.fail("failed")));
        let hint = if !s.build_local_base && failures.iter().any(|f| f.contains(&s.base)) {
            format!(
                " (cannot get the base image {}? without a registry, use --base local)",
                s.base
            )
        } else {
            String::new()
        };
        bail!(
            "{} of {} image builds failed{hint}:\n{}",
            failures.len(),
            images.len(),
            failures.join("\n")
        );
    }
    report
        .steps
        .push(("images".into(), phase.finish(&format!("on {}", s.base))));
    Ok(images.into_iter().map(|i| (i.service, i.image)).collect())
}
