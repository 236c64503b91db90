//! Each plugin binary as a process: what a person running it by hand sees,
//! how it answers each kind of host start, and that it is static and
//! starts in an empty root (no /lib, no /etc, no /tmp), and that every release
//! binary (x86_64, and aarch64 when built) keeps ASLR, full RELRO and an NX stack.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use integration_tests::{crate_version, plugin_binary};

/// Every plugin binary the workspace ships, with its crate folder.
const PLUGINS: &[(&str, &str)] = &[
    ("vault-plugin-example-kv", "plugins/example-kv"),
    ("vault-plugin-example-auth", "plugins/example-auth"),
    ("vault-plugin-secrets-balena", "plugins/secrets-balena"),
    (
        "vault-plugin-secrets-pachyderm",
        "plugins/secrets-pachyderm",
    ),
    ("vault-plugin-secrets-proxmox", "plugins/secrets-proxmox"),
    ("vault-plugin-auth-ibmcloud", "plugins/auth-ibmcloud"),
];

const COOKIE: (&str, &str) = (
    "VAULT_BACKEND_PLUGIN",
    "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
);
const HOST_CERT: &str = include_str!("../fixtures/host-p521.pem");

/// What OpenBao 2.7.2 sets on a normal (AutoMTLS, v5) start.
fn first_probe_env() -> Vec<(&'static str, &'static str)> {
    vec![
        COOKIE,
        ("PLUGIN_PROTOCOL_VERSIONS", "5"),
        ("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true"),
        ("BAO_PLUGIN_AUTOMTLS_ENABLED", "true"),
        ("VAULT_PLUGIN_METADATA_MODE", "false"),
        ("PLUGIN_CLIENT_CERT", HOST_CERT),
        ("PLUGIN_MIN_PORT", "10000"),
        ("PLUGIN_MAX_PORT", "25000"),
        ("VAULT_VERSION", "2.7.2"),
        ("BAO_VERSION", "2.7.2"),
    ]
}

fn spawn(mut cmd: Command, env: &[(&str, &str)]) -> Child {
    cmd.env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("start the plugin")
}

/// The first stdout line, or `None` if the process ends or 10 s pass first.
fn first_line(child: &mut Child) -> Option<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(
            read.ok()
                .filter(|n| *n > 0)
                .map(|_| line.trim_end().to_owned()),
        );
    });
    rx.recv_timeout(Duration::from_secs(10)).ok().flatten()
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for the plugin");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn run_by_hand_it_says_what_it_is_and_fails() {
    for (bin, _) in PLUGINS {
        let out = Command::new(plugin_binary(bin))
            .env_clear()
            .output()
            .expect("run the plugin");
        assert_eq!(out.status.code(), Some(1), "{bin}");
        assert!(out.stdout.is_empty(), "{bin}: nothing on stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not meant to be run directly"),
            "{bin}: {stderr}"
        );
        assert!(stderr.contains("plugin register"), "{bin}: {stderr}");
    }
}

#[test]
fn version_flag_prints_the_crate_version() {
    for (bin, dir) in PLUGINS {
        let out = Command::new(plugin_binary(bin))
            .arg("--version")
            .output()
            .expect("run");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            crate_version(dir)
        );
    }
}

#[test]
fn check_flag_reports_what_would_stop_the_plugin_without_a_cookie() {
    for (bin, dir) in PLUGINS {
        let out = Command::new(plugin_binary(bin))
            .arg("--check")
            .env_remove(COOKIE.0)
            .output()
            .expect("run");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{bin}: {text}");
        assert!(text.contains(&crate_version(dir)), "{bin}: {text}");
        assert!(text.contains("ok       statically linked"), "{bin}: {text}");
        assert!(text.contains("not mounted noexec"), "{bin}: {text}");
        assert!(text.contains("nothing stops this plugin"), "{bin}: {text}");
        // A temp dir where no socket can be made is reported with the fallback.
        let out = Command::new(plugin_binary(bin))
            .arg("--check")
            .env("TMPDIR", "/nonexistent/plugin-check")
            .output()
            .expect("run");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("warning  no unix socket can be made in /nonexistent/plugin-check"),
            "{bin}: {text}"
        );
        assert!(text.contains("falls back to TCP"), "{bin}: {text}");
    }
}

