//! covpull's operation: read every complete profile and binary coverage
//! file of a target in one round trip, optionally right after asking its
//! harness for a live snapshot (the same exec: one round trip for both; on
//! the local Docker engine, one HTTP request to the harness's
//! `/covtools/files` or `/covtools/snapshot` at the container's address,
//! no exec at all: [`super::over_http`]).

use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use anyhow::bail;

use super::fetched::{binary_kind, check_asked, fetch_local, Fetched};
use super::frames::{Collect, Sink};
use super::kill::answer_from_lines;
use super::killed::Action;
use super::{cut_off, docker_after_failure, endpoint, Endpoint, Options};
use crate::docker::State;
use crate::exec::Exec;
use crate::target::Target;

const FETCH_SH: &str = concat!(include_str!("../sh/ask.sh"), include_str!("../sh/fetch.sh"));

/// Reads every complete profile and binary coverage file of a target: one
/// request to its harness for a running container of the local Docker
/// engine, else one exec round trip for a container or pod (`docker cp`
/// for a stopped Docker container), the directory itself for a local
/// target.
pub fn fetch(target: &Target, opts: &Options) -> anyhow::Result<Fetched> {
    collect(target, opts, false)
}

/// Asks the target's harness for a complete live snapshot, then reads as
/// [`fetch`] does, in the same round trip: one request to its
/// `/covtools/snapshot` for a running container of the local Docker engine
/// whose harness this host reaches, else one exec. A stopped container
/// cannot take one: its files are read as they are, with a note.
pub fn fetch_snapshot(target: &Target, opts: &Options) -> anyhow::Result<Fetched> {
    collect(target, opts, true)
}

fn collect(target: &Target, opts: &Options, flush: bool) -> anyhow::Result<Fetched> {
    let mut sink = Collect(Fetched::default());
    let meta = fetch_into(target, opts, flush, &mut sink)?;
    let mut fetched = sink.0;
    fetched.dir = meta.dir;
    fetched.dir_exists = meta.dir_exists;
    fetched.skipped.extend(meta.skipped);
    fetched.unreadable = meta.unreadable;
    fetched.superseded.extend(meta.superseded);
    fetched.finish();
    Ok(fetched)
}

/// [`fetch`] (or with `flush`, [`fetch_snapshot`]) handing each file to
/// `sink` as it is read, in name order per kind; the answer holds the
/// rest (the directory, what was skipped or could not be read), its
/// `profiles` and `binaries` empty. Over HTTP the files are streamed, so
/// the memory this takes does not grow with their number or size.
pub fn fetch_into(
    target: &Target,
    opts: &Options,
    flush: bool,
    sink: &mut dyn Sink,
) -> anyhow::Result<Fetched> {
    if let Target::Docker { container } = target {
        if let Some(fetched) = super::over_http::fetch(container, opts, flush, sink)? {
            return Ok(fetched);
        }
    }
    let ask = flush.then_some(Action::Flush);
    let mut fetched = match endpoint(target)? {
        Endpoint::Exec(exec) => fetch_exec(&exec, opts, ask)?,
        Endpoint::Local { dir, addr } => {
            if let (Some(action), Some(_)) = (ask, addr) {
                super::ask(target, opts, action)?;
            }
            fetch_local(dir, &dir.display().to_string())?
        }
    };
    fetched.finish();
    sink.dir(&fetched.dir);
    for p in std::mem::take(&mut fetched.profiles) {
        sink.file(&p.name, &mut &p.data[..]);
    }
    for b in std::mem::take(&mut fetched.binaries) {
        sink.file(&b.name, &mut &b.data[..]);
    }
    Ok(fetched)
}

