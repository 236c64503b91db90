//! Verifying an IAM access token: is it IAM's, still valid, and whose?
//!
//! An IAM access token is a JWT signed RS256 by one of the keys IAM publishes
//! (see [`crate::keys`]). A token is accepted only when all of this holds:
//!
//! - it is a compact JWS: three base64url parts, so exactly one signature;
//! - its header says `alg: RS256` (`none`, HMAC and every other algorithm
//!   are refused before any key is looked at) and names a `kid`;
//! - IAM publishes an RS256 key with that `kid` (fetched again, rate-limited,
//!   when it is unknown), and the signature verifies with it;
//! - `iss` is the issuer IAM names in its discovery document
//!   (`{iam}/identity/.well-known/openid-configuration`), or the issuer the
//!   operator configured instead; never a built-in constant, so private and
//!   test endpoints work;
//! - `exp` has not passed and `nbf` (if present) has come, each allowing
//!   [`CLOCK_SKEW`] for clocks that differ a little;
//! - it names an `iam_id` and a `sub`.
//!
//! `aud` is not checked: IAM access tokens are not issued to an audience
//! (the original plugin skipped it as well). The account is not read from
//! the token either; it is proven by asking IAM about the identity.
//!
//! The JWT and JWK handling (base64url, JSON, the RSA signature check with
//! ring, claim validation) is the `jsonwebtoken` crate's; this module decides
//! what to ask of it and names every refusal, for the server log.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::keys::{IamPublic, KeyCache, Unavailable};

/// How far the clocks of IAM and this server may differ: a token is
/// accepted up to this long after its `exp` and from this long before its
/// `nbf`.
pub const CLOCK_SKEW_SECS: u64 = 30;
/// [`CLOCK_SKEW_SECS`] as a duration.
pub const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(CLOCK_SKEW_SECS);
/// The longest token looked at; IAM's are about 1.5 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What a verified token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The IAM ID: `iam-ServiceId-…`, `iam-Profile-…`, `IBMid-…`.
    pub iam_id: String,
    /// The subject: a service ID or profile id, or a user's e-mail/IBMid.
    pub sub: String,
    /// `ServiceId`, `Profile`, or absent for users.
    pub sub_type: Option<String>,
    /// The id IAM's APIs look the identity up by (`ServiceId-…`,
    /// `Profile-…`), if the token names one.
    pub identifier: Option<String>,
    /// The identity's display name, if the token names one.
    pub name: Option<String>,
    /// When the token expires (seconds since the epoch).
    pub exp: u64,
}

/// Why a token was refused. Shown only in the server log (at debug): the
/// caller sees "permission denied". Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a compact JWS with one signature, or unreadable.
    Malformed(&'static str),
    /// Signed with (or claiming) another algorithm than RS256.
    Algorithm(String),
    /// The header names no key.
    NoKeyId,
    /// IAM publishes no usable key with this id.
    UnknownKey(String),
    /// The signature does not verify with the named key.
    BadSignature,
    /// `exp` has passed (beyond the skew).
    Expired,
    /// `nbf` has not come yet (beyond the skew).
    NotYetValid,
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// A claim the token must carry is missing or empty.
    MissingClaim(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "the token is malformed: {why}"),
            Self::Algorithm(alg) => write!(f, "the token's algorithm {alg} is not RS256"),
            Self::NoKeyId => f.write_str("the token names no signing key (kid)"),
            Self::UnknownKey(kid) => write!(f, "IAM publishes no RS256 key {kid:?}"),
            Self::BadSignature => f.write_str("the token's signature does not verify"),
            Self::Expired => f.write_str("the token has expired"),
            Self::NotYetValid => f.write_str("the token is not valid yet (nbf)"),
            Self::WrongIssuer => f.write_str("the token's issuer is not the expected one"),
            Self::MissingClaim(claim) => write!(f, "the token has no {claim} claim"),
        }
    }
}

/// Why a token could not be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The token is not acceptable.
    Refused(Refusal),
    /// IAM could not be asked for its keys or issuer.
    Unavailable(Unavailable),
}

impl From<Refusal> for VerifyError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<Unavailable> for VerifyError {
    fn from(err: Unavailable) -> Self {
        Self::Unavailable(err)
    }
}

/// Verifies tokens of one IAM endpoint: its keys and its issuer, cached.
#[derive(Debug, Default)]
pub struct Verifier {
    keys: KeyCache,
    issuer: OnceCell<String>,
}

impl Verifier {
    /// A verifier that expects `issuer`, or the issuer of IAM's discovery
    /// document when `None`.
    pub fn new(issuer: Option<String>, keys: KeyCache) -> Self {
        let cell = match issuer {
            Some(issuer) => OnceCell::new_with(Some(issuer)),
            None => OnceCell::new(),
        };
        Self { keys, issuer: cell }
    }

