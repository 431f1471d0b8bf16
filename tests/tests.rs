//! The one integration test binary (the ripgrep model): each module tests one
//! area through the real binaries, found with `env!("CARGO_BIN_EXE_…")`.

#[macro_use]
mod util;

mod compose;
mod compose_stack;
mod contract;
mod covdata;
mod cover;
mod diff;
mod gosrc;
mod html;
mod images;
mod kill_pull;
mod live;
mod merge;
mod oracle;
mod output;
mod report;
mod services;
mod shapes;
mod total;