fn fetch_exec(exec: &Exec, opts: &Options, ask: Option<Action>) -> anyhow::Result<Fetched> {
    let boundary = boundary();
    let dir_arg = opts.cover_dir.clone().unwrap_or_default();
    let port = opts.port.map(|p| p.to_string()).unwrap_or_default();
    let path = ask.map(Action::path).unwrap_or_default();
    let secs = opts.timeout.as_secs_f64().ceil().max(1.0).to_string();
    let started = Instant::now();
    let out = exec.sh(
        FETCH_SH,
        &[&dir_arg, &boundary, &port, path, &secs],
        opts.timeout,
    )?;
    if let Some((fetched, asked)) = parse_fetch(&out.stdout, &boundary)? {
        if let Some((result, answer)) = asked {
            let url = format!("the harness's {path} in {}", exec.program);
            check_asked(&url, &result, answer.as_ref(), started)?;
        }
        return Ok(fetched);
    }
    if out.timed_out() {
        bail!(
            "{} exec timed out after {:.1}s",
            exec.program,
            opts.timeout.as_secs_f64()
        );
    }
    if let Some(container) = exec.docker_container() {
        match docker_after_failure(container, cut_off(&out))? {
            State::Stopped => return super::docker_fetch::fetch_stopped(container, opts),
            State::Removed if !out.stdout.is_empty() => {
                bail!("the container was removed while covpull read it")
            }
            State::Removed => {
                bail!(
                    "{} (the container was removed, or never existed)",
                    out.error_line()
                )
            }
            State::Running => {}
        }
    }
    Err(super::exec_error(exec, &out))
}

/// A random token that no profile holds, to frame the files in one stream.
pub(super) fn boundary() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos() ^ u128::from(std::process::id()));
    let a = h.finish();
    h.write_u64(a);
    format!("--covpull-{a:016x}{:016x}--", h.finish())
}

/// Parses fetch.sh's output; `None` when it is not complete (no END record).
type Asked = (String, Option<crate::http::Response>);