    /// The issuer tokens must carry (fetched once from discovery).
    ///
    /// # Errors
    /// When discovery cannot be fetched or names no issuer.
    pub async fn issuer(&self, iam: &impl IamPublic) -> Result<&str, Unavailable> {
        let issuer = self
            .issuer
            .get_or_try_init(|| async {
                let document = iam.discovery().await?;
                match document.get("issuer").and_then(Value::as_str) {
                    Some(issuer) if !issuer.is_empty() => Ok(issuer.to_owned()),
                    _ => Err(Unavailable(
                        "IBM Cloud IAM's discovery document names no issuer".into(),
                    )),
                }
            })
            .await?;
        Ok(issuer)
    }

    /// Checks `token` (see the module doc) and returns what it says.
    ///
    /// # Errors
    /// [`VerifyError::Refused`] for a token that is not acceptable,
    /// [`VerifyError::Unavailable`] when IAM cannot be asked.
    pub async fn verify(&self, token: &str, iam: &impl IamPublic) -> Result<Claims, VerifyError> {
        check_shape(token)?;
        let header = match jsonwebtoken::decode_header(token) {
            Ok(header) => header,
            Err(_) => {
                return Err(match declared_alg(token) {
                    Some(alg) if alg != "RS256" => Refusal::Algorithm(alg),
                    _ => Refusal::Malformed("unreadable header"),
                }
                .into());
            }
        };
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::Algorithm(format!("{:?}", header.alg)).into());
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or(Refusal::NoKeyId)?;
        let key = self
            .keys
            .key(&kid, iam)
            .await?
            .ok_or(Refusal::UnknownKey(kid))?;
        let issuer = self.issuer(iam).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = CLOCK_SKEW_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<RawClaims>(token, &key, &validation)
            .map_err(|err| refusal_of(err.kind()))?;
        Ok(data.claims.checked()?)
    }
}

/// The claims as they arrive, before the ones we need are checked present.
#[derive(Deserialize)]
struct RawClaims {
    iam_id: Option<String>,
    sub: Option<String>,
    sub_type: Option<String>,
    identifier: Option<String>,
    name: Option<String>,
    exp: Option<u64>,
}

impl RawClaims {
    fn checked(self) -> Result<Claims, Refusal> {
        let present = |value: Option<String>, claim| {
            value
                .filter(|v| !v.is_empty())
                .ok_or(Refusal::MissingClaim(claim))
        };
        let nonempty = |value: Option<String>| value.filter(|v| !v.is_empty());
        Ok(Claims {
            iam_id: present(self.iam_id, "iam_id")?,
            sub: present(self.sub, "sub")?,
            sub_type: nonempty(self.sub_type),
            identifier: nonempty(self.identifier),
            name: nonempty(self.name),
            exp: self.exp.ok_or(Refusal::MissingClaim("exp"))?,
        })
    }
}

/// Three non-empty base64url parts, not too long.
fn check_shape(token: &str) -> Result<(), Refusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Refusal::Malformed("too long"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(Refusal::Malformed(
            "not three dot-separated parts (one signature)",
        ));
    }
    let base64url = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if parts[..2].iter().any(|p| p.is_empty() || !base64url(p)) || !base64url(parts[2]) {
        return Err(Refusal::Malformed("a part is not base64url"));
    }
    if parts[2].is_empty() {
        // An empty signature: only `alg: none` tokens look like this; name
        // the algorithm when the header says it.
        return Err(match declared_alg(token) {
            Some(alg) if alg != "RS256" => Refusal::Algorithm(alg),
            _ => Refusal::Malformed("no signature"),
        });
    }
    Ok(())
}

