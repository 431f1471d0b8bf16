//! Watching a covmerge run from the outside: a run held while it still
//! reads its input.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::{bin, entries, Dir};

/// `covmerge ARGS` started in `dir`, stdout to nowhere, stderr piped.
pub fn spawn_covmerge(dir: &Dir, args: &[&str]) -> Child {
    Command::new(bin("covmerge"))
        .current_dir(&dir.root)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `covmerge -o out.cov` in `dir` fed `input` on a stdin this test holds
/// open, once its temporary output exists: it is still reading.
pub fn covmerge_reading(dir: &Dir, input: &str) -> (Child, ChildStdin) {
    let mut child = Command::new(bin("covmerge"))
        .current_dir(&dir.root)
        .args(["-o", "out.cov"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    let start = Instant::now();
    while !entries(&dir.root).iter().any(|n| n.ends_with(".tmp")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no temporary output appeared while reading"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    (child, stdin)
}

/// A profile of `blocks` blocks (about 40 bytes each), merged output the
/// same size.
pub fn profile(blocks: usize) -> String {
    let mut s = String::with_capacity(blocks * 44 + 12);
    s.push_str("mode: count\n");
    for i in 0..blocks {
        let (file, line) = (i / 1000, i % 1000 + 1);
        s.push_str(&format!(
            "example.com/m/p/f{file:05}.go:{line}.2,{line}.40 3 {}\n",
            i % 7
        ));
    }
    s
}
