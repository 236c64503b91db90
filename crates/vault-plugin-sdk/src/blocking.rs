//! CPU-heavy work off the plugin's runtime thread.
//!
//! [`serve`](crate::serve) runs a plugin on one runtime thread (a
//! current-thread tokio runtime) for every request of every mount, which is
//! right for I/O-bound handlers. A
//! handler that computes for long (a password hash costs tens of
//! milliseconds on purpose) would hold every other request up meanwhile;
//! [`run`] moves that work to tokio's blocking pool and awaits it.

use crate::{Error, Result};

/// Runs `work` on the blocking pool; the handler awaits it while the
/// runtime thread serves other requests. A panic in `work` is an internal
/// error (500), as a panicking handler's is.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sum = vault_plugin_sdk::blocking::run(|| (1..=1000u64).sum::<u64>()).await?;
/// assert_eq!(sum, 500_500);
/// # Ok::<(), vault_plugin_sdk::Error>(()) }).unwrap();
/// ```
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::internal(format!("background work failed: {err}")))
}