/// The `alg` a token's header declares, read only to name a refusal.
fn declared_alg(token: &str) -> Option<String> {
    let header = B64URL.decode(token.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// The refusal for an error of the JWT library.
fn refusal_of(kind: &ErrorKind) -> Refusal {
    match kind {
        ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) | ErrorKind::Crypto(_) => {
            Refusal::BadSignature
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            Refusal::Algorithm("other than RS256".into())
        }
        ErrorKind::ExpiredSignature => Refusal::Expired,
        ErrorKind::ImmatureSignature => Refusal::NotYetValid,
        ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) => Refusal::MissingClaim(match claim.as_str() {
            "exp" => "exp",
            "iss" => "iss",
            _ => "sub",
        }),
        ErrorKind::Base64(_) => Refusal::Malformed("a part is not base64url"),
        _ => Refusal::Malformed("unreadable claims"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use integration_tests::fake_iam::{
        Identity, SigningKey, hs256_token, now_secs, unsigned_token,
    };
    use jsonwebtoken::Header;
    use serde_json::json;

    use super::*;
    use crate::keys::MAX_AGE;
    use crate::published::{ISSUER, Published};

    struct Setup {
        key: SigningKey,
        iam: Published,
        verifier: Verifier,
        claims: Value,
    }

    fn setup() -> Setup {
        let key = SigningKey::generate("k1");
        let iam = Published::new(&[&key]);
        let claims = Identity::service_id("app", "acct").claims(ISSUER);
        let verifier = Verifier::new(None, KeyCache::new(Duration::ZERO, MAX_AGE));
        Setup {
            key,
            iam,
            verifier,
            claims,
        }
    }

    fn with(claims: &Value, changes: Value) -> Value {
        let mut claims = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    #[tokio::test]
    async fn a_token_iam_signed_is_accepted_and_read() {
        let s = setup();
        let claims = s
            .verifier
            .verify(&s.key.sign(&s.claims), &s.iam)
            .await
            .unwrap();
        assert_eq!(claims.iam_id, s.claims["iam_id"]);
        assert_eq!(claims.sub, s.claims["sub"]);
        assert_eq!(claims.sub_type.as_deref(), Some("ServiceId"));
        assert_eq!(
            claims.identifier.as_deref(),
            s.claims["identifier"].as_str()
        );
        assert_eq!(claims.name.as_deref(), Some("app"));
        assert_eq!(claims.exp, s.claims["exp"].as_u64().unwrap());
        // A user's token has no sub_type.
        let user = Identity::user("ann@example.com", "acct").claims(ISSUER);
        let claims = s.verifier.verify(&s.key.sign(&user), &s.iam).await.unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sub_type),
            ("ann@example.com", None)
        );
        assert_eq!((s.iam.fetches(), s.iam.discoveries()), (1, 1));
    }

    /// Every refusal, each with the reason the log would show.
    #[tokio::test]
    async fn every_kind_of_bad_token_is_refused_for_its_reason() {
        let s = setup();
        let c = &s.claims;
        let now = now_secs();
        let skew = CLOCK_SKEW_SECS;
        let outsider = SigningKey::generate("k1");
        let modulus = s.key.jwk()["n"].as_str().unwrap().to_owned();
        let rs512 = {
            let mut h = Header::new(Algorithm::RS512);
            h.kid = Some("k1".into());
            s.key.sign_with_header(&h, c)
        };
        let no_kid = s.key.sign_with_header(&Header::new(Algorithm::RS256), c);
        let good = s.key.sign(c);
        let parts: Vec<&str> = good.split('.').collect();
        let flipped = {
            let mut sig = parts[2].as_bytes().to_vec();
            sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                String::from_utf8(sig).unwrap()
            )
        };
        let tampered_payload = {
            let other = s
                .key
                .sign(&with(c, json!({"iam_id": "iam-ServiceId-evil"})));
            format!(
                "{}.{}.{}",
                parts[0],
                other.split('.').nth(1).unwrap(),
                parts[2]
            )
        };

        let cases: Vec<(&str, String, Refusal)> = vec![
            ("alg none", unsigned_token(c, "k1"), Refusal::Algorithm("none".into())),
            (
                "HS256 keyed with the public modulus",
                hs256_token(c, "k1", modulus.as_bytes()),
                Refusal::Algorithm("HS256".into()),
            ),
            ("RS512", rs512, Refusal::Algorithm("RS512".into())),
            (
                "forged: another key under a published kid",
                outsider.sign(c),
                Refusal::BadSignature,
            ),
            ("payload swapped", tampered_payload, Refusal::BadSignature),
            ("one signature character changed", flipped, Refusal::BadSignature),
            (
                "unknown kid",
                s.key.renamed("k-unknown").sign(c),
                Refusal::UnknownKey("k-unknown".into()),
            ),
            ("no kid", no_kid, Refusal::NoKeyId),
            (
                "expired beyond the skew",
                s.key.sign(&with(c, json!({"exp": now - skew - 5}))),
                Refusal::Expired,
            ),
            (
                "not valid yet beyond the skew",
                s.key.sign(&with(c, json!({"nbf": now + skew + 60}))),
                Refusal::NotYetValid,
            ),
            (
                "another issuer",
                s.key.sign(&with(c, json!({"iss": "https://iam.cloud.ibm.com/identity"}))),
                Refusal::WrongIssuer,
            ),
            (
                "no issuer",
                s.key.sign(&with(c, json!({"iss": null}))),
                Refusal::MissingClaim("iss"),
            ),
            (
                "no exp",
                s.key.sign(&with(c, json!({"exp": null}))),
                Refusal::MissingClaim("exp"),
            ),
            (
                "no iam_id",
                s.key.sign(&with(c, json!({"iam_id": null}))),
                Refusal::MissingClaim("iam_id"),
            ),
            (
                "empty iam_id",
                s.key.sign(&with(c, json!({"iam_id": ""}))),
                Refusal::MissingClaim("iam_id"),
            ),
            (
                "no sub",
                s.key.sign(&with(c, json!({"sub": null}))),
                Refusal::MissingClaim("sub"),
            ),
            (
                "two signatures",
                format!("{good}.{}", parts[2]),
                Refusal::Malformed("not three dot-separated parts (one signature)"),
            ),
            (
                "two parts",
                format!("{}.{}", parts[0], parts[1]),
                Refusal::Malformed("not three dot-separated parts (one signature)"),
            ),
            (
                "JSON serialization",
                json!({"payload": parts[1], "signatures": [{"protected": parts[0], "signature": parts[2]}]})
                    .to_string(),
                Refusal::Malformed("not three dot-separated parts (one signature)"),
            ),
            (
                "padding",
                format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
                Refusal::Malformed("a part is not base64url"),
            ),
            (
                "empty signature",
                format!("{}.{}.", parts[0], parts[1]),
                Refusal::Malformed("no signature"),
            ),
            ("garbage", "a.b.c".into(), Refusal::Malformed("unreadable header")),
            (
                "too long",
                format!("{}.{}.{}", parts[0], "A".repeat(MAX_TOKEN_LEN), parts[2]),
                Refusal::Malformed("too long"),
            ),
        ];
        for (name, token, want) in cases {
            let got = s.verifier.verify(&token, &s.iam).await;
            assert_eq!(got, Err(VerifyError::Refused(want)), "{name}");
        }
        // Inside the skew, exp and nbf still pass.
        for changes in [
            json!({"exp": now - skew / 2}),
            json!({"nbf": now + skew / 2}),
        ] {
            let token = s.key.sign(&with(c, changes.clone()));
            assert!(s.verifier.verify(&token, &s.iam).await.is_ok(), "{changes}");
        }
    }

    #[tokio::test]
    async fn the_issuer_comes_from_discovery_or_the_override() {
        let s = setup();
        s.iam
            .set_issuer(json!("https://private.iam.example/identity"));
        let private = with(
            &s.claims,
            json!({"iss": "https://private.iam.example/identity"}),
        );
        assert!(
            s.verifier
                .verify(&s.key.sign(&private), &s.iam)
                .await
                .is_ok()
        );
        // Discovery is read once per verifier.
        assert!(
            s.verifier
                .verify(&s.key.sign(&private), &s.iam)
                .await
                .is_ok()
        );
        assert_eq!(s.iam.discoveries(), 1);

        let overridden = Verifier::new(Some("https://custom/identity".into()), KeyCache::default());
        let custom = with(&s.claims, json!({"iss": "https://custom/identity"}));
        assert!(
            overridden
                .verify(&s.key.sign(&custom), &s.iam)
                .await
                .is_ok()
        );
        assert_eq!(
            overridden.verify(&s.key.sign(&private), &s.iam).await,
            Err(VerifyError::Refused(Refusal::WrongIssuer))
        );
        assert_eq!(s.iam.discoveries(), 1, "an override needs no discovery");

        let s = setup();
        s.iam.set_issuer(json!(42));
        let err = s
            .verifier
            .verify(&s.key.sign(&s.claims), &s.iam)
            .await
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::Unavailable(ref u) if u.0.contains("no issuer")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_rotated_key_is_fetched_and_iam_being_down_is_not_a_refusal() {
        let s = setup();
        assert!(
            s.verifier
                .verify(&s.key.sign(&s.claims), &s.iam)
                .await
                .is_ok()
        );
        let next = SigningKey::generate("k2");
        s.iam.publish(&[&s.key, &next]);
        assert!(
            s.verifier
                .verify(&next.sign(&s.claims), &s.iam)
                .await
                .is_ok()
        );
        assert_eq!(s.iam.fetches(), 2);

        let s = setup();
        s.iam.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = s
            .verifier
            .verify(&s.key.sign(&s.claims), &s.iam)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            VerifyError::Unavailable(Unavailable("IAM answered 503".into()))
        );
    }

    #[test]
    fn refusals_read_well_and_never_carry_the_token() {
        assert_eq!(
            Refusal::UnknownKey("k9".into()).to_string(),
            "IAM publishes no RS256 key \"k9\""
        );
        assert_eq!(
            Refusal::Algorithm("none".into()).to_string(),
            "the token's algorithm none is not RS256"
        );
        assert_eq!(
            Refusal::MissingClaim("iam_id").to_string(),
            "the token has no iam_id claim"
        );
    }
}
