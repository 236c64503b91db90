//! Fault injection for the wiremock fakes: "the next N calls of METHOD to a
//! path containing X answer 503 / hang / send a broken body".
//!
//! Why one switch for all fakes: a plugin's tests need the same failures
//! from every upstream (an outage, a 429, a hang, a lost answer), and each
//! fake used to grow its own ad-hoc knob (`down`, `fail_next`...). A fake that
//! mounts [`Faults::mock`] first gets them all; the fault answers come
//! before the fake's own routes and change none of its state, so a call
//! that got a fault created nothing upstream. A route whose responder is
//! wrapped in [`Faults::after`] supports the other case too: the call
//! happened upstream, and its answer is lost
//! ([`Faults::inject_after_effect`]).

use std::time::Duration;

use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::SharedState;

/// What a faulty answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer `status` with a short JSON error, and `Retry-After:
    /// <seconds>` when given.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// Answer nothing for this long, then 503: a call that hangs and
    /// changes nothing (the request is held before the fake acts on it).
    Hang(Duration),
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Answer 200 with a JSON body cut off in the middle. (A body cut
    /// short on the wire, fewer bytes than `content-length` promised, is
    /// beyond wiremock: the SDK's own tests cover it.)
    TruncatedJson,
}

impl Fault {
    /// `Fault::Status` without a `Retry-After`.
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    fn answer(&self) -> ResponseTemplate {
        let json = |status: u16, body: &str| {
            ResponseTemplate::new(status).set_body_raw(body.to_owned(), "application/json")
        };
        match self {
            Fault::Status {
                status,
                retry_after,
            } => {
                let answer = json(*status, r#"{"error":"injected failure"}"#);
                match retry_after {
                    Some(secs) => answer.insert_header("retry-after", secs.to_string()),
                    None => answer,
                }
            }
            Fault::Hang(delay) => json(503, r#"{"error":"injected hang"}"#).set_delay(*delay),
            Fault::Malformed => json(200, "<html>502 Bad Gateway</html>"),
            Fault::TruncatedJson => json(200, r#"{"data":{"id":"k-1","val"#),
        }
    }
}

/// When a rule's fault replaces the fake's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Before the fake acts: the call changes nothing.
    Before,
    /// After the fake acted: the call happened, its answer is lost.
    After,
}

/// One injected rule: the next `remaining` calls that match get `fault`.
#[derive(Debug, Clone)]
struct Rule {
    method: Option<String>,
    path_part: String,
    remaining: usize,
    fault: Fault,
    when: When,
}

impl Rule {
    fn matches(&self, req: &Request, when: When) -> bool {
        self.remaining > 0
            && self.when == when
            && self
                .method
                .as_deref()
                .is_none_or(|m| req.method.as_str().eq_ignore_ascii_case(m))
            && req.url.path().contains(&self.path_part)
    }
}

#[derive(Debug, Default)]
struct Injected {
    rules: Vec<Rule>,
    answered: usize,
}

/// The fault switch of one fake; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: SharedState<Injected>,
}

impl Faults {
    /// A switch with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `count` calls of `method` (`"*"`: any) to a path that
    /// contains `path_part` (`""`: any) answer `fault`. Rules apply in the
    /// order they were injected.
    pub fn inject(&self, method: &str, path_part: &str, count: usize, fault: Fault) {
        self.push(method, path_part, count, fault, When::Before);
    }

    /// Like [`inject`](Self::inject), but the fake acts on the call first
    /// (creates, deletes...) and `fault` replaces its answer: the answer of
    /// a call that happened is lost. Only routes whose responder is wrapped
    /// in [`after`](Self::after) support it.
    pub fn inject_after_effect(&self, method: &str, path_part: &str, count: usize, fault: Fault) {
        self.push(method, path_part, count, fault, When::After);
    }

    fn push(&self, method: &str, path_part: &str, count: usize, fault: Fault, when: When) {
        self.state.lock().rules.push(Rule {
            method: (method != "*").then(|| method.to_owned()),
            path_part: path_part.to_owned(),
            remaining: count,
            fault,
            when,
        });
    }

