//! The one worker pool of covtools: run a function over items on a bounded
//! number of scoped threads, results in item order. Every tool and task that
//! works in parallel (merging inputs, reading sources, building services,
//! starting containers, driving targets) goes through here; [`Slots`] bounds
//! one kind of work among threads started for another.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// The default number of workers: `COVTOOLS_THREADS` when set to a positive
/// number, else one per core.
pub fn default_threads() -> usize {
    std::env::var("COVTOOLS_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` on every item with at most `threads` workers (0 means one per
/// item); results come back in item order. A panic in `f` is re-raised.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = match threads {
        0 => items.len(),
        n => n.min(items.len()),
    };
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was run"))
        .collect()
}

/// Runs `f` on every item, each in its own thread (for a handful of items
/// that mostly wait: processes, containers, network); results in item order.
pub fn each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map(items, 0, f)
}

/// A bound on how many threads do one kind of work at once, for work that
/// arrives on threads started for something else (a target's exec, a
/// file being written): [`Slots::take`] waits for a free slot, held until
/// the [`Slot`] is dropped. Unbounded until [`Slots::limit`] is called.
pub struct Slots {
    /// Free slots; `None`: no bound.
    free: Mutex<Option<usize>>,
    freed: Condvar,
}

impl Slots {
    /// Unbounded slots (`const`, for a `static`).
    pub const fn unbounded() -> Slots {
        Slots {
            free: Mutex::new(None),
            freed: Condvar::new(),
        }
    }

    /// `n` slots (at least one).
    pub const fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(Some(if n == 0 { 1 } else { n })),
            freed: Condvar::new(),
        }
    }

    /// Bounds the work to `n` at once (at least one); call it before any
    /// slot is taken.
    pub fn limit(&self, n: usize) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) = Some(n.max(1));
    }

    /// Waits for a free slot.
    pub fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match *free {
                None => return Slot(None),
                Some(0) => free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner()),
                Some(ref mut n) => {
                    *n -= 1;
                    return Slot(Some(self));
                }
            }
        }
    }
}

/// One slot of [`Slots`], given back when dropped.
pub struct Slot<'a>(Option<&'a Slots>);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(slots) = self.0 {
            let mut free = slots.free.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = free.as_mut() {
                *n += 1;
            }
            slots.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_item_order_whatever_the_worker_count() {
        let items: Vec<u32> = (0..100).collect();
        for threads in [0, 1, 2, 7, 1000] {
            let out = super::map(&items, threads, |&x| x * 2);
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(super::each(&[] as &[u32], |&x| x).is_empty());
    }

    #[test]
    fn slots_bound_the_work_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let slots = super::Slots::new(3);
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        super::each(&[(); 12], |_| {
            let _slot = slots.take();
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            now.fetch_sub(1, Ordering::SeqCst);
        });
        assert_eq!(most.load(Ordering::SeqCst), 3);
        let free = super::Slots::unbounded();
        let _all: Vec<_> = (0..100).map(|_| free.take()).collect();
    }
}
