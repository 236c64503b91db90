//! Our plugins distributed as OCI images, the way OpenBao 2.5+ installs
//! them from its config: `scripts/oci-image.sh` publishes every plugin to a
//! registry on loopback (Debian's `docker-registry`, plain HTTP), the
//! `plugin` blocks it prints go into a production-shape server's config with
//! `plugin_auto_download` and `plugin_auto_register`, and at its next start
//! the server downloads each image, checks the binary's sha256 and registers
//! it; each plugin then mounts and answers.
//!
//! Needs `buildah` and `docker-registry` (scripts/test.sh installs both);
//! without them the test says so and passes without running.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use integration_tests::prod::ProdServer;
use integration_tests::{crate_version, plugin_search_dirs, sha256_file, wait_for, workspace_root};

/// A `docker-registry` on loopback, stopped on drop.
struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(bin: &Path) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("the registry to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name`'s path if it is on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Our plugins: (type, catalog name, binary, crate directory).
const PLUGINS: &[(&str, &str, &str, &str)] = &[
    (
        "secret",
        "example-kv",
        "vault-plugin-example-kv",
        "plugins/example-kv",
    ),
    (
        "auth",
        "example-auth",
        "vault-plugin-example-auth",
        "plugins/example-auth",
    ),
    (
        "secret",
        "secrets-balena",
        "vault-plugin-secrets-balena",
        "plugins/secrets-balena",
    ),
    (
        "secret",
        "secrets-pachyderm",
        "vault-plugin-secrets-pachyderm",
        "plugins/secrets-pachyderm",
    ),
    (
        "secret",
        "secrets-proxmox",
        "vault-plugin-secrets-proxmox",
        "plugins/secrets-proxmox",
    ),
    (
        "auth",
        "auth-ibmcloud",
        "vault-plugin-auth-ibmcloud",
        "plugins/auth-ibmcloud",
    ),
];

#[test]
fn the_server_downloads_registers_and_runs_our_oci_images() {
    let (Some(registry_bin), Some(_)) = (on_path("docker-registry"), on_path("buildah")) else {
        eprintln!(
            "SKIPPED: needs docker-registry and buildah on PATH \
             (Debian: apt-get install docker-registry buildah; scripts/test.sh installs them)."
        );
        return;
    };
    let registry = Registry::start(&registry_bin);
    let binaries = plugin_search_dirs()
        .into_iter()
        .find(|d| d.join("vault-plugin-example-kv").is_file())
        .expect("no release build of the plugins: run ./scripts/build-release.sh --workspace");
    let storage = tempfile::tempdir().unwrap();
    let out = Command::new(workspace_root().join("scripts/oci-image.sh"))
        .args(["--registry", &format!("{}/vault-plugins-rs", registry.addr)])
        .arg("--binaries")
        .arg(&binaries)
        .arg("--insecure")
        .env("OCI_STORAGE_DIR", storage.path())
        .output()
        .unwrap();
    let blocks = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "oci-image.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        blocks.matches("plugin \"").count(),
        PLUGINS.len(),
        "{blocks}"
    );

    let mut server = ProdServer::start();
    server.add_config(
        "oci-plugins",
        &format!("plugin_auto_download = true\nplugin_auto_register = true\n\n{blocks}"),
    );
    server.stop();
    server.start_again();

    for &(kind, name, binary, crate_dir) in PLUGINS {
        let version = crate_version(crate_dir);
        let info = server.bao_json(&["plugin", "info", &format!("-version={version}"), kind, name]);
        assert_eq!(
            info["sha256"],
            sha256_file(&binaries.join(binary)),
            "{name}: the registered sha256 is not our binary's: {info}"
        );
        let command = info["command"].as_str().unwrap_or_default();
        let installed = server.plugin_dir().join(command);
        assert!(
            installed.is_symlink() && sha256_file(&installed) == info["sha256"],
            "{name}: {} is not the downloaded binary",
            installed.display()
        );
        let (enable, list) = if kind == "auth" {
            ("auth", "auth")
        } else {
            ("secrets", "secrets")
        };
        server.bao_ok(&[
            enable,
            "enable",
            &format!("-path={name}"),
            &format!("-plugin-version={version}"),
            name,
        ]);
        let mounts = server.bao_json(&[list, "list", "-detailed"]);
        let entry = &mounts[format!("{name}/")];
        assert_eq!(entry["running_plugin_version"], version.as_str(), "{entry}");
        assert_eq!(entry["running_sha256"], info["sha256"], "{entry}");
    }
    let ping = server.bao_json(&["read", "example-kv/ping"]);
    assert_eq!(
        ping["data"]["version"],
        crate_version("plugins/example-kv").as_str(),
        "{ping}"
    );
    let log = server.log_contents();
    let downloads = log
        .lines()
        .filter(|l| l.contains("plugins: downloaded plugin:"))
        .count();
    assert_eq!(downloads, PLUGINS.len(), "one download per plugin");
}