fn parse_fetch(stdout: &[u8], boundary: &str) -> anyhow::Result<Option<(Fetched, Option<Asked>)>> {
    let mut sep = b"\n".to_vec();
    sep.extend_from_slice(boundary.as_bytes());
    sep.push(b' ');
    let mut text = b"\n".to_vec();
    text.extend_from_slice(stdout);
    let mut records = Vec::new();
    let mut rest = &text[..];
    while let Some(i) = memmem(rest, &sep) {
        records.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    records.push(rest);
    let records = &records[1..]; // [0] is what precedes the first record: nothing
    let mut fetched = Fetched {
        dir_exists: true,
        ..Fetched::default()
    };
    let mut ended = false;
    let (mut answer, mut asked) = (Vec::new(), None);
    let mut i = 0;
    while i < records.len() {
        let rec = records[i];
        let (head, body) = match rec.iter().position(|&b| b == b'\n') {
            Some(n) => (&rec[..n], &rec[n + 1..]),
            None => (rec, &rec[rec.len()..]),
        };
        let head = String::from_utf8_lossy(head);
        let (kind, arg) = head.split_once(' ').unwrap_or((&head, ""));
        match kind {
            "DIR" => fetched.dir = arg.to_string(),
            "NODIR" => fetched.dir_exists = false,
            "SKIP" => fetched.skipped.push(arg.to_string()),
            "ANS" => answer.push(arg.to_string()),
            "ASKED" => asked = Some(arg.to_string()),
            "FILE" => {
                if records
                    .get(i + 1)
                    .is_some_and(|r| r.starts_with(b"CATFAIL "))
                {
                    // A snapshot the harness replaced between the listing
                    // and the read: its newer one is read, or is next time.
                    if binary_kind(arg).is_some_and(|k| k.is_counters()) {
                        fetched.superseded.push(arg.to_string());
                    } else {
                        fetched
                            .unreadable
                            .push((arg.to_string(), "cat failed".to_string()));
                    }
                    i += 1;
                } else {
                    fetched.add(arg.to_string(), body.to_vec());
                }
            }
            "END" => ended = true,
            _ => bail!("unexpected output from the fetch script: {head:?}"),
        }
        i += 1;
    }
    let asked = asked.map(|a| (a, answer_from_lines(answer.iter().map(String::as_str))));
    Ok(ended.then_some((fetched, asked)))
}

fn memmem(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use covcore::contract::profile_number;
    use covcore::process::process;
    use std::fs;
    use std::time::Duration;

    #[test]
    fn numbers() {
        assert_eq!(profile_number("cover-1.out"), Some(1));
        assert_eq!(profile_number("cover-12.out"), Some(12));
        for bad in [
            "cover-.out",
            "cover-1a.out",
            ".cover-1.out",
            "cover-1.out.tmp",
            ".cover-1.out.tmp",
            "x.out",
        ] {
            assert_eq!(profile_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn fetch_script_locally() {
        // The very script the containers run, under this machine's sh.
        let dir = std::env::temp_dir().join(format!("covtarget-fetch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cover-1.out"), "mode: set\na.go:1.1,2.2 1 1\n").unwrap();
        fs::write(dir.join("cover-2.out"), "no newline at end").unwrap();
        fs::write(dir.join("cover-3.out"), "").unwrap();
        fs::write(dir.join(".cover-4.out.tmp"), "mode: se").unwrap();
        fs::write(dir.join("cover-x.out"), "x").unwrap();
        // Binary coverage: a meta file, two snapshots of one process and one
        // of another, and a snapshot still under its temporary name.
        fs::write(dir.join("covmeta.0a1b"), b"\0meta\n\xff").unwrap();
        fs::write(dir.join("covcounters.0a1b.7.100"), "old").unwrap();
        fs::write(dir.join("covcounters.0a1b.7.200"), b"new\n\0").unwrap();
        fs::write(dir.join("covcounters.0a1b.8.150"), "other").unwrap();
        fs::write(dir.join(".covcounters.0a1b.7.300.tmp"), "tmp").unwrap();
        let b = boundary();
        let out = process("sh")
            .args(["-c", FETCH_SH, "sh", dir.to_str().unwrap(), &b, "", "", "1"])
            .output_within(Duration::from_secs(10))
            .unwrap();
        let mut f = parse_fetch(&out.stdout, &b).unwrap().expect("complete").0;
        f.finish();
        let got: Vec<(&str, &[u8])> = f
            .profiles
            .iter()
            .map(|p| (p.name.as_str(), &p.data[..]))
            .collect();
        assert_eq!(
            got,
            [
                ("cover-1.out", &b"mode: set\na.go:1.1,2.2 1 1\n"[..]),
                ("cover-2.out", &b"no newline at end"[..]),
                ("cover-3.out", &b""[..])
            ]
        );
        f.skipped.sort();
        assert_eq!(
            f.skipped,
            [
                ".covcounters.0a1b.7.300.tmp",
                ".cover-4.out.tmp",
                "cover-x.out"
            ]
        );
        let got: Vec<(&str, &[u8])> = f
            .binaries
            .iter()
            .map(|b| (b.name.as_str(), &b.data[..]))
            .collect();
        assert_eq!(
            got,
            [
                ("covcounters.0a1b.7.200", &b"new\n\0"[..]),
                ("covcounters.0a1b.8.150", &b"other"[..]),
                ("covmeta.0a1b", &b"\0meta\n\xff"[..]),
            ]
        );
        assert_eq!(f.superseded, ["covcounters.0a1b.7.100"]);
        assert_eq!(f.dir, dir.to_str().unwrap());
        let out = process("sh")
            .args([
                "-c",
                FETCH_SH,
                "sh",
                dir.join("nope").to_str().unwrap(),
                &b,
                "",
                "",
                "1",
            ])
            .output_within(Duration::from_secs(10))
            .unwrap();
        assert!(!parse_fetch(&out.stdout, &b).unwrap().unwrap().0.dir_exists);
        // Truncated output (the exec died) is not taken for a complete listing.
        let cut = &out.stdout[..out.stdout.len() - 5];
        assert!(parse_fetch(cut, &b).unwrap().is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
