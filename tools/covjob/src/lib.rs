//! The whole covtools job, as the `covtools` command runs it and as
//! `cargo xtask integration-cover` and the integration tests call it:
//! the configuration (`config`, a leaf), the builds (`build_services`) and
//! images (`docker_images`), where services run (`runtime`), and the run
//! itself (`cover`: start, tests, phases, collect, reports), with its
//! progress on stderr (`progress`) and the Go toolchain (`toolchain`).

pub mod build_services;
pub mod cli;
pub mod config;
pub mod cover;
pub mod docker_images;
pub mod progress;
pub mod runtime;
pub mod toolchain;