#[test]
fn automtls_start_prints_one_handshake_line_with_an_unpadded_certificate() {
    use base64::Engine as _;
    for (bin, _) in PLUGINS {
        for _ in 0..8 {
            // Certificates differ per start; padding trouble showed in about
            // half of all starts, so try several.
            let mut child = spawn(Command::new(plugin_binary(bin)), &first_probe_env());
            let line = first_line(&mut child);
            let stderr = stop(child);
            let line = line.unwrap_or_else(|| panic!("{bin}: no handshake line; stderr: {stderr}"));
            let fields: Vec<&str> = line.split('|').collect();
            assert_eq!(fields.len(), 6, "{line}");
            assert_eq!(&fields[..3], ["1", "5", "unix"], "{line}");
            assert!(Path::new(fields[3]).is_absolute(), "{line}");
            assert_eq!(fields[4], "grpc");
            let der = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(fields[5])
                .unwrap_or_else(|e| panic!("certificate is not RawStd base64 ({e}): {line}"));
            assert!(
                der.len() > 50 && der[0] == 0x30,
                "not a DER certificate: {line}"
            );
        }
    }
}

#[test]
fn openbao_metadata_probe_is_served_as_plain_v4() {
    // OpenBao's second try at registration: 3,4, no AutoMTLS, no cert.
    let env = [
        COOKIE,
        ("PLUGIN_PROTOCOL_VERSIONS", "3,4"),
        ("VAULT_PLUGIN_AUTOMTLS_ENABLED", "false"),
        ("VAULT_PLUGIN_METADATA_MODE", "true"),
    ];
    for (bin, _) in PLUGINS {
        let mut child = spawn(Command::new(plugin_binary(bin)), &env);
        let line = first_line(&mut child);
        let stderr = stop(child);
        let line = line.unwrap_or_else(|| panic!("{bin}: no handshake line; stderr: {stderr}"));
        assert!(
            line.starts_with("1|4|unix|") && line.ends_with("|grpc|"),
            "{line}"
        );
    }
}

#[test]
fn legacy_tls_bootstrap_is_refused_with_a_clear_message() {
    let env = [
        COOKIE,
        ("PLUGIN_PROTOCOL_VERSIONS", "4"),
        ("VAULT_UNWRAP_TOKEN", "s.legacy"),
    ];
    for (bin, _) in PLUGINS {
        let mut child = spawn(Command::new(plugin_binary(bin)), &env);
        assert_eq!(first_line(&mut child), None, "no handshake line");
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line: serde_json::Value =
            serde_json::from_str(stderr.lines().last().unwrap_or_default())
                .unwrap_or_else(|e| panic!("stderr must be hclog JSON ({e}): {stderr}"));
        assert_eq!(line["@level"], "error", "{line}");
        assert!(
            line["error"]
                .as_str()
                .unwrap_or_default()
                .contains("legacy TLS"),
            "{line}"
        );
    }
}

/// What the program headers and dynamic section of an ELF file say about
/// how it loads.
#[derive(Debug)]
struct ElfLoad {
    /// `e_type` is `ET_DYN`: position independent, loaded at a random address.
    position_independent: bool,
    /// A `PT_INTERP`: the file asks for a dynamic loader.
    interpreter: bool,
    /// `DT_NEEDED` entries: shared libraries it needs.
    needed: usize,
    /// A `PT_GNU_RELRO` segment: relocated data made read-only after start.
    relro: bool,
    /// `DF_BIND_NOW` in `DT_FLAGS` (or `DF_1_NOW` in `DT_FLAGS_1`): every
    /// relocation done at start, so RELRO covers the GOT (full RELRO).
    bind_now: bool,
    /// A `PT_GNU_STACK` without the execute flag: a non-executable stack.
    nx_stack: bool,
}

