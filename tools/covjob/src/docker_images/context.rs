//! A service image's build context: its Dockerfile from
//! docker/Dockerfile.template, the wrapper, and the check that a written
//! context is still current.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::{ServiceImage, GENERATED_HEADER, WRAPPER};

/// docker/ files, embedded so that a covtools built in one checkout never
/// uses another checkout's (a target directory may be shared).
const DOCKERFILE_TEMPLATE: &str = include_str!("../../../../docker/Dockerfile.template");
pub const WRAPPER_SOURCE: &str = include_str!("../../../../docker/cover-wrapper.sh");

/// The Dockerfile of one service image, from docker/Dockerfile.template.
pub fn render_dockerfile(img: &ServiceImage, base: &str) -> anyhow::Result<String> {
    let template = DOCKERFILE_TEMPLATE;
    let mut env = String::new();
    let mut vars = img.env.clone();
    if let Some(t) = &img.own_test {
        vars.push((covcore::contract::ENV_COVER_TEST.into(), t.clone()));
    }
    for (k, v) in &vars {
        let valid = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            bail!(
                "service {}: environment variable name {k:?} is not valid",
                img.service
            );
        }
        env.push_str(&format!(" \\\n    {k}={}", dockerfile_string(v)));
    }
    // The exec form of CMD is a JSON array (one element per argument).
    let args: Vec<String> = img
        .args
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()
        .context("writing CMD as JSON")?;
    let cmd = format!("[{}]", args.join(", "));
    let binary = format!("{}.test", img.service);
    let body = template
        .replace("{{BASE}}", base)
        .replace("{{BINARY}}", &binary)
        .replace("{{SERVICE}}", &img.service)
        .replace("{{KILLSWITCH_PORT}}", &img.killswitch_port.to_string())
        .replace("{{PORT}}", &img.port.to_string())
        .replace("{{ENV}}", &env)
        .replace("{{CMD}}", &cmd);
    if let Some(i) = body.find("{{") {
        let field: String = body[i..].chars().take_while(|c| *c != '\n').collect();
        bail!("docker/Dockerfile.template: unknown template field {field}");
    }
    // The template's own leading comment describes the template; the
    // generated file says what generated it instead.
    let body: String = body
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(format!("{GENERATED_HEADER}\n{body}"))
}

/// A Dockerfile double-quoted string: `$` would be expanded by the builder.
fn dockerfile_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Writes one service's build context: the Dockerfile and rootfs/ (the test
/// binary, the wrapper, /tmp and /cover), replacing an older one.
pub fn write_context(img: &ServiceImage, base: &str, dir: &Path) -> anyhow::Result<()> {
    let rootfs = dir.join("rootfs");
    if rootfs.exists() {
        fs::remove_dir_all(&rootfs).with_context(|| format!("removing {}", rootfs.display()))?;
    }
    for d in ["app", "usr/local/bin", "tmp", "cover"] {
        fs::create_dir_all(rootfs.join(d))
            .with_context(|| format!("creating {}", rootfs.join(d).display()))?;
    }
    // Any user may write temp files and profiles (images run as non-root too).
    for d in ["tmp", "cover"] {
        fs::set_permissions(rootfs.join(d), fs::Permissions::from_mode(0o1777))?;
    }
    fs::write(dir.join("Dockerfile"), render_dockerfile(img, base)?)
        .with_context(|| format!("writing {}", dir.join("Dockerfile").display()))?;
    let wrapper = rootfs.join("usr/local/bin/cover-wrapper");
    fs::write(&wrapper, wrapper_text()?)?;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
    let binary = rootfs.join("app").join(format!("{}.test", img.service));
    if fs::hard_link(&img.binary, &binary).is_err() {
        fs::copy(&img.binary, &binary).with_context(|| {
            format!(
                "copying {} (build it with `covtools build`)",
                img.binary.display()
            )
        })?;
    }
    Ok(())
}

/// The restart wrapper as a file (run as a local process, `--runtime
/// local`): the embedded text, written once under a name of its content in
/// the temp directory, so different versions never share a file.
pub fn wrapper_script() -> anyhow::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    WRAPPER_SOURCE.hash(&mut h);
    let dir = std::env::temp_dir().join(format!("covtools-wrapper-{:016x}", h.finish()));
    let path = dir.join(WRAPPER);
    if fs::read_to_string(&path).is_ok_and(|t| t == WRAPPER_SOURCE) {
        return Ok(path);
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Written aside and renamed: concurrent runs never see half of it.
    let tmp = dir.join(format!(".{WRAPPER}.{}", std::process::id()));
    fs::write(&tmp, WRAPPER_SOURCE).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn wrapper_text() -> anyhow::Result<String> {
    Ok(WRAPPER_SOURCE.to_string())
}

/// What in a generated context differs from what would be generated now.
pub fn check_context(img: &ServiceImage, base: &str, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut stale = Vec::new();
    for (name, want) in [
        ("Dockerfile", render_dockerfile(img, base)?),
        ("rootfs/usr/local/bin/cover-wrapper", wrapper_text()?),
    ] {
        let path = dir.join(name);
        match fs::read_to_string(&path) {
            Ok(have) if have == want => {}
            Ok(_) => stale.push(format!("{} is out of date", path.display())),
            Err(_) => stale.push(format!("{} is missing", path.display())),
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_has_the_entrypoint_the_compose_runtime_sets() {
        let words: Vec<String> = super::super::ENTRYPOINT
            .iter()
            .map(|w| format!("{w:?}"))
            .collect();
        let line = format!("ENTRYPOINT [{}]", words.join(", "));
        assert!(
            super::DOCKERFILE_TEMPLATE.lines().any(|l| l == line),
            "{line}"
        );
    }
}
