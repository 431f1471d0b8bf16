//! Random profiles over one source version, and their merge and total
//! computed the obvious way: the right answers that covmerge and covtotal
//! are checked against.

use std::collections::BTreeMap;

use super::profile_text::{block_lines, parse_block, Key};

/// xorshift64*: small, deterministic, good enough to shuffle test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const MAX_COUNT: u64 = u32::MAX as u64;

pub struct RandomCase {
    pub mode: &'static str,
    /// Profile texts.
    pub profiles: Vec<String>,
}

/// Profiles over a shared universe of non-overlapping blocks per file (as
/// one source version gives), each listing a random subset with random counts,
/// some near the 32-bit saturation point, in a random line order.
pub fn random_case(seed: u64) -> RandomCase {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mode = ["set", "count", "atomic"][rng.below(3) as usize];
    // Paths with a colon, spaces and non-ASCII bytes: parsed from the right,
    // sorted bytewise.
    let names = [
        "example.com/m/a.go",
        "example.com/m/B.go",
        "C:/src/m/x y.go",
        "example.com/m/ü.go",
        "z.go",
        "example.com/m/a/b.go",
    ];
    let nfiles = 1 + rng.below(names.len() as u64) as usize;
    let mut universe = Vec::new();
    for name in &names[..nfiles] {
        let (mut line, mut col) = (1 + rng.below(20) as u32, 1u32);
        for _ in 0..1 + rng.below(40) {
            let sl = if rng.chance(0.3) {
                line
            } else {
                line + 1 + rng.below(5) as u32
            };
            let sc = if sl == line {
                col + rng.below(3) as u32
            } else {
                1 + rng.below(60) as u32
            };
            let el = sl + rng.below(4) as u32;
            let ec = if el == sl {
                sc + 1 + rng.below(30) as u32
            } else {
                1 + rng.below(80) as u32
            };
            universe.push((name.to_string(), sl, sc, el, ec, rng.below(9) as u32));
            (line, col) = (el, ec);
        }
    }
    let nprofiles = 2 + rng.below(4) as usize;
    let mut profiles = Vec::new();
    for _ in 0..nprofiles {
        let mut lines = Vec::new();
        for b in &universe {
            if !rng.chance(0.7) {
                continue;
            }
            let count = match (mode, rng.below(10)) {
                ("set", _) => rng.below(2),
                (_, 0..=3) => 0,
                (_, 4) => MAX_COUNT - rng.below(3),
                _ => rng.below(1000),
            };
            lines.push(format!(
                "{}:{}.{},{}.{} {} {}",
                b.0, b.1, b.2, b.3, b.4, b.5, count
            ));
        }
        for i in (1..lines.len()).rev() {
            lines.swap(i, rng.below(i as u64 + 1) as usize);
        }
        profiles.push(format!(
            "mode: {mode}\n{}",
            lines.iter().map(|l| format!("{l}\n")).collect::<String>()
        ));
    }
    RandomCase { mode, profiles }
}

/// The merge of `profiles`, computed the obvious way.
pub fn expected_merge(mode: &str, profiles: &[&String]) -> String {
    let mut blocks: BTreeMap<Key, (u32, u64)> = BTreeMap::new();
    for p in profiles {
        for l in block_lines(p) {
            let (k, ns, c) = parse_block(l);
            let e = blocks.entry(k).or_insert((ns, 0));
            e.1 = if mode == "set" {
                e.1 | c
            } else {
                (e.1 + c).min(MAX_COUNT)
            };
        }
    }
    let mut out = format!("mode: {mode}\n");
    for ((file, sl, sc, el, ec), (ns, c)) in blocks {
        out.push_str(&format!(
            "{}:{sl}.{sc},{el}.{ec} {ns} {c}\n",
            String::from_utf8(file).unwrap()
        ));
    }
    out
}

pub fn expected_total(merged: &str) -> String {
    let (mut covered, mut total) = (0u64, 0u64);
    for l in block_lines(merged) {
        let (_, ns, c) = parse_block(l);
        total += u64::from(ns);
        covered += if c > 0 { u64::from(ns) } else { 0 };
    }
    // Go prints `%.1f` of 100*covered/total; Rust's {:.1} rounds the same
    // binary value the same way (to nearest, ties to even).
    let pct = if total == 0 {
        0.0
    } else {
        100.0 * covered as f64 / total as f64
    };
    format!("{pct:.1}")
}
