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
                    Err(_) if control.interrupted() => {
                        item.fail("interrupted");
                        None
                    }
                    Err(e) => {
                        item.fail("build failed");
                        // Built one at a time: the "1 of 1" count is not ours.
                        let msg = format!("{e:#}");
                        Some(match msg.split_once('\n') {
                            Some((first, rest)) if first.ends_with(" service builds failed:") => {
                                rest.to_string()
                            }
                            _ => msg,
                        })
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
                    Err(_) if control.interrupted() => {
                        item.fail("interrupted");
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
        let count = format!("{} of {} builds failed", failures.len(), jobs.len());
        report.steps.push(("build".into(), phase.fail(&count)));
        // The first line (the summary's error line) carries the first cause.
        bail!(
            "{count}: {}\n{}",
            one_line(&failures[0]),
            failures.join("\n")
        );
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
    report.images = images.iter().map(|i| i.image.clone()).collect();
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
        let count = format!("{} of {} image builds failed", failures.len(), images.len());
        report.steps.push(("images".into(), phase.fail(&count)));
        let hint = if !s.build_local_base && failures.iter().any(|f| f.contains(&s.base)) {
            format!(
                " (cannot get the base image {}? without a registry, use --base local)",
                s.base
            )
        } else {
            String::new()
        };
        bail!(
            "{count}{hint}: {}\n{}",
            one_line(&failures[0]),
            failures.join("\n")
        );
    }
    report
        .steps
        .push(("images".into(), phase.finish(&format!("on {}", s.base))));
    Ok(images.into_iter().map(|i| (i.service, i.image)).collect())
}

/// `--push`: the built images (service -> local image) tagged and pushed;
/// returns service -> pushed reference, also written to
/// `<out>/pushed-images.txt`.
pub(super) fn push_images(
    s: &Settings,
    dest: &docker_images::push::Destination,
    images: &BTreeMap<String, String>,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<BTreeMap<String, String>> {
    let phase = progress.phase("push", 0);
    phase.set(format!("docker push {}/…", dest.registry));
    let pairs: Vec<(String, String)> = images.clone().into_iter().collect();
    let contexts = s.work.join("images");
    let pushed = docker_images::push_images(
        &pairs,
        &contexts,
        &s.config.module_dir,
        dest,
        s.tag.as_deref(),
    )
    .and_then(|refs| {
        let list = docker_images::push::write_list(&s.out, &refs)?;
        Ok((refs, list))
    });
    match pushed {
        Ok((refs, list)) => {
            for r in &refs {
                progress.line(format!("pushed: {r}"));
            }
            report.pushed = refs.clone();
            report.pushed_list = Some(list);
            let took = phase.finish(&format!("{} image(s) to {}", refs.len(), dest.registry));
            report.steps.push(("push".into(), took));
            Ok(pairs.into_iter().map(|(svc, _)| svc).zip(refs).collect())
        }
        Err(e) => {
            report.steps.push(("push".into(), phase.fail("failed")));
            Err(e)
        }
    }
}

/// A failure on one line: its first line, and when that ends with ":" (the
/// cause follows), the cause: the first line that looks like one (a Go
/// compiler position, an error word), else the last, without Go's
/// `# package` headers, warnings and Docker's build steps.
pub(super) fn one_line(msg: &str) -> String {
    let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let Some(head) = first.strip_suffix(':') else {
        return first.to_string();
    };
    const NOISE: [&str; 5] = ["# ", "warning: ", "Sending build context", "Step ", "---> "];
    const CAUSE: [&str; 9] = [
        ".go:",
        "error",
        "Error",
        "unable",
        "denied",
        "not found",
        "no such",
        "cannot",
        "failed",
    ];
    let said: Vec<&str> = lines
        .filter(|l| !NOISE.iter().any(|n| l.starts_with(n)))
        .collect();
    let cause = said
        .iter()
        .find(|l| CAUSE.iter().any(|c| l.contains(c)))
        .or(said.last());
    match cause {
        Some(cause) => format!("{head}: {cause}"),
        None => head.to_string(),
    }
}

#[cfg(test)]
mod unit_tests {
    #[test]
    fn one_line_keeps_the_cause() {
        let msg = "building orders (./cmd/orders) failed: go test -c exited with exit status 1:\n# example.com/shop/cmd/orders\ncmd/orders/main.go:3:2: undefined: x\nmore";
        assert_eq!(
            super::one_line(msg),
            "building orders (./cmd/orders) failed: go test -c exited with exit status 1: cmd/orders/main.go:3:2: undefined: x"
        );
        assert_eq!(super::one_line("plain\nrest"), "plain");
        let docker = "docker build -t a failed (exit status: 1):\nSending build context to Docker daemon  11MB\nStep 1/7 : FROM b\n ---> 6c73\nStep 2/7 : COPY rootfs/ /\nunable to find image \"sha256:c5\"";
        assert_eq!(
            super::one_line(docker),
            "docker build -t a failed (exit status: 1): unable to find image \"sha256:c5\""
        );
    }
}
