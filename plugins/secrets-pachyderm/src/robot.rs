//! Which subjects tokens are minted for: robot users only, the one kind of
//! token Pachyderm 2.x's API mints on request (`GetRobotToken`; the plugin's
//! own tokens, registered with `RestoreAuthToken`, follow the same rule).
//!
//! Each robot has exactly one spelling per form, so that a Vault policy
//! that grants or denies a robot cannot be sidestepped by another spelling
//! of the same robot:
//!
//! * the path form takes the bare name: `login/ci` (never `login/robot:ci`);
//! * the original form takes the subject: `login username=robot:ci` (never
//!   `username=ci`).
//!
//! A name follows Vault's name rule (letters, digits, `_`, and `-` or `.`
//! inside), which also keeps it free of pachd's forbidden colon. Any other
//! subject (`user:alice`, `github:alice`, `pach:root`) is refused with a 400
//! that says why.

use vault_plugin_sdk::{Error, Result};

/// The prefix of robot subjects in Pachyderm.
const ROBOT_PREFIX: &str = "robot:";

/// The robot named by the path of `login/<robot>`.
pub fn from_path(robot: &str) -> Result<&str> {
    if let Some(name) = robot.strip_prefix(ROBOT_PREFIX) {
        return Err(Error::bad_request(format!(
            "write login/{name}: the path takes the robot's name without the \"robot:\" prefix"
        )));
    }
    if robot.contains(':') {
        return Err(not_a_robot(robot));
    }
    check_name(robot)
}

/// The robot named by `username` in the original `login username=...`.
pub fn from_username(username: &str) -> Result<&str> {
    match username.strip_prefix(ROBOT_PREFIX) {
        Some(name) => check_name(name),
        None if username.contains(':') => Err(not_a_robot(username)),
        None => Err(Error::bad_request(
            "username must name a robot as robot:<name>, e.g. username=robot:ci (or write \
             login/<name>)",
        )),
    }
}

/// The refusal of a subject that is not a robot.
fn not_a_robot(subject: &str) -> Error {
    Error::bad_request(format!(
        "{subject} is not a robot user: Pachyderm 2.x issues tokens only for robot users \
         (robot:<name>); ask for one with login/<name>"
    ))
}

/// `name` if it is a valid robot name.
fn check_name(name: &str) -> Result<&str> {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let inner_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !inner_ok || !edge_ok(bytes.first()) || !edge_ok(bytes.last()) {
        return Err(Error::bad_request(
            "a robot's name is letters, digits and \"_\", with \"-\" or \".\" inside, e.g. ci \
             or build-bot",
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<&str>) -> String {
        match result {
            Err(Error::BadRequest(message)) => message,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn the_path_takes_bare_robot_names() {
        assert_eq!(from_path("ci").unwrap(), "ci");
        assert_eq!(from_path("build-bot.2").unwrap(), "build-bot.2");
        assert!(message(from_path("robot:ci")).starts_with("write login/ci:"));
        let user = message(from_path("user:alice"));
        assert!(user.starts_with("user:alice is not a robot user"), "{user}");
        assert!(user.contains("only for robot users"), "{user}");
        assert!(message(from_path("github:alice")).contains("not a robot"));
        assert!(message(from_path("a/b")).contains("robot's name"));
        assert!(message(from_path("-ci")).contains("robot's name"));
        assert!(message(from_path("ci.")).contains("robot's name"));
    }

    #[test]
    fn the_username_takes_robot_subjects() {
        assert_eq!(from_username("robot:ci").unwrap(), "ci");
        assert!(message(from_username("ci")).contains("as robot:<name>"));
        assert!(message(from_username("pach:root")).contains("not a robot user"));
        assert!(message(from_username("user:x")).contains("only for robot users"));
        assert!(message(from_username("robot:a:b")).contains("robot's name"));
        assert!(message(from_username("robot:")).contains("robot's name"));
        assert!(message(from_username("")).contains("robot:<name>"));
    }
}
