//! The stop and the collection of a fleet on the local Docker engine, with
//! no exec: covkill lists each harness's cover directory, stops it and
//! waits for its next run's listing; covpull reads the files at each
//! container's own address. The files are those the exec path reads.

use std::fs;
use std::time::SystemTime;

use super::snapshot::execs_since;
use crate::util::kill_pull::*;
use crate::util::*;

const HELLO: &str = "fmt.Fprintln(w, \"hello\")";

#[test]
fn stop_and_collect_on_the_local_engine_start_no_exec_in_any_container() {
    let dir = Dir::new("stop_and_collect_on_the_local_engine_start_no_exec_in_any_container");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "fleet");
    let cs: Vec<Container> = (0..6)
        .map(|i| Container::run(&image, unique("fleet", &format!("c{i}")), &[]))
        .collect();
    for (i, c) in cs.iter().enumerate() {
        for _ in 0..i {
            c.get("/hello");
        }
    }
    let targets: Vec<String> = cs.iter().map(Container::target).collect();
    let kill: Vec<&str> = targets.iter().map(String::as_str).collect();
    let since = SystemTime::now();
    for round in 1..=2 {
        let (k, p) = kill_pipe_pull(&dir, &kill, &["--out", "h"], &[]);
        assert_code(&k, 0, "covkill");
        assert_code(&p, 0, "covpull");
        assert_eq!(text(&k.stderr), "", "round {round}");
        assert_eq!(text(&p.stderr), "", "round {round}");
        let paths = pulled(&dir, b, &p.stdout);
        assert_eq!(paths.len(), cs.len() * round, "round {round}: {paths:?}");
        for (i, c) in cs.iter().enumerate() {
            // The first stop's profile holds the traffic; the second's,
            // taken at once after the restart, none.
            let name = |n: usize| format!("docker_{}.cover-{n}.out", c.0);
            let first = dir.path("h").join(name(1));
            assert_eq!(count_at(b, &first, HELLO), i as u64, "{}", c.0);
            if round == 2 {
                assert_eq!(count_at(b, &dir.path("h").join(name(2)), HELLO), 0);
            }
        }
    }
    for c in &cs {
        assert_eq!(execs_since(c, since), 0, "an exec in {}", c.0);
    }

    // The exec path (the docker CLI, as for a remote engine) reads the very
    // same files.
    let out = dir
        .tool("covpull")
        .env("COVTOOLS_DOCKER", "cli")
        .args(["--out", "e"])
        .args(&targets)
        .output();
    assert_code(&out, 0, "covpull through docker exec");
    let mut names = entries(&dir.path("e"));
    names.sort();
    let mut over_http = entries(&dir.path("h"));
    over_http.sort();
    assert_eq!(names, over_http);
    for n in &names {
        assert_eq!(
            fs::read(dir.path("e").join(n)).unwrap(),
            fs::read(dir.path("h").join(n)).unwrap(),
            "{n}"
        );
    }
}
