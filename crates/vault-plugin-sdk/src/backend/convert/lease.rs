//! `LeaseOptions` ⇄ `pb.LeaseOptions`: durations travel as nanoseconds.

use std::time::{Duration, SystemTime};

use vault_plugin_proto::pb;

use crate::framework::LeaseOptions;

/// A duration as the host's nanoseconds, saturating instead of overflowing.
pub(crate) fn to_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The host's nanoseconds as a duration; negative values read as zero.
pub(crate) fn from_nanos(n: i64) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

/// Go's zero `time.Time` (year 1), which the host reads as "not set". The
/// host refuses a missing timestamp ("proto: invalid nil Timestamp").
const GO_ZERO_TIME: prost_types::Timestamp = prost_types::Timestamp {
    seconds: -62_135_596_800,
    nanos: 0,
};

pub(crate) fn to_proto(lease: &LeaseOptions) -> pb::LeaseOptions {
    pb::LeaseOptions {
        ttl: to_nanos(lease.ttl),
        renewable: lease.renewable,
        increment: to_nanos(lease.increment),
        issue_time: Some(
            lease
                .issue_time
                .map(prost_types::Timestamp::from)
                .unwrap_or(GO_ZERO_TIME),
        ),
        max_ttl: to_nanos(lease.max_ttl),
    }
}

pub(crate) fn from_proto(lease: pb::LeaseOptions) -> LeaseOptions {
    LeaseOptions {
        ttl: from_nanos(lease.ttl),
        max_ttl: from_nanos(lease.max_ttl),
        renewable: lease.renewable,
        increment: from_nanos(lease.increment),
        // Go's zero time (year 1) is "not set".
        issue_time: lease
            .issue_time
            .filter(|t| t.seconds > 0)
            .and_then(|t| SystemTime::try_from(t).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_nanoseconds_and_saturate() {
        let cases = [
            (Duration::ZERO, 0),
            (Duration::from_secs(1), 1_000_000_000),
            (Duration::from_secs(300), 300_000_000_000),
            (Duration::MAX, i64::MAX),
        ];
        for (d, n) in cases {
            assert_eq!(to_nanos(d), n, "{d:?}");
        }
        assert_eq!(from_nanos(-5), Duration::ZERO);
        assert_eq!(from_nanos(1_500_000_000), Duration::from_millis(1500));
    }

    #[test]
    fn round_trip_and_zero_issue_time() {
        let lease = LeaseOptions {
            ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(3600),
            renewable: true,
            increment: Duration::from_secs(60),
            issue_time: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        };
        assert_eq!(from_proto(to_proto(&lease)), lease);
        // An unset issue time is sent as Go's zero time, never as nothing,
        // and reads back as unset.
        let unset = to_proto(&LeaseOptions::default());
        assert_eq!(unset.issue_time, Some(GO_ZERO_TIME));
        assert_eq!(from_proto(unset).issue_time, None);
    }
}
