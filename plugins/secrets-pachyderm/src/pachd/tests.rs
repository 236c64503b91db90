//! The client against the fake pachd of the tests crate: real gRPC over
//! loopback, plain and TLS.

use std::time::{Duration, Instant, SystemTime};

use integration_tests::fake_pachd::{FakePachd, ROOT_SUBJECT, Role, Rpc};
use tonic::Code;

use super::*;

fn client_for(address: &str, ca_cert: Option<&str>, timeout: Duration) -> Pachd {
    Pachd::new(&Settings {
        address: PachdAddress::parse(address).unwrap(),
        ca_cert: ca_cert.map(str::to_owned),
        timeout,
    })
    .unwrap()
}

fn client(fake: &FakePachd) -> Pachd {
    client_for(&fake.address(), None, Duration::from_secs(5))
}

#[tokio::test]
async fn who_am_i_sends_the_token_in_authn_token() {
    let fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    let root = pachd.who_am_i(fake.root_token()).await.unwrap();
    assert_eq!(root.subject, ROOT_SUBJECT);
    assert_eq!(root.expires_at, None);

    let alice = fake.issue_token("user:alice", Some(Duration::from_secs(600)));
    let who = pachd.who_am_i(&alice).await.unwrap();
    assert_eq!(who.subject, "user:alice");
    let left = who
        .expires_at
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600));

    let err = pachd.who_am_i("0123456789abcdef").await.unwrap_err();
    assert_eq!(err, PachdError::Unauthenticated);
    assert_eq!(fake.calls(Rpc::WhoAmI), 3);
}

#[tokio::test]
async fn robot_tokens_are_minted_with_their_ttl_and_revoked() {
    let fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    let root = fake.root_token();
    let token = pachd
        .get_robot_token(root, "ci", Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(fake.subject_of(&token).as_deref(), Some("robot:ci"));
    let expires = fake.expiry_of(&token).unwrap().unwrap();
    let left = expires.duration_since(SystemTime::now()).unwrap();
    assert!(left > Duration::from_secs(290) && left <= Duration::from_secs(300));
    // The robot's token works for the robot, as pachctl would use it.
    assert_eq!(pachd.who_am_i(&token).await.unwrap().subject, "robot:ci");

    assert_eq!(
        pachd.revoke_token(root, &token).await.unwrap(),
        Revoked::Now
    );
    assert_eq!(fake.subject_of(&token), None);
    assert_eq!(
        pachd.who_am_i(&token).await.unwrap_err(),
        PachdError::Unauthenticated
    );
    assert_eq!(
        pachd.revoke_token(root, &token).await.unwrap(),
        Revoked::AlreadyGone
    );
}

#[tokio::test]
async fn a_restored_token_authenticates_as_its_subject_until_revoked() {
    let fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    let root = fake.root_token();
    let token = crate::token::random().unwrap();
    let expires = SystemTime::now() + Duration::from_secs(300);
    pachd
        .restore_token(root, &token, "robot:ci", expires)
        .await
        .unwrap();
    // pachd holds the hash only, and the token works for the robot.
    assert_eq!(
        fake.hashes_of("robot:ci"),
        [crate::token::hash(token.expose())]
    );
    let who = pachd.who_am_i(token.expose()).await.unwrap();
    assert_eq!(who.subject, "robot:ci");
    let left = who
        .expires_at
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(left > Duration::from_secs(290) && left <= Duration::from_secs(300));
    // The same token twice is refused; nothing changes.
    let err = pachd
        .restore_token(root, &token, "robot:other", expires)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("same hash"), "{err}");
    assert!(!err.to_string().contains(token.expose()), "{err}");
    assert_eq!(fake.live_tokens_of("robot:other"), 0);

    assert_eq!(
        pachd.revoke_token(root, token.expose()).await.unwrap(),
        Revoked::Now
    );
    assert_eq!(
        pachd.who_am_i(token.expose()).await.unwrap_err(),
        PachdError::Unauthenticated
    );
    assert_eq!(fake.live_tokens_of("robot:ci"), 0);
}

