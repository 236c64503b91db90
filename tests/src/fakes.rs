//! The five fake upstreams in one value, seeded the same way for the demo
//! (`src/bin/fake-upstreams.rs`) and the fleet of every plugin
//! ([`crate::fleet`]): a balena user with a session, an IBM Cloud account
//! with an admin and an app service ID, a Proxmox config token and a user
//! to mint tokens of.

use std::io;
use std::time::Duration;

use crate::fake_balena::FakeBalena;
use crate::fake_iam::{FakeIam, Identity};
use crate::fake_keys::FakeKeyService;
use crate::fake_pachd::FakePachd;
use crate::fake_proxmox::FakeProxmox;

/// The IBM Cloud account the fake IAM's identities belong to.
pub const IBM_ACCOUNT: &str = "demo-account";

/// Every fake, started and seeded; each stops when dropped.
pub struct Fakes {
    /// example-kv's key service.
    pub keys: FakeKeyService,
    /// The balena API, with user `demo` (password `demo-password`).
    pub balena: FakeBalena,
    /// A seven-day session token of `demo`, what a balena role holds.
    pub balena_session: String,
    /// pachd; its root token is the admin token of a pachyderm mount.
    pub pachd: FakePachd,
    /// IBM Cloud IAM, with the service IDs `vault-admin` and `demo-app`.
    pub iam: FakeIam,
    /// The API key of `vault-admin`, for the auth-ibmcloud config.
    pub ibm_admin_key: String,
    /// The API key of `demo-app`, which logs in.
    pub ibm_app_key: String,
    /// The subject (`sub`) of `demo-app`, what a role binds.
    pub ibm_app_subject: String,
    /// The Proxmox API, with user `alice@pve` (PVEVMUser on `/vms`).
    pub proxmox: FakeProxmox,
    /// The secret of `root@pam!vault`, the config token of a proxmox mount.
    pub proxmox_token_secret: String,
}

impl Fakes {
    /// Starts and seeds every fake.
    ///
    /// # Errors
    /// If a fake cannot start.
    pub fn start() -> io::Result<Fakes> {
        let keys = FakeKeyService::start()?;
        let balena = FakeBalena::start()?;
        balena.add_user("demo", "demo-password");
        let week = Duration::from_secs(7 * 24 * 3600);
        let balena_session = balena.session_token("demo", Duration::ZERO, week);
        let pachd = FakePachd::start()?;
        let iam = FakeIam::start_blocking()?;
        let admin = Identity::service_id("vault-admin", IBM_ACCOUNT);
        let app = Identity::service_id("demo-app", IBM_ACCOUNT);
        iam.add_identity(&admin);
        iam.add_identity(&app);
        let ibm_admin_key = iam.create_api_key(&admin).value;
        let ibm_app_key = iam.create_api_key(&app).value;
        let proxmox = FakeProxmox::start()?;
        let proxmox_token_secret = proxmox.add_token("root@pam", "vault", false);
        proxmox.add_user("alice@pve");
        proxmox.grant("/vms", "alice@pve", "PVEVMUser");
        Ok(Fakes {
            keys,
            balena,
            balena_session,
            pachd,
            iam,
            ibm_admin_key,
            ibm_app_key,
            ibm_app_subject: app.sub,
            proxmox,
            proxmox_token_secret,
        })
    }
}
