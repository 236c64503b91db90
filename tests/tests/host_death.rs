//! A plugin process ends with its host: when the OpenBao server is killed
//! with SIGKILL (it cannot stop its plugins then), the plugin notices its
//! host is gone and exits on its own, instead of lingering as an orphan as
//! Go plugins do.

use std::fs;
use std::time::Duration;

use integration_tests::{BaoServer, crate_version, plugin_binary, wait_for};

const NAME: &str = "example-kv";

/// The parent pid of process `pid`, or `None` once it has ended (a zombie
/// waiting to be reaped has ended too).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces, so split after ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.next()?.parse().ok()
}

#[test]
fn a_plugin_exits_when_its_server_is_killed() {
    let server = BaoServer::start();
    server.install_plugin(
        "secret",
        NAME,
        &plugin_binary("vault-plugin-example-kv"),
        &crate_version("plugins/example-kv"),
    );
    server.enable_secrets(NAME, "kv");
    server.bao_ok(&["write", "kv/kv/hello", "value=world"]);
    let pids = server.plugin_pids(NAME);
    assert_eq!(
        pids.len(),
        1,
        "one plugin process serves the mount: {pids:?}"
    );
    let plugin = pids[0];
    // The plugin is the server's child: killing the server alone (not its
    // process group, as the harness's Drop does) leaves it to itself.
    assert_eq!(parent_of(plugin), Some(server.pid()));

    // SAFETY: kill(2) on the server process this test started.
    unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGKILL) };
    wait_for("the server to die", Duration::from_secs(5), || {
        parent_of(server.pid()).is_none()
    });
    // Without the SDK's watch on its host, the plugin would now run on,
    // reparented, until the harness's Drop kills the process group.
    wait_for(
        "the plugin to exit after its host",
        Duration::from_secs(5),
        || parent_of(plugin).is_none(),
    );
}
