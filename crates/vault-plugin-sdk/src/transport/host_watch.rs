//! The plugin ends when its host ends.
//!
//! A host that exits cleanly stops its plugins (`Shutdown`, SIGTERM), but a
//! host that is killed (SIGKILL, OOM killer, a crash) cannot: its plugin
//! processes would live on as orphans, holding their sockets, memory and
//! upstream connections. Go plugins do linger; ours exit.
//!
//! [`exit_with_host`] starts a thread that waits for the host process to
//! end and then exits the plugin at once. On Linux it waits on a pidfd of
//! the host (`pidfd_open`, Linux 5.3+), which becomes readable when the
//! host process ends; elsewhere, or if that fails, it polls `getppid()`
//! for a change (the kernel gives an orphan a new parent).
//!
//! `prctl(PR_SET_PDEATHSIG)` is not used: it fires when the *thread* that
//! forked the plugin ends, not its process, and the Go runtime ends OS
//! threads (a goroutine that exits while locked to its thread), so a
//! healthy host could have its plugin killed under it. A plain thread is
//! used rather than a task so that a busy or stuck async runtime cannot
//! delay the exit.

use std::thread;
use std::time::Duration;

/// How often the fallback compares `getppid()` with the host's pid.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Starts the watch on the process that started the plugin (the host):
/// when it ends, the plugin process exits. Called once, at startup, before
/// the plugin serves.
///
/// If the parent changes between the first look and the watch being in
/// place (the host died during startup), the plugin exits at once. A host
/// that died before the first look cannot be told from a host running as
/// pid 1 (in a container, which is watched like any other), so the plugin
/// does not exit just because its parent is pid 1.
pub fn exit_with_host() {
    let host = parent_pid();
    let spawned = thread::Builder::new()
        .name("host-watch".into())
        .spawn(move || {
            wait_for_exit(host);
            tracing::debug!(host_pid = host, "the host process ended; the plugin exits");
            std::process::exit(0);
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot watch the host process; the plugin may outlive it");
    }
}

/// The pid of the process that started this one.
fn parent_pid() -> libc::pid_t {
    // SAFETY: getppid takes no arguments and cannot fail.
    unsafe { libc::getppid() }
}

/// Returns once process `host` has ended.
fn wait_for_exit(host: libc::pid_t) {
    #[cfg(target_os = "linux")]
    if let Some(pidfd) = pidfd::open(host) {
        // The pidfd names the process we saw as parent, unless it ended
        // before `pidfd_open` and its pid was reused: then our parent has
        // changed already, which this check catches.
        if parent_pid() != host || pidfd::wait(&pidfd) {
            return;
        }
    }
    while parent_pid() == host {
        thread::sleep(POLL_INTERVAL);
    }
}

#[cfg(target_os = "linux")]
mod pidfd {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    /// A pidfd of process `pid`, or `None` if the kernel has none to give
    /// (before 5.3, or a seccomp filter): the caller then polls.
    pub(super) fn open(pid: libc::pid_t) -> Option<OwnedFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: the kernel just returned this fd, and nothing else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Blocks until the process behind `pidfd` has ended (the fd is then
    /// readable) and returns true, or returns false if `poll` fails.
    pub(super) fn wait(pidfd: &OwnedFd) -> bool {
        let mut fds = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd, and the count we pass is 1; no timeout.
            let rc = unsafe { libc::poll(&mut fds, 1, -1) };
            if rc > 0 {
                return true;
            }
            if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// The pidfd wait returns once the process has ended, not before: the
    /// child is then a zombie ready to be reaped. (The whole watch is
    /// tested end to end in `tests/tests/host_death.rs`, with a real host
    /// killed under a plugin.)
    #[cfg(target_os = "linux")]
    #[test]
    fn pidfd_wait_returns_once_the_process_has_ended() {
        let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        let fd = pidfd::open(pid).expect("pidfd_open works on this kernel");
        assert!(child.try_wait().unwrap().is_none(), "still running");
        assert!(pidfd::wait(&fd));
        assert!(
            child.try_wait().unwrap().is_some(),
            "ended when the wait returned"
        );
    }

    #[test]
    fn a_running_parent_is_not_seen_as_ended() {
        let host = parent_pid();
        assert_eq!(host, std::os::unix::process::parent_id() as libc::pid_t);
        #[cfg(target_os = "linux")]
        {
            let fd = pidfd::open(host).expect("pidfd_open works on this kernel");
            let mut fds = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&fd),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; zero timeout.
            assert_eq!(
                unsafe { libc::poll(&mut fds, 1, 0) },
                0,
                "the test runner is alive"
            );
        }
    }
}
