//! The one timed wait for children: woken by SIGCHLD (the sigchld crate's
//! self-pipe), never by a polling tick.

use std::io;
use std::process::{Child, ExitStatus};
use std::time::Instant;

/// Waits until `done` says so or `deadline` passes, asking `done` again
/// each time a child of this process ends (SIGCHLD): no polling. Returns
/// whether `done` said so. `done` must look without blocking (`try_wait`,
/// `waitid` with WNOHANG).
pub fn wait_for_children(
    deadline: Instant,
    mut done: impl FnMut() -> io::Result<bool>,
) -> io::Result<bool> {
    // Made before the first look, so a SIGCHLD in between is not missed.
    let mut waiter = sigchld::Waiter::new()?;
    loop {
        let now = Instant::now();
        if done()? {
            return Ok(true);
        }
        if now >= deadline {
            return Ok(false);
        }
        waiter.wait_deadline(deadline)?;
    }
}

/// Waits for `child` until `deadline`: its status once it has ended, `None`
/// while it still runs at the deadline (it is left running: what to do
/// then, kill it or its group, is the caller's).
pub fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    let mut status = None;
    wait_for_children(deadline, || {
        status = child.try_wait()?;
        Ok(status.is_some())
    })?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::super::process;
    use super::*;
    use std::time::Duration;

    #[test]
    fn wait_until_returns_at_the_exit_or_the_deadline() {
        let mut quick = process("true").spawn().unwrap();
        let st = wait_until(&mut quick, Instant::now() + Duration::from_secs(10)).unwrap();
        assert!(st.expect("true ends at once").success());

        let mut slow = process("sleep").arg("10").spawn().unwrap();
        let t0 = Instant::now();
        let st = wait_until(&mut slow, t0 + Duration::from_millis(100)).unwrap();
        let took = t0.elapsed();
        assert!(st.is_none(), "{st:?}");
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(slow.try_wait().unwrap().is_none(), "left running");
        slow.kill().unwrap();
        slow.wait().unwrap();

        // Woken by the exit, not by a tick: a child that ends after 200 ms
        // is seen well before a 20 s deadline.
        let mut later = process("sleep").arg("0.2").spawn().unwrap();
        let t0 = Instant::now();
        let st = wait_until(&mut later, t0 + Duration::from_secs(20)).unwrap();
        assert!(st.unwrap().success());
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }
}
