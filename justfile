# Task runner for vault-plugins-rs (https://just.systems). `just` lists recipes.

# List the recipes
default:
    @just --list

# Build the plugins and run them in an OpenBao dev server (Ctrl-C stops it)
demo *ARGS:
    ./scripts/demo.sh {{ARGS}}

# Everything CI runs: fmt, clippy, static release build, all tests against OpenBao
test *ARGS:
    ./scripts/test.sh {{ARGS}}

# Benchmarks
bench *ARGS:
    ./scripts/bench.sh {{ARGS}}

# Format the whole workspace
fmt:
    cargo fmt --all

# Lint the whole workspace, warnings are errors
clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# Install the pinned OpenBao into .cache/bao and print the binary path
install-bao:
    ./scripts/install-bao.sh