    /// For a fake that has just acted on `req`: the answer that replaces
    /// its own, when a rule of [`inject_after_effect`](Self::inject_after_effect)
    /// matches (one of its calls is used up).
    fn after_effect(&self, req: &Request) -> Option<ResponseTemplate> {
        let mut s = self.state.lock();
        let rule = s.rules.iter_mut().find(|r| r.matches(req, When::After))?;
        rule.remaining -= 1;
        let answer = rule.fault.answer();
        s.rules.retain(|r| r.remaining > 0);
        s.answered += 1;
        Some(answer)
    }

    /// Wraps a route's responder so that [`inject_after_effect`](Self::inject_after_effect)
    /// works on it: the responder acts (creates, deletes...), then a
    /// matching rule replaces its answer.
    pub fn after<R: Respond>(&self, respond: R) -> impl Respond + use<R> {
        AfterEffect {
            faults: self.clone(),
            respond,
        }
    }

    /// Removes every rule not used up yet.
    pub fn clear(&self) {
        self.state.lock().rules.clear();
    }

    /// How many faulty answers were given so far.
    pub fn answered(&self) -> usize {
        self.state.lock().answered
    }

    /// The route a fake mounts before its own: it answers while a rule
    /// matches, and leaves every other call to the fake.
    pub fn mock(&self) -> Mock {
        let answer = self.state.respond(|s, req| {
            let Some(rule) = s.rules.iter_mut().find(|r| r.matches(req, When::Before)) else {
                // Used up between the match and the answer (a concurrent
                // call): a plain 503 still changes nothing.
                return Fault::status(503).answer();
            };
            rule.remaining -= 1;
            let answer = rule.fault.answer();
            s.rules.retain(|r| r.remaining > 0);
            s.answered += 1;
            answer
        });
        Mock::given(
            self.state
                .matches(|s, req| s.rules.iter().any(|r| r.matches(req, When::Before))),
        )
        .respond_with(answer)
        .with_priority(1)
    }
}

/// A responder whose answer a fault may replace after it acted.
struct AfterEffect<R> {
    faults: Faults,
    respond: R,
}

impl<R: Respond> Respond for AfterEffect<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let answer = self.respond.respond(request);
        self.faults.after_effect(request).unwrap_or(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::upstream;

    /// A raw HTTP/1.1 exchange, to see exactly what the fake sends.
    fn call(url: &str, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        use std::io::{Read, Write};
        let addr = url.trim_start_matches("http://");
        let mut tcp = std::net::TcpStream::connect(addr)?;
        write!(
            tcp,
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
        )?;
        let mut raw = String::new();
        tcp.read_to_string(&mut raw)?;
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        Ok((status, body))
    }

    #[test]
    fn rules_answer_their_count_of_matching_calls_then_the_fake_answers() {
        let server = upstream::start();
        let faults = Faults::new();
        upstream::blocking(async {
            faults.mock().mount(&server).await;
            Mock::given(wiremock::matchers::any())
                .respond_with(ResponseTemplate::new(200).set_body_string("real"))
                .mount(&server)
                .await;
        });
        let url = server.uri();
        faults.inject(
            "POST",
            "/keys",
            2,
            Fault::Status {
                status: 429,
                retry_after: Some(3),
            },
        );
        // Another method or path is not affected.
        assert_eq!(call(&url, "GET", "/keys").unwrap(), (200, "real".into()));
        assert_eq!(call(&url, "POST", "/other").unwrap().0, 200);
        assert_eq!(call(&url, "POST", "/keys").unwrap().0, 429);
        assert_eq!(call(&url, "POST", "/keys/x").unwrap().0, 429);
        assert_eq!(call(&url, "POST", "/keys").unwrap().0, 200);
        assert_eq!(faults.answered(), 2);

        faults.inject("*", "", 1, Fault::TruncatedJson);
        let (status, body) = call(&url, "DELETE", "/anything").unwrap();
        assert_eq!(status, 200);
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
        faults.inject("GET", "", 5, Fault::Malformed);
        faults.clear();
        assert_eq!(call(&url, "GET", "/x").unwrap(), (200, "real".into()));
    }
}
