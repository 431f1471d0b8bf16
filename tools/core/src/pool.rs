//! The one worker pool of covtools: run a function over items on a bounded
//! number of scoped threads, results in item order. Every tool and task that
//! works in parallel (merging inputs, reading sources, building services,
//! starting containers, driving targets) goes through here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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
}
