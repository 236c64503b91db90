//! `--check`: what would stop this plugin from starting on this host, and
//! how to fix it, printed without a host and without the magic cookie.
//!
//! Operators' most common plugin failure is "plugin exited before we could
//! connect" with no reason: the plugin directory mounted `noexec`, a binary
//! the server's user may not execute, mlock without the capability, a temp
//! directory where the unix socket cannot be made, a dynamically linked
//! binary on a host without its libc. Each check here tries the real thing
//! where it can (lock memory, bind the socket) and names the fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do.
    Ok,
    /// Matters only in some setups (said in the finding).
    Warning,
    /// Stops the plugin from starting.
    Problem,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How it came out.
    pub outcome: Outcome,
    /// What was checked and found.
    pub text: String,
}

impl Finding {
    fn new(outcome: Outcome, text: impl Into<String>) -> Self {
        Self {
            outcome,
            text: text.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.outcome {
            Outcome::Ok => "ok     ",
            Outcome::Warning => "warning",
            Outcome::Problem => "PROBLEM",
        };
        write!(f, "{tag}  {}", self.text)
    }
}

/// Runs every check for the running binary, as if started from
/// `plugin_dir` (default: the binary's own directory); prints a report to
/// stdout and returns whether nothing stops the plugin from starting.
///
/// A binary in a `noexec` directory cannot run at all, so to check a
/// plugin directory run a copy from elsewhere with `--check=<directory>`.
pub fn run(version: &str, plugin_dir: Option<&Path>) -> bool {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    println!("{} {version} ({})", binary_name(&exe), exe.display());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = plugin_dir.unwrap_or_else(|| exe.parent().unwrap_or(&exe));
    let findings = [
        executable(&exe),
        not_noexec(dir, &mountinfo),
        statically_linked(&std::fs::read(&exe).unwrap_or_default()),
        memory_lock(),
        socket_dir(),
    ];
    for finding in &findings {
        println!("{finding}");
    }
    let ok = findings.iter().all(|f| f.outcome != Outcome::Problem);
    println!(
        "{}",
        if ok {
            "nothing stops this plugin from starting here"
        } else {
            "fix the problems above, then register the plugin again"
        }
    );
    ok
}

fn binary_name(exe: &Path) -> String {
    exe.file_name()
        .map_or_else(|| "plugin".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Who may execute the binary: the server usually runs as its own user.
fn executable(exe: &Path) -> Finding {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(exe) else {
        return Finding::new(Outcome::Warning, "could not read the binary's permissions");
    };
    let mode = meta.mode() & 0o7777;
    let text = format!("binary mode {mode:04o}, owner uid {}", meta.uid());
    if mode & 0o011 == 0 {
        Finding::new(
            Outcome::Warning,
            format!(
                "{text}: only its owner may execute it; unless the server runs as uid {}, \
                 `chmod 0755 {}`",
                meta.uid(),
                exe.display()
            ),
        )
    } else {
        Finding::new(Outcome::Ok, text)
    }
}

/// The mount holding `path` (longest mount point that is a prefix of it)
/// and whether it is mounted `noexec`, from `/proc/self/mountinfo` text.
fn mount_of<'a>(path: &Path, mountinfo: &'a str) -> Option<(&'a str, bool)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let point = fields.nth(4)?;
            let options = fields.next()?;
            Some((point, options.split(',').any(|o| o == "noexec")))
        })
        .filter(|(point, _)| path.starts_with(point))
        .max_by_key(|(point, _)| point.len())
}

fn not_noexec(dir: &Path, mountinfo: &str) -> Finding {
    match mount_of(dir, mountinfo) {
        Some((point, true)) => Finding::new(
            Outcome::Problem,
            format!(
                "{} is on {point}, mounted noexec: the server cannot start plugins from it \
                 (\"plugin exited before we could connect\"); use a plugin_directory on an \
                 exec-mounted filesystem or remount {point} with exec",
                dir.display()
            ),
        ),
        Some((point, false)) => Finding::new(
            Outcome::Ok,
            format!("{} is on {point}, not mounted noexec", dir.display()),
        ),
        None => Finding::new(
            Outcome::Warning,
            format!("could not tell how {} is mounted", dir.display()),
        ),
    }
}

/// Whether an ELF image asks for a dynamic loader (has `PT_INTERP`).
fn needs_loader(elf: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    // 64-bit little-endian ELF only (x86_64 and aarch64).
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    let mut interp = false;
    for i in 0..phnum {
        interp |= u32_at(phoff + i * phentsize)? == PT_INTERP;
    }
    Some(interp)
}

