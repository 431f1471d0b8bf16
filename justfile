# covtools tasks (`pip install rust-just` ships `just`). Each recipe is a thin
# alias for a cargo command, so nothing here is needed to build or test.
# Arguments are passed on as they are (quoted), e.g. `just test -- 'merge::'`.

set positional-arguments

# Run every test (installs Go into ~/.cache/covtools when `go` is not on PATH).
test *args:
    cargo xtask test "$@"

# Benchmark covmerge against `wc -l` on generated monorepo-sized profiles.
bench *args:
    cargo xtask bench "$@"

# Fuzz the readers and the reports for a while (fuzz/, cargo-fuzz; installed when missing).
fuzz *args:
    cargo xtask fuzz "$@"

# (Base image: a local FROM-scratch busybox one, so no registry is needed.)
# The main job on the bundled example: build, run, test, collect, gate.
cover *args:
    cargo xtask integration-cover --base local "$@"

# What CI runs.
ci *args:
    bash .ci/run "$@"

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets -- -D warnings