#[tokio::test]
async fn restoring_needs_cluster_admin_and_a_future_expiry() {
    let fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    let ops = fake.issue_token("user:ops", None);
    fake.grant("user:ops", Role::RobotUser);
    let token = crate::token::random().unwrap();
    let later = SystemTime::now() + Duration::from_secs(60);
    let err = pachd
        .restore_token(&ops, &token, "robot:ci", later)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        PachdError::PermissionDenied {
            needs: Some(Permission::RestoreTokens)
        }
    );
    assert!(
        err.to_string().contains("CLUSTER_AUTH_RESTORE_TOKEN"),
        "{err}"
    );
    assert_eq!(fake.live_tokens_of("robot:ci"), 0);

    // pachd's answer to a past expiry is its answer to an expired caller
    // token (INTERNAL "token expiration is in the past"); the plugin always
    // sends an expiry a minute or more ahead.
    let past = SystemTime::now() - Duration::from_secs(60);
    let err = pachd
        .restore_token(fake.root_token(), &token, "robot:ci", past)
        .await
        .unwrap_err();
    assert_eq!(err, PachdError::Unauthenticated);
    assert_eq!(fake.live_tokens_of("robot:ci"), 0);

    fake.grant("user:ops", Role::ClusterAdmin);
    pachd
        .restore_token(&ops, &token, "robot:ci", later)
        .await
        .unwrap();
    assert_eq!(fake.live_tokens_of("robot:ci"), 1);
}

