# covtools tasks (`pip install rust-just` ships `just`). Each recipe is a thin
# alias for a cargo command, so nothing here is needed to build or test.

# Run every test (installs Go into .tools/ when `go` is not on PATH).
test *args:
    cargo xtask test {{args}}

# Benchmark covmerge against `wc -l` on generated monorepo-sized profiles.
bench *args:
    cargo xtask bench {{args}}

# The main job: build the services, run them, collect, merge and gate coverage.
cover *args:
    cargo xtask integration-cover {{args}}

# What CI runs.
ci:
    bash .ci/run

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets -- -D warnings
