//! The one integration test binary (the ripgrep model): each module tests one
//! area through the real binaries, found with `env!("CARGO_BIN_EXE_…")`.

#[macro_use]
mod util;

mod ci;
mod compose;
mod compose_stack;
mod contract;
mod covdata;
mod cover;
mod diff;
mod docs;
mod faults;
mod gosrc;
mod html;
mod images;
mod install;
mod kill_pull;
mod live;
mod merge;
mod oracle;
mod output;
mod per_test;
mod registry;
mod report;
mod scripts;
mod services;
mod shapes;
mod swarm;
mod tidy;
mod total;
