//! Lease arithmetic: how long a secret or token lives, against the mount's limits.
//!
//! The host caps leases itself, but a plugin that computes the TTL the same
//! way can tell the user why a lease is shorter than asked (a warning), and
//! can refuse a renewal that is past the maximum.

use std::time::{Duration, SystemTime};

use crate::system_view::SystemView;
use crate::{Error, Result};

/// Lease timing of a secret or a token, as the host exchanges it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseOptions {
    /// How long the lease lives from now (0: the mount's default).
    pub ttl: Duration,
    /// The longest the lease may live from its issue time (0: the mount's max).
    pub max_ttl: Duration,
    /// Whether the holder may renew it.
    pub renewable: bool,
    /// On renewal: the extension the caller asked for.
    pub increment: Duration,
    /// On renewal: when the lease was first issued.
    pub issue_time: Option<SystemTime>,
}

/// The inputs of [`calculate_ttl`], named as in the Go SDK's `CalculateTTL`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtlInputs {
    /// The extension the caller asked for (renewals), or zero.
    pub increment: Duration,
    /// The backend's (role's) TTL, or zero for the mount default.
    pub ttl: Duration,
    /// A period: the lease is renewed to this each time, with no max, unless
    /// an explicit max is set.
    pub period: Duration,
    /// The backend's (role's) max TTL, or zero for the mount max.
    pub max_ttl: Duration,
    /// A hard max set on the token itself, or zero.
    pub explicit_max_ttl: Duration,
    /// When the lease was issued; `None` for a new lease.
    pub issue_time: Option<SystemTime>,
}

/// A computed TTL and the reasons it was shortened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ttl {
    /// The TTL to grant from now.
    pub ttl: Duration,
    /// The effective max TTL that limited it.
    pub max_ttl: Duration,
    /// Messages for the user when a value was capped.
    pub warnings: Vec<String>,
}

/// Computes a lease's TTL the way the Go SDK does: the increment, else the
/// backend TTL, else the mount default; never past the effective max
/// (mount max, lowered by the backend max and the explicit max) counted from
/// the issue time. A period replaces the TTL and ignores the max unless an
/// explicit max is set. Capped values come with a warning; a lease already
/// past its max is an error.
pub async fn calculate_ttl(system_view: &dyn SystemView, inputs: TtlInputs) -> Result<Ttl> {
    let default_ttl = system_view.default_lease_ttl().await?;
    let mount_max = system_view.max_lease_ttl().await?;
    compute(inputs, default_ttl, mount_max, SystemTime::now())
}

fn compute(
    inputs: TtlInputs,
    default_ttl: Duration,
    mount_max: Duration,
    now: SystemTime,
) -> Result<Ttl> {
    let now = truncate(now);
    let start = inputs.issue_time.map(truncate).unwrap_or(now);
    let mut max_ttl = mount_max;
    for limit in [inputs.max_ttl, inputs.explicit_max_ttl] {
        if !limit.is_zero() && limit < max_ttl {
            max_ttl = limit;
        }
    }
    if max_ttl.is_zero() {
        return Err(Error::bad_request("max TTL must be greater than zero"));
    }
    let mut warnings = Vec::new();
    let (mut ttl, max_valid_from_start) = if !inputs.period.is_zero() {
        let mut period = inputs.period;
        if period > max_ttl {
            warnings.push(format!(
                "period of {} exceeded the effective max_ttl of {}; period value is capped accordingly",
                human(period),
                human(max_ttl)
            ));
            period = max_ttl;
        }
        let limit = (!inputs.explicit_max_ttl.is_zero()).then_some(inputs.explicit_max_ttl);
        (period, limit)
    } else {
        let ttl = [inputs.increment, inputs.ttl]
            .into_iter()
            .find(|d| !d.is_zero())
            .unwrap_or(default_ttl);
        (ttl, Some(max_ttl))
    };
    if let Some(limit) = max_valid_from_start {
        let ends = start + limit;
        let remaining = ends.duration_since(now).unwrap_or(Duration::ZERO);
        if remaining.is_zero() {
            return Err(Error::bad_request("past the max TTL, cannot renew"));
        }
        if ttl > remaining {
            warnings.push(format!(
                "TTL of {} exceeded the effective max_ttl of {}; TTL value is capped accordingly",
                human(ttl),
                human(remaining)
            ));
            ttl = remaining;
        }
    }
    Ok(Ttl {
        ttl,
        max_ttl,
        warnings,
    })
}

fn truncate(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

/// A duration as Go prints it, without zero units: `1h`, `1h30m`, `45s`.
pub(crate) fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn table() {
        // Mount default 1h, mount max 24h, now = t(100000).
        let now = at(100_000);
        struct Case {
            name: &'static str,
            inputs: TtlInputs,
            ttl: Result<Duration, &'static str>,
            warned: bool,
        }
        let cases = [
            Case {
                name: "nothing set: mount default",
                inputs: TtlInputs::default(),
                ttl: Ok(HOUR),
                warned: false,
            },
            Case {
                name: "backend ttl wins over default",
                inputs: TtlInputs {
                    ttl: 5 * MIN,
                    ..Default::default()
                },
                ttl: Ok(5 * MIN),
                warned: false,
            },
            Case {
                name: "increment wins over backend ttl",
                inputs: TtlInputs {
                    increment: 10 * MIN,
                    ttl: 5 * MIN,
                    ..Default::default()
                },
                ttl: Ok(10 * MIN),
                warned: false,
            },
            Case {
                name: "ttl above backend max is capped with a warning",
                inputs: TtlInputs {
                    ttl: 2 * HOUR,
                    max_ttl: HOUR,
                    ..Default::default()
                },
                ttl: Ok(HOUR),
                warned: true,
            },
            Case {
                name: "renewal near the max gets the remainder",
                inputs: TtlInputs {
                    ttl: HOUR,
                    max_ttl: HOUR,
                    issue_time: Some(at(100_000 - 50 * 60)),
                    ..Default::default()
                },
                ttl: Ok(10 * MIN),
                warned: true,
            },
            Case {
                name: "renewal past the max is refused",
                inputs: TtlInputs {
                    max_ttl: HOUR,
                    issue_time: Some(at(100_000 - 2 * 3600)),
                    ..Default::default()
                },
                ttl: Err("past the max TTL"),
                warned: false,
            },
            Case {
                name: "period replaces ttl and ignores the max start",
                inputs: TtlInputs {
                    period: 30 * MIN,
                    ttl: 5 * MIN,
                    issue_time: Some(at(0)),
                    ..Default::default()
                },
                ttl: Ok(30 * MIN),
                warned: false,
            },
            Case {
                name: "period above the max is capped",
                inputs: TtlInputs {
                    period: 48 * HOUR,
                    ..Default::default()
                },
                ttl: Ok(24 * HOUR),
                warned: true,
            },
        ];
        for case in cases {
            let got = compute(case.inputs, HOUR, 24 * HOUR, now);
            match (got, case.ttl) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(got.ttl, want, "{}", case.name);
                    assert_eq!(!got.warnings.is_empty(), case.warned, "{}", case.name);
                }
                (Err(err), Err(frag)) => {
                    assert!(err.to_string().contains(frag), "{}: {err}", case.name)
                }
                (got, want) => panic!("{}: got {got:?}, want {want:?}", case.name),
            }
        }
    }

    #[test]
    fn human_durations_drop_zero_units() {
        assert_eq!(human(Duration::ZERO), "0s");
        assert_eq!(human(HOUR), "1h");
        assert_eq!(human(90 * MIN), "1h30m");
        assert_eq!(human(Duration::from_secs(45)), "45s");
    }
}
