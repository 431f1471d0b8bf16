//! Where profiles come from: file arguments, glob patterns expanded by the
//! tool itself (so `'cover/*.out'` works quoted), `-` or nothing for stdin.
//! Stdin holds either profile text or a list of profile paths, one per line
//! (what `covpull` prints). A GOCOVERDIR (or one of its files) is an input
//! too: [`covdata`] pairs them into one input per meta-data file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{bail, Context};

use crate::covdata;

/// One input of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Profile text on standard input.
    Stdin,
    /// A profile file.
    Path(PathBuf),
    /// Go's binary coverage data: a meta-data file and its counter files.
    Covdata(covdata::Pod),
    /// Profile text already in memory, with the name used in messages (for
    /// the fuzz target and library callers).
    Memory(String, std::sync::Arc<[u8]>),
}

impl Input {
    /// The name used in messages.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::Path(p) => p.display().to_string(),
            Input::Covdata(pod) => pod.meta_path.display().to_string(),
            Input::Memory(name, _) => name.clone(),
        }
    }

    /// Opens the input for reading.
    pub fn open(&self) -> anyhow::Result<Box<dyn Read + Send>> {
        match self {
            Input::Stdin => match PEEKED_STDIN.lock().unwrap().take() {
                Some(peeked) => Ok(Box::new(peeked)),
                None => Ok(Box::new(io::stdin())),
            },
            Input::Path(p) => {
                let f = File::open(p).with_context(|| format!("{}: cannot open", p.display()))?;
                Ok(Box::new(f))
            }
            Input::Covdata(pod) => Ok(Box::new(io::Cursor::new(pod.textfmt()?))),
            Input::Memory(_, data) => Ok(Box::new(io::Cursor::new(data.clone()))),
        }
    }

    /// The size in bytes, when known (for scheduling the largest first).
    pub fn size_hint(&self) -> u64 {
        match self {
            Input::Stdin => u64::MAX,
            Input::Path(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Input::Covdata(pod) => pod.size(),
            Input::Memory(_, data) => data.len() as u64,
        }
    }
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands command-line arguments into inputs. A pattern that matches no
/// file is an error (a typo must not silently give an empty merge), as is a
/// named file that does not exist. Stdin can be read once: `-` given twice
/// is an error.
pub fn expand_args(args: &[String]) -> anyhow::Result<Vec<Input>> {
    if args.is_empty() {
        return from_stdin();
    }
    if args.iter().filter(|a| *a == "-").count() > 1 {
        bail!("-: stdin is given more than once; it can be read only once");
    }
    let mut inputs = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.extend(from_stdin()?);
        } else {
            inputs.extend(expand_one(arg)?);
        }
    }
    pair_inputs(inputs)
}

fn expand_one(arg: &str) -> anyhow::Result<Vec<Input>> {
    let path = PathBuf::from(arg);
    match std::fs::metadata(&path) {
        Ok(meta) => return Ok(vec![classify(arg, path, &meta)?]),
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("{arg}: cannot open"))
        }
        Err(_) if !has_glob_chars(arg) => bail!("{arg}: no such file"),
        Err(_) => {}
    }
    let mut matches = Vec::new();
    for entry in glob::glob(arg).with_context(|| format!("{arg}: invalid glob pattern"))? {
        let p = entry.with_context(|| format!("{arg}: reading a match"))?;
        if p.is_file() || covdata::accepts(&p) {
            matches.push(Input::Path(p));
        }
    }
    if matches.is_empty() {
        bail!("{arg}: the pattern matches no file");
    }
    Ok(matches)
}

/// What a named path is to a merge: the one place where an argument's kind
/// (file, pipe, device, directory) decides how it is read. Anything that can
/// be read as a stream is a profile: regular files, FIFOs (`<(cat a.out)`),
/// `/dev/stdin`, character devices.
fn classify(arg: &str, path: PathBuf, meta: &std::fs::Metadata) -> anyhow::Result<Input> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_file() || kind.is_fifo() || kind.is_char_device() || kind.is_socket() {
        return Ok(Input::Path(path));
    }
    if kind.is_dir() {
        // A directory that cannot be listed says nothing of what it holds:
        // its own error is the cause, as an unreadable file's is.
        std::fs::read_dir(&path).with_context(|| format!("{arg}: cannot list the directory"))?;
        if covdata::accepts(&path) {
            return Ok(Input::Path(path));
        }
        bail!("{arg}: is a directory without covmeta.*/covcounters.* files, expected a profile file, a GOCOVERDIR (or a glob such as '{arg}/*.out')");
    }
    bail!("{arg}: not a file, pipe or device that can be read")
}

/// Reads what stdin holds: profile text (its first non-blank line starts
/// with `mode:`) or a list of paths.
fn from_stdin() -> anyhow::Result<Vec<Input>> {
    let mut stdin = BufReader::with_capacity(1 << 16, io::stdin());
    // Peek past leading blank lines without consuming profile text.
    loop {
        let buf = stdin.fill_buf().context("reading <stdin>")?;
        if buf.is_empty() {
            bail!("<stdin>: no input: expected profile text or a list of profile paths");
        }
        let skip = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if skip == buf.len() {
            stdin.consume(skip);
            continue;
        }
        if buf[skip..].starts_with(b"mode:")
            || (buf.len() - skip < 5 && b"mode:".starts_with(&buf[skip..]))
        {
            // Profile text. The bytes already buffered here are lost to a
            // fresh io::stdin() handle, so hand the buffered reader on.
            *PEEKED_STDIN.lock().unwrap() = Some(stdin);
            return Ok(vec![Input::Stdin]);
        }
        break;
    }
    // A list of paths: bytes, as Unix file names are.
    let mut text = Vec::new();
    stdin
        .read_to_end(&mut text)
        .context("reading <stdin>: expected a list of profile paths, one per line")?;
    let mut inputs = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(line));
        let shown = path.display().to_string();
        let not_a_profile = || {
            format!(
                "<stdin>:{}: expected a profile path (or profile text starting with \"mode:\"), found {shown:?}",
                i + 1
            )
        };
        let meta = std::fs::metadata(&path).with_context(not_a_profile)?;
        inputs.push(classify(&shown, path, &meta).with_context(not_a_profile)?);
    }
    if inputs.is_empty() {
        bail!("<stdin>: no input: expected profile text or a list of profile paths");
    }
    pair_inputs(inputs)
}

/// Stdin as peeked by [`from_stdin`]: its buffer holds the first bytes of
/// the profile text, so reading must go on from it, not from a new handle.
static PEEKED_STDIN: Mutex<Option<BufReader<io::Stdin>>> = Mutex::new(None);

/// Replaces the binary inputs among `inputs` (paths [`covdata::accepts`] took) by
/// their pods, in the place of the first; text inputs stay as they are.
fn pair_inputs(inputs: Vec<Input>) -> anyhow::Result<Vec<Input>> {
    let is_binary = |i: &Input| matches!(i, Input::Path(p) if covdata::accepts(p));
    let Some(first) = inputs.iter().position(is_binary) else {
        return Ok(inputs);
    };
    let (binary, mut rest): (Vec<Input>, Vec<Input>) = inputs.into_iter().partition(is_binary);
    let paths: Vec<PathBuf> = binary
        .into_iter()
        .map(|i| match i {
            Input::Path(p) => p,
            _ => unreachable!("partitioned on Input::Path"),
        })
        .collect();
    let pods = covdata::pods(&paths)?.into_iter().map(Input::Covdata);
    rest.splice(first..first, pods);
    Ok(rest)
}
