# The aarch64 (Raspberry Pi) cross toolchain, on x86_64 Debian 12 (sourced by
# build-release.sh and test.sh, not run).
#
# rustup here has only the x86_64 standard library. Debian bookworm-security
# ships `rustc-web`/`cargo-web` (kept current for Firefox ESR) and, from the
# same build, `libstd-rust-web-dev` for arm64. A rustc and a std must come from
# the exact same build, so aarch64 builds use Debian's /usr/bin/rustc and
# /usr/bin/cargo (rustup's ~/.cargo/bin comes first on PATH: they are called
# by full path) with the arm64 std of exactly the installed rustc-web version,
# downloaded with a private apt sources list into .cache/arm64 (the machine's
# apt sources are never changed). The workspace `rust-version` must stay at or
# below the rustc-web version.
#
# After `arm64_toolchain`: ARM64_CARGO is the cargo to run, and the
# environment has RUSTC, the linker, the qemu test runner and ARM64_RUSTFLAGS
# (the sysroot; build-release.sh adds its release flags).
# shellcheck shell=bash

ARM64_TARGET="${ARM64_TARGET:-aarch64-unknown-linux-gnu}"
ARM64_PACKAGES=(rustc-web cargo-web gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)

arm64_log() { printf 'arm64-toolchain: %s\n' "$*" >&2; }

# The machine's Debian mirror for a suite family ("debian" or "debian-security"),
# read from its apt sources (deb822 or one-line form), deb.debian.org otherwise.
arm64_mirror() {
    local family="$1" uri
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
        grep -oE 'https?://[^ ]+' | grep -E "/${family}/?\$" | head -n 1 || true)"
    echo "${uri:-http://deb.debian.org/${family}}"
}

# Makes .cache/arm64/std-<version>/sysroot, whose lib/rustlib holds the
# aarch64 std of the installed rustc-web, and prints its path.
arm64_sysroot() {
    local version dir
    version="$(dpkg-query -W -f='${Version}' rustc-web)"
    dir="$ROOT/.cache/arm64/std-$version"
    if [[ -d "$dir/sysroot/lib/rustlib/$ARM64_TARGET/lib" ]]; then
        echo "$dir/sysroot"
        return 0
    fi
    arm64_log "fetching libstd-rust-web-dev:arm64=$version into $dir"
    rm -rf "$dir"
    mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/deb"
    local main security
    main="$(arm64_mirror debian)"
    security="$(arm64_mirror debian-security)"
    cat >"$dir/apt/sources.list" <<EOF
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $main bookworm main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security bookworm-security main
EOF
    local apt=(apt-get -q
        -o "Dir::Etc::SourceList=$dir/apt/sources.list"
        -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$dir/apt/lists"
        -o "Dir::Cache=$dir/apt/cache"
        -o APT::Architecture=arm64
        -o APT::Architectures::=arm64
        -o APT::Sandbox::User=root)
    "${apt[@]}" update >&2
    (cd "$dir/deb" && "${apt[@]}" download "libstd-rust-web-dev:arm64=$version" >&2)
    local deb
    deb="$(ls "$dir"/deb/libstd-rust-web-dev_*_arm64.deb)"
    dpkg-deb -x "$deb" "$dir/extract"
    mkdir -p "$dir/sysroot/lib/rustlib"
    mv "$dir/extract/usr/lib/rustlib/$ARM64_TARGET" "$dir/sysroot/lib/rustlib/"
    rm -rf "$dir/extract" "$dir/apt"
    echo "$dir/sysroot"
}

# Installs what is missing and sets up the environment for aarch64 builds.
arm64_toolchain() {
    install_debian_packages "${ARM64_PACKAGES[@]}"
    local sysroot
    sysroot="$(arm64_sysroot)"
    ARM64_CARGO=/usr/bin/cargo
    export RUSTC=/usr/bin/rustc
    # aarch64-linux-gnu-gcc, turning rustc's static link into a static-pie.
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="$ROOT/scripts/aarch64-static-pie-cc"
    # binfmt_misc may not be mounted: run test binaries through qemu explicitly.
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
    ARM64_RUSTFLAGS="--sysroot=$sysroot"
    export ARM64_CARGO ARM64_RUSTFLAGS
}
