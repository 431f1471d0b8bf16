//! The placeholders of args, env and test commands (see the module comment
//! of config/mod.rs).

use std::collections::BTreeMap;

use anyhow::{bail, Context};

/// Fills in `{addr}`, `{host}`, `{port}` and `{url:NAME}` (see the module
/// comment); `{{` and `}}` stand for braces. `addr` is `HOST:PORT`, or
/// `:PORT` for every interface (`{host}` is then `0.0.0.0`).
pub fn render(
    template: &str,
    addr: &str,
    urls: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    const LITERAL: &str = "write {{ and }} for a literal brace, e.g. sh -c 'echo ${{PORT}}'";
    let (host, port) = match addr.rsplit_once(':') {
        Some(("", port)) => ("0.0.0.0", port),
        Some((host, port)) => (host, port),
        None => ("", ""),
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            bail!("{template:?}: unmatched }} ({LITERAL})");
        }
        let end = tail
            .find('}')
            .with_context(|| format!("{template:?}: unclosed {{ ({LITERAL})"))?;
        let key = &tail[1..end];
        match key.split_once(':') {
            None if key == "addr" => out.push_str(addr),
            None if key == "host" => out.push_str(host),
            None if key == "port" => out.push_str(port),
            Some((part @ ("url" | "host" | "port"), name)) => {
                let url = urls.get(name).with_context(|| {
                    format!("{template:?}: {{{part}:{name}}} names no service")
                })?;
                let (host, port) = url_parts(url);
                out.push_str(match part {
                    "url" => url,
                    "host" => host,
                    _ => port,
                });
            }
            _ => bail!(
                "{template:?}: unknown placeholder {{{key}}} (expected {{addr}}, {{host}}, {{port}}, {{url:NAME}}, {{host:NAME}} or {{port:NAME}}; {LITERAL})"
            ),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The host and port of a base URL (`http://127.0.0.1:4711` gives
/// `127.0.0.1` and `4711`; `http://[::1]:80`, `[::1]` and `80`), for
/// `{host:NAME}` and `{port:NAME}`: where the tests reach service NAME.
fn url_parts(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port),
        _ => (authority, ""),
    }
}

/// Whether a template uses the service's own address (`{addr}`, `{host}`
/// or `{port}`): a service whose args and env use none listens where its
/// code says, the configured port.
pub(super) fn uses_own_addr(template: &str) -> bool {
    let unescaped = template.replace("{{", "").replace("}}", "");
    ["{addr}", "{host}", "{port}"]
        .iter()
        .any(|p| unescaped.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> BTreeMap<String, String> {
        [("catalog".to_string(), "http://catalog:8080".to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            render("-addr={addr}", ":8080", &urls()).unwrap(),
            "-addr=:8080"
        );
        assert_eq!(
            render("{url:catalog}/x", "", &urls()).unwrap(),
            "http://catalog:8080/x"
        );
        assert_eq!(render("{{literal}}", "", &urls()).unwrap(), "{literal}");
        assert!(render("{url:nope}", "", &urls())
            .unwrap_err()
            .to_string()
            .contains("names no service"));
        assert_eq!(
            render("-port={port}", ":8080", &urls()).unwrap(),
            "-port=8080"
        );
        assert_eq!(render("{host}", ":8080", &urls()).unwrap(), "0.0.0.0");
        assert_eq!(
            render("{host} {port}", "127.0.0.1:4711", &urls()).unwrap(),
            "127.0.0.1 4711"
        );
        let err = render("sh -c 'echo ${PORT##*:}'", "", &urls())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown placeholder {PORT##*:}") && err.contains("${{PORT}}"),
            "{err}"
        );
        assert_eq!(
            render("echo ${{PORT##*:}}", "", &urls()).unwrap(),
            "echo ${PORT##*:}"
        );
        assert!(render("{addr", "", &urls()).is_err());
        // Where the tests reach a service, for suites that read a bare port.
        assert_eq!(
            render("{host:catalog} {port:catalog}", "", &urls()).unwrap(),
            "catalog 8080"
        );
        let loopback: BTreeMap<String, String> =
            [("db".to_string(), "http://127.0.0.1:4711".to_string())].into();
        assert_eq!(
            render("SERVERPORT={port:db} HOST={host:db}", "", &loopback).unwrap(),
            "SERVERPORT=4711 HOST=127.0.0.1"
        );
        assert!(render("{port:nope}", "", &urls())
            .unwrap_err()
            .to_string()
            .contains("{port:nope} names no service"));
    }
}