#[tokio::test]
async fn minting_needs_the_robot_token_permission() {
    let fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    let alice = fake.issue_token("user:alice", None);
    let err = pachd
        .get_robot_token(&alice, "ci", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PachdError::PermissionDenied { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("lacks the robot-token permission"), "{text}");
    assert!(!text.contains(&alice), "{text}");
    assert_eq!(fake.live_tokens_of("robot:ci"), 0);

    // A robotUser may mint, and revoke what it minted.
    fake.grant("user:alice", Role::RobotUser);
    let token = pachd
        .get_robot_token(&alice, "ci", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        pachd.revoke_token(&alice, &token).await.unwrap(),
        Revoked::Now
    );
}

#[tokio::test]
async fn dead_admin_tokens_are_unauthenticated_without_the_token_in_the_message() {
    let fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    let admin = fake.issue_token("user:ops", None);
    fake.grant("user:ops", Role::ClusterAdmin);
    pachd.who_am_i(&admin).await.unwrap();
    fake.expire(&admin);
    let err = pachd
        .get_robot_token(&admin, "ci", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(err, PachdError::Unauthenticated);
    let text = err.to_string();
    assert!(text.contains("the admin token is invalid"), "{text}");
    assert!(!text.contains(&admin), "{text}");
}

#[tokio::test]
async fn a_stopped_pachd_is_unreachable_at_its_address_until_it_is_back() {
    let mut fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    pachd.who_am_i(fake.root_token()).await.unwrap();
    fake.stop();
    let err = pachd.who_am_i(fake.root_token()).await.unwrap_err();
    assert!(matches!(err, PachdError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    let want = format!("pachd cannot be reached at grpc://{}", fake.address());
    assert!(text.starts_with(&want), "{text}");
    assert!(!text.contains(fake.root_token()), "{text}");
    // A new connection is refused, and says so.
    let err = client(&fake).who_am_i(fake.root_token()).await.unwrap_err();
    assert!(err.to_string().contains("Connection refused"), "{err}");

    // The same client reconnects once pachd is back.
    fake.resume().unwrap();
    let mut answered = false;
    for _ in 0..50 {
        if pachd.who_am_i(fake.root_token()).await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the client did not reconnect");
}

#[tokio::test]
async fn a_slow_pachd_times_out_with_the_address_and_the_timeout() {
    let fake = FakePachd::start().unwrap();
    let pachd = client_for(&fake.address(), None, Duration::from_millis(300));
    fake.set_delay(Duration::from_secs(5));
    let started = Instant::now();
    let err = pachd.version().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited for pachd"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "pachd at grpc://{} did not answer within 0.300s",
            fake.address()
        )
    );
}

#[tokio::test]
async fn grpcs_needs_the_ca_that_signed_pachds_certificate() {
    let fake = FakePachd::start_tls().unwrap();
    let ca = fake.ca_cert().unwrap();
    assert!(fake.url().starts_with("grpcs://localhost:"));
    let pachd = client_for(&fake.url(), Some(ca), Duration::from_secs(5));
    assert_eq!(
        pachd.who_am_i(fake.root_token()).await.unwrap().subject,
        ROOT_SUBJECT
    );
    // By IP address too: the certificate names 127.0.0.1.
    let by_ip = format!("grpcs://{}", fake.address());
    let pachd = client_for(&by_ip, Some(ca), Duration::from_secs(5));
    pachd.who_am_i(fake.root_token()).await.unwrap();

    // Without the CA the certificate is not trusted.
    let untrusting = client_for(&fake.url(), None, Duration::from_secs(5));
    let err = untrusting.who_am_i(fake.root_token()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PachdError::Unreachable { .. }), "{err:?}");
    assert!(text.contains("certificate"), "{text}");
    // Plain gRPC to a TLS port fails as unreachable too, never hangs.
    let plain = client_for(&fake.address(), None, Duration::from_secs(5));
    let err = plain.who_am_i(fake.root_token()).await.unwrap_err();
    assert!(
        matches!(
            err,
            PachdError::Unreachable { .. } | PachdError::Timeout { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn rotating_the_root_token_kills_the_old_one() {
    let fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    let old = fake.root_token();
    let new = "00112233445566778899aabbccddeeff";
    pachd.rotate_root_token(old, new).await.unwrap();
    assert_eq!(pachd.who_am_i(new).await.unwrap().subject, ROOT_SUBJECT);
    assert_eq!(
        pachd.who_am_i(old).await.unwrap_err(),
        PachdError::Unauthenticated
    );
    assert_eq!(fake.tokens_of(ROOT_SUBJECT), [new]);

    // Refused when pachd's root token is set in its environment.
    fake.set_root_token_from_env(true);
    let err = pachd
        .rotate_root_token(new, "ffeeddccbbaa99887766554433221100")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("pachd answered UNKNOWN: RotateRootToken() is disabled"),
        "{text}"
    );
    assert!(!text.contains(new), "{text}");
}

#[tokio::test]
async fn the_version_needs_no_token() {
    let fake = FakePachd::start().unwrap();
    let version = client(&fake).version().await.unwrap();
    assert_eq!(version.version, "2.11.6");
    assert_eq!(version.platform, "amd64");
}

#[tokio::test]
async fn pachds_other_refusals_keep_their_meaning() {
    let fake = FakePachd::start().unwrap();
    let pachd = client(&fake);
    fake.set_auth_active(false);
    let err = pachd.who_am_i(fake.root_token()).await.unwrap_err();
    assert_eq!(err, PachdError::AuthNotActivated);
    fake.set_auth_active(true);

    fake.fail(
        Some(Rpc::GetRobotToken),
        Code::Unavailable,
        "pachd is restarting",
    );
    let err = pachd
        .get_robot_token(fake.root_token(), "ci", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("pachd cannot be reached at grpc://"),
        "{err}"
    );
    fake.fail(None, Code::Unimplemented, "unknown service auth_v2.API");
    let err = pachd.who_am_i(fake.root_token()).await.unwrap_err();
    assert!(matches!(err, PachdError::NotPachyderm2 { .. }), "{err:?}");
    fake.clear_failures();
    pachd.who_am_i(fake.root_token()).await.unwrap();
}

#[tokio::test]
async fn a_token_grpc_cannot_carry_is_refused_before_calling() {
    let fake = FakePachd::start().unwrap();
    let err = client(&fake).who_am_i("bad\ntoken").await.unwrap_err();
    assert_eq!(err, PachdError::UnsendableToken);
    assert_eq!(fake.calls(Rpc::WhoAmI), 0);
}

/// Found by the server fuzzer: a 16 KB token went out as metadata, the
/// server refused the headers with HTTP 431, and a config write answered
/// 502 for what is a bad token.
#[tokio::test]
async fn a_token_too_long_for_grpc_metadata_is_refused_before_calling() {
    let fake = FakePachd::start().unwrap();
    let long = "a".repeat(super::MAX_TOKEN_LEN + 1);
    let err = client(&fake).who_am_i(&long).await.unwrap_err();
    assert_eq!(err, PachdError::UnsendableToken);
    assert!(err.to_string().contains("at most 4096 characters"), "{err}");
    let spaced = client(&fake).who_am_i("two words").await.unwrap_err();
    assert_eq!(spaced, PachdError::UnsendableToken);
    assert_eq!(fake.calls(Rpc::WhoAmI), 0);
}
