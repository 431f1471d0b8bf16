//! covcore: the one place that knows the Go coverage profile grammar, the
//! merge rules and the totals, plus the plumbing every covtools binary shares
//! (inputs from files, globs or stdin; atomic outputs; exit codes and errors).

pub mod args;
pub mod cli;
pub mod contract;
pub mod covdata;
pub mod diff;
pub mod exit_codes;
pub mod gosrc;
pub mod input;
pub mod lines;
pub mod merge;
pub mod output;
pub mod pool;
pub mod process;
pub mod profile;
pub mod testmap;
pub mod total;