/// Reads a little-endian 64-bit ELF file's header, program headers and dynamic section.
fn elf_load(bytes: &[u8]) -> ElfLoad {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const PT_GNU_STACK: u32 = 0x6474_e551;
    const PT_GNU_RELRO: u32 = 0x6474_e552;
    const DT_NEEDED: u64 = 1;
    const DT_FLAGS: u64 = 30;
    const DF_BIND_NOW: u64 = 0x8;
    const DT_FLAGS_1: u64 = 0x6fff_fffb;
    const DF_1_NOW: u64 = 0x1;
    const PF_X: u32 = 0x1;
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not a 64-bit ELF");
    assert_eq!(bytes[5], 1, "not a little-endian ELF");
    let mut load = ElfLoad {
        position_independent: u16_at(0x10) == 3,
        interpreter: false,
        needed: 0,
        relro: false,
        bind_now: false,
        nx_stack: false,
    };
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        match u32_at(ph) {
            PT_INTERP => load.interpreter = true,
            PT_GNU_RELRO => load.relro = true,
            PT_GNU_STACK => load.nx_stack = u32_at(ph + 4) & PF_X == 0,
            PT_DYNAMIC => {
                let (offset, size) = (u64_at(ph + 8) as usize, u64_at(ph + 32) as usize);
                for entry in bytes[offset..offset + size].chunks_exact(16) {
                    let tag = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
                    let value = u64::from_le_bytes(entry[8..].try_into().expect("8 bytes"));
                    match tag {
                        DT_NEEDED => load.needed += 1,
                        DT_FLAGS if value & DF_BIND_NOW != 0 => load.bind_now = true,
                        DT_FLAGS_1 if value & DF_1_NOW != 0 => load.bind_now = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    load
}

/// Every release binary to check: the host's, and the arm64 ones when
/// `ARM64_PLUGIN_DIR` names their folder (scripts/test.sh builds and sets it).
fn release_binaries() -> Vec<PathBuf> {
    let mut binaries: Vec<PathBuf> = PLUGINS.iter().map(|(bin, _)| plugin_binary(bin)).collect();
    match std::env::var_os("ARM64_PLUGIN_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => binaries.extend(PLUGINS.iter().map(|(bin, _)| Path::new(&dir).join(bin))),
        None => eprintln!("arm64 binaries not checked: ARM64_PLUGIN_DIR is not set"),
    }
    binaries
}

#[test]
fn binaries_are_statically_linked() {
    for bin in release_binaries() {
        let load = elf_load(&std::fs::read(&bin).expect("read the binary"));
        assert!(
            !load.interpreter,
            "{} asks for a dynamic loader (PT_INTERP)",
            bin.display()
        );
        assert_eq!(
            load.needed,
            0,
            "{} needs shared libraries (DT_NEEDED)",
            bin.display()
        );
    }
}

#[test]
fn binaries_keep_aslr_full_relro_and_a_non_executable_stack() {
    for bin in release_binaries() {
        let load = elf_load(&std::fs::read(&bin).expect("read the binary"));
        let name = bin.display();
        assert!(
            load.position_independent,
            "{name} is not static-pie (ET_DYN): no ASLR for its code; {load:?}"
        );
        assert!(load.relro, "{name} has no PT_GNU_RELRO; {load:?}");
        assert!(
            load.bind_now,
            "{name} is not BIND_NOW: RELRO is partial; {load:?}"
        );
        assert!(
            load.nx_stack,
            "{name} has an executable stack (or no PT_GNU_STACK); {load:?}"
        );
    }
}

#[test]
fn binaries_start_in_an_empty_root() {
    let chroot = ["/usr/sbin/chroot", "/sbin/chroot", "/usr/bin/chroot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chroot(8) is needed for this test");
    for (bin, _) in PLUGINS {
        let root = tempfile::tempdir().expect("temp root");
        std::fs::copy(plugin_binary(bin), root.path().join("plugin")).expect("copy the binary");
        // SAFETY: geteuid has no preconditions.
        let mut cmd = if unsafe { libc::geteuid() } == 0 {
            Command::new(chroot)
        } else {
            // Unprivileged (e.g. a hosted CI runner): a user namespace in
            // which we are root may chroot.
            let mut c = Command::new("unshare");
            c.args(["--user", "--map-root-user", chroot]);
            c
        };
        cmd.arg(root.path()).arg("/plugin");
        let mut child = spawn(cmd, &first_probe_env());
        let line = first_line(&mut child);
        let stderr = stop(child);
        let line = line.unwrap_or_else(|| {
            panic!("{bin}: no handshake line in an empty root; stderr: {stderr}")
        });
        // No /tmp in the root: the plugin falls back to TCP in the host's range.
        assert!(line.starts_with("1|5|tcp|127.0.0.1:"), "{line}");
    }
}

#[test]
fn check_flag_finds_a_noexec_plugin_directory() {
    // A private mount namespace (a user namespace when not root) with a
    // noexec tmpfs: the directory an operator might have chosen.
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("plugins");
    std::fs::create_dir(&target).expect("plugin dir");
    let (bin, _) = PLUGINS[0];
    let script = format!(
        "mount -t tmpfs -o noexec tmpfs {dir} && {bin} --check={dir}",
        dir = target.display(),
        bin = plugin_binary(bin).display()
    );
    // SAFETY: geteuid has no preconditions.
    let mut cmd = Command::new("unshare");
    if unsafe { libc::geteuid() } != 0 {
        cmd.args(["--user", "--map-root-user"]);
    }
    let out = cmd
        .args(["--mount", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "PROBLEM  {} is on {}, mounted noexec",
            target.display(),
            target.display()
        )),
        "{text}"
    );
    assert!(text.contains("fix the problems above"), "{text}");
}
