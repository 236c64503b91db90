//! Opt-in, bounded retries of calls that are safe to repeat.
//!
//! A call is repeated only when the client or the request asked for it, only
//! for a method that changes nothing when repeated (GET, HEAD, OPTIONS,
//! DELETE) or a request the plugin marked idempotent, and only after a
//! failure that may pass: 429, 502, 503, 504, a timeout, no connection, a
//! broken one. The waits grow exponentially with jitter; a `Retry-After`
//! from the upstream replaces the computed wait, and one longer than
//! [`Retry::max_retry_after`] ends the retries at once.
//!
//! All tries of one call share the call's time limit (the settings'
//! `timeout`): the operator's timeout bounds what a user waits and how long
//! the host's request is held, retries or not. A try gets the time left;
//! a wait that would end past the limit ends the retries, and the last
//! failure is the answer.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use backon::{ExponentialBuilder, Retryable};

use super::UpstreamError;

/// How often and how patiently to repeat a failed call.
///
/// ```
/// use std::time::Duration;
/// use vault_plugin_sdk::upstream::Retry;
///
/// // Up to 2 more tries, waiting about 100ms, then 200ms.
/// let retry = Retry::times(2).first_delay(Duration::from_millis(100));
/// assert_eq!(retry.max_times(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    times: usize,
    first_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
}

impl Default for Retry {
    /// 3 more tries, from 250ms up to 5s apart, honouring a `Retry-After`
    /// up to 30s.
    fn default() -> Self {
        Retry {
            times: 3,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl Retry {
    /// At most `times` more tries after the first, with the default waits.
    pub fn times(times: usize) -> Self {
        Retry {
            times,
            ..Retry::default()
        }
    }

    /// The wait before the first retry; each next one doubles, up to
    /// [`max_delay`](Self::max_delay).
    pub fn first_delay(mut self, delay: Duration) -> Self {
        self.first_delay = delay;
        self
    }

    /// The longest computed wait between two tries.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest `Retry-After` honoured; a longer one ends the retries.
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// How many more tries at most.
    pub fn max_times(&self) -> usize {
        self.times
    }

    /// Runs `call` until it succeeds, fails for good, the tries are used,
    /// or `budget` has passed. `call` gets the time left for its try.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        budget: Duration,
        mut call: F,
    ) -> Result<T, UpstreamError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let deadline = Instant::now() + budget;
        let attempt = move || call(deadline.saturating_duration_since(Instant::now()));
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.times)
            .with_jitter();
        let max_retry_after = self.max_retry_after;
        attempt
            .retry(backoff)
            .when(UpstreamError::is_transient)
            .adjust(move |err, computed| {
                let wait = match (computed, err.retry_after()) {
                    (Some(_), Some(asked)) if asked <= max_retry_after => Some(asked),
                    (Some(_), Some(_)) => None,
                    (computed, None) => computed,
                    (None, Some(_)) => None,
                };
                // A wait that ends past the call's limit leaves no time to try.
                wait.filter(|wait| Instant::now() + *wait < deadline)
            })
            .notify(|err, wait| {
                tracing::debug!(error = %err, wait_ms = wait.as_millis() as u64, "retrying an upstream call");
            })
            .await
    }
}

/// A `Retry-After` value: seconds, or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::upstream::UpstreamErrorKind;

    fn quick(times: usize) -> Retry {
        Retry::times(times)
            .first_delay(Duration::from_millis(1))
            .max_delay(Duration::from_millis(2))
    }

    fn answered(status: u16) -> UpstreamError {
        UpstreamError::status("X", status, "", &[])
    }

    /// A time limit no test reaches.
    const LONG: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_transient_failure_is_retried_until_success() {
        let calls = AtomicUsize::new(0);
        let got = quick(3)
            .run(LONG, |_| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(answered(503)),
                    _ => Ok("done"),
                }
            })
            .await;
        assert_eq!(got, Ok("done"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn retries_are_bounded_and_the_last_error_is_returned() {
        let calls = AtomicUsize::new(0);
        let got: Result<(), _> = quick(2)
            .run(LONG, |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(answered(502))
            })
            .await;
        assert_eq!(got.unwrap_err().http_status(), Some(502));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_lasting_failure_is_not_retried() {
        let calls = AtomicUsize::new(0);
        let got: Result<(), _> = quick(3)
            .run(LONG, |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(answered(404))
            })
            .await;
        assert_eq!(got.unwrap_err().http_status(), Some(404));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_limit_ends_the_retries() {
        let calls = AtomicUsize::new(0);
        let got: Result<(), _> = quick(3)
            .max_retry_after(Duration::from_secs(1))
            .run(LONG, |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(answered(429).with_retry_after(Some(Duration::from_secs(60))))
            })
            .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let timeout = UpstreamError::new("X", UpstreamErrorKind::Timeout(Duration::from_secs(1)));
        assert!(timeout.is_transient());
    }

    #[tokio::test]
    async fn the_tries_share_the_calls_time_limit() {
        // A wait that would end past the limit is not waited: one try.
        let calls = AtomicUsize::new(0);
        let started = Instant::now();
        let got: Result<(), _> = Retry::times(3)
            .first_delay(Duration::from_secs(5))
            .max_delay(Duration::from_secs(5))
            .run(Duration::from_secs(1), |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(answered(503))
            })
            .await;
        assert_eq!(got.unwrap_err().http_status(), Some(503));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < Duration::from_secs(1));

        // Each try gets the time left, less each time.
        let left = std::sync::Mutex::new(Vec::new());
        let got: Result<(), _> = quick(2)
            .run(Duration::from_secs(10), |time_left| {
                left.lock().unwrap().push(time_left);
                async { Err(answered(502)) }
            })
            .await;
        assert!(got.is_err());
        let left = left.into_inner().unwrap();
        assert_eq!(left.len(), 3);
        assert!(left[0] <= Duration::from_secs(10) && left[0] > Duration::from_secs(9));
        assert!(left.windows(2).all(|w| w[1] < w[0]), "{left:?}");

        // A Retry-After beyond the time left ends the retries too.
        let calls = AtomicUsize::new(0);
        let got: Result<(), _> = quick(3)
            .run(Duration::from_secs(2), |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(answered(429).with_retry_after(Some(Duration::from_secs(5))))
            })
            .await;
        assert_eq!(got.unwrap_err().retry_after(), Some(Duration::from_secs(5)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