fn statically_linked(elf: &[u8]) -> Finding {
    match needs_loader(elf) {
        Some(false) => Finding::new(
            Outcome::Ok,
            "statically linked: needs no libc or dynamic loader on the host",
        ),
        Some(true) => Finding::new(
            Outcome::Warning,
            "dynamically linked: it needs the same libc as the machine it was built on \
             (a musl/Alpine host fails with \"no such file\"); use the static release build",
        ),
        None => Finding::new(Outcome::Warning, "could not read the binary's ELF header"),
    }
}

/// Tries what the plugin does when the server runs with mlock.
fn memory_lock() -> Finding {
    // SAFETY: mlockall and munlockall take only flags and touch no memory of ours.
    let locked = unsafe { libc::mlockall(libc::MCL_CURRENT) } == 0;
    if locked {
        // SAFETY: as above.
        unsafe { libc::munlockall() };
        return Finding::new(
            Outcome::Ok,
            "memory can be locked (works with a server that uses mlock)",
        );
    }
    let err = std::io::Error::last_os_error();
    Finding::new(
        Outcome::Warning,
        format!(
            "memory cannot be locked ({err}): a Vault server with mlock enabled would fail to \
             start this plugin; `setcap cap_ipc_lock=+ep <binary>`, or `disable_mlock = true` \
             in Vault's config (OpenBao never asks plugins to lock memory)"
        ),
    )
}

/// Makes the unix socket the plugin would listen on, in the same place.
fn socket_dir() -> Finding {
    let base = std::env::var_os("PLUGIN_UNIX_SOCKET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    match super::listener::probe_unix(&base) {
        Ok(()) => Finding::new(
            Outcome::Ok,
            format!("a unix socket can be made in {}", base.display()),
        ),
        Err(err) => Finding::new(
            Outcome::Warning,
            format!(
                "no unix socket can be made in {} ({err}): the plugin falls back to TCP on \
                 127.0.0.1; make the directory writable (or set TMPDIR) to use a socket",
                base.display()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /tmp rw,nosuid,nodev,noexec shared:5 - tmpfs tmpfs rw
31 22 8:2 / /var/lib rw,relatime shared:6 - ext4 /dev/sda2 rw
32 31 0:27 / /var/lib/openbao/plugins rw,noexec,relatime shared:7 - ext4 /dev/sda3 rw";

    #[test]
    fn the_longest_mount_point_decides_noexec() {
        let cases = [
            ("/usr/local/lib/plugins", Some(("/", false))),
            ("/tmp/x", Some(("/tmp", true))),
            ("/var/lib/vault", Some(("/var/lib", false))),
            (
                "/var/lib/openbao/plugins",
                Some(("/var/lib/openbao/plugins", true)),
            ),
            ("/var/lib/openbao/pluginsX", Some(("/var/lib", false))),
        ];
        for (path, want) in cases {
            assert_eq!(mount_of(Path::new(path), MOUNTINFO), want, "{path}");
        }
        assert_eq!(mount_of(Path::new("/x"), ""), None);
    }

    #[test]
    fn a_noexec_plugin_directory_is_a_problem_naming_the_mount() {
        let f = not_noexec(Path::new("/var/lib/openbao/plugins"), MOUNTINFO);
        assert_eq!(f.outcome, Outcome::Problem);
        assert!(f.text.contains("mounted noexec"), "{f}");
        let f = not_noexec(Path::new("/usr/lib"), MOUNTINFO);
        assert_eq!(f.outcome, Outcome::Ok);
    }

    /// A minimal ELF64 header with one program header of type `ptype`.
    fn elf_with(ptype: u32) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&ptype.to_le_bytes());
        elf
    }

    #[test]
    fn static_and_dynamic_binaries_are_told_apart() {
        assert_eq!(needs_loader(&elf_with(1)), Some(false));
        assert_eq!(needs_loader(&elf_with(3)), Some(true));
        assert_eq!(needs_loader(b"#!/bin/sh"), None);
        assert_eq!(needs_loader(&elf_with(3)[..66]), None);
        assert_eq!(statically_linked(&elf_with(3)).outcome, Outcome::Warning);
        // This test binary itself: dynamic, unless built with +crt-static
        // (as scripts/test-arm64.sh builds the aarch64 tests).
        let me = std::fs::read("/proc/self/exe").unwrap();
        let static_build = cfg!(target_feature = "crt-static");
        assert_eq!(needs_loader(&me), Some(!static_build));
    }

    #[test]
    fn a_writable_socket_dir_passes_and_a_missing_one_is_reported() {
        let dir = std::env::temp_dir();
        assert!(super::super::listener::probe_unix(&dir).is_ok());
        let missing = dir.join("no-such-dir-for-a-plugin-check");
        assert!(super::super::listener::probe_unix(&missing).is_err());
    }
}
