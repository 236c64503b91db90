//! The tiny HTTP/1.1 server under the fake upstream services
//! ([`crate::fake_keys`], [`crate::fake_balena`]).
//!
//! It speaks just enough HTTP/1.1 for a client under test: one request per
//! connection, answered with `Connection: close`. A request body comes with
//! `Content-Length` or `Transfer-Encoding: chunked` (at most [`MAX_BODY`]
//! bytes are read); an `Authorization: Bearer <token>` header is picked out.
//! [`FakeServer`] listens on a free loopback port and serves every connection
//! on its own thread, so sync and async tests alike can use it; it stops
//! accepting when dropped.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// The largest request body the server reads; the rest is left unread.
pub const MAX_BODY: usize = 1 << 20;
/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One request, as the handler of a [`FakeServer`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, e.g. `GET` (empty if the request line was missing).
    pub method: String,
    /// The request target as sent: path and query, e.g. `/keys?name=a`.
    pub target: String,
    /// The token of an `Authorization: Bearer <token>` header, if any.
    pub bearer: Option<String>,
    /// The body (de-chunked; at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// Reads one request (request line, headers, body) from `reader`.
    ///
    /// # Errors
    /// If reading fails, the body is shorter than its `Content-Length`, or a
    /// chunk size is not hexadecimal.
    pub fn read_from(reader: &mut impl BufRead) -> io::Result<Self> {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut length = 0usize;
        let mut chunked = false;
        let mut bearer = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                let v = v.trim();
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.parse().unwrap_or(0),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    "authorization" => bearer = bearer_token(v),
                    _ => {}
                }
            }
        }
        let body = if chunked {
            read_chunked(reader)?
        } else {
            let mut body = vec![0; length.min(MAX_BODY)];
            reader.read_exact(&mut body)?;
            body
        };
        Ok(Self {
            method,
            target,
            bearer,
            body,
        })
    }
}

/// The token of an `Authorization` header value `Bearer <token>` (the
/// scheme in any case), if it is one.
fn bearer_token(value: &str) -> Option<String> {
    value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
}

/// Reads a chunked body up to and including its trailers; stops reading
/// chunks once the body would exceed [`MAX_BODY`].
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if size == 0 || body.len() + size > MAX_BODY {
            // Trailers end with an empty line.
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The `Content-Type` header value, e.g. `application/json`.
    pub content_type: &'static str,
    /// The body (may be empty).
    pub body: String,
}

impl HttpReply {
    /// Writes the reply as an HTTP/1.1 response with `Content-Length` and
    /// `Connection: close` (the reason phrase is always `X`).
    ///
    /// # Errors
    /// If writing fails.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        write!(
            out,
            "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            self.status,
            self.content_type,
            self.body.len(),
            self.body
        )?;
        out.flush()
    }
}

/// What a [`FakeServer`] calls for every request, on the connection's thread.
pub type Handler = Arc<dyn Fn(HttpRequest) -> HttpReply + Send + Sync>;

/// A running server on a free loopback port; stops accepting when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    url: String,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    /// Starts listening on `127.0.0.1:<free port>` and answers every request
    /// with `handler`.
    ///
    /// # Errors
    /// If no port can be bound.
    pub fn start(
        handler: impl Fn(HttpRequest) -> HttpReply + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let handler: Handler = Arc::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let handler = Arc::clone(&handler);
                thread::spawn(move || {
                    let _ = serve(conn, handler.as_ref());
                });
            }
        });
        Ok(Self {
            addr,
            url: format!("http://{addr}"),
            stop,
        })
    }

    /// The address it listens on (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Sends one request to the fake at `url` (`http://host:port`) the way a
/// plain client would, and returns the status and the body: for tests that
/// talk to a fake directly (in place of a plugin or a user's `curl`).
pub fn send(
    url: &str,
    method: &str,
    target: &str,
    body: &str,
    bearer: Option<&str>,
) -> io::Result<(u16, String)> {
    let mut conn = TcpStream::connect(url.trim_start_matches("http://"))?;
    let auth = bearer
        .map(|b| format!("Authorization: Bearer {b}\r\n"))
        .unwrap_or_default();
    write!(
        conn,
        "{method} {target} HTTP/1.1\r\nHost: fake\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut text = String::new();
    io::Read::read_to_string(&mut conn, &mut text)?;
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP answer"))?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}

/// Reads one request from `conn`, answers it with `handler`.
fn serve(
    mut conn: TcpStream,
    handler: &(dyn Fn(HttpRequest) -> HttpReply + Send + Sync),
) -> io::Result<()> {
    conn.set_read_timeout(Some(READ_TIMEOUT))?;
    let request = HttpRequest::read_from(&mut BufReader::new(conn.try_clone()?))?;
    handler(request).write_to(&mut conn)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn parse(raw: &str) -> HttpRequest {
        HttpRequest::read_from(&mut raw.as_bytes()).unwrap()
    }

    #[test]
    fn a_content_length_body_and_a_bearer_token_are_read() {
        let req = parse(
            "POST /keys?name=a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer  tok-1 \r\n\
             Content-Length: 5\r\n\r\nhello, and more",
        );
        assert_eq!(
            req,
            HttpRequest {
                method: "POST".into(),
                target: "/keys?name=a".into(),
                bearer: Some("tok-1".into()),
                body: b"hello".to_vec(),
            }
        );
    }

    #[test]
    fn a_chunked_body_is_joined_and_trailers_skipped() {
        let req = parse(
            "PATCH /v7/api_key(1) HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n\
             4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nx-trailer: y\r\n\r\n",
        );
        assert_eq!((req.method.as_str(), req.bearer), ("PATCH", None));
        assert_eq!(req.body, br#"{"a":1}"#);
        let bad = HttpRequest::read_from(
            &mut "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".as_bytes(),
        );
        assert_eq!(bad.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn only_bearer_authorization_counts_in_any_case() {
        let bearer = |value: &str| {
            parse(&format!("GET / HTTP/1.1\r\nauthorization: {value}\r\n\r\n")).bearer
        };
        assert_eq!(bearer("Bearer abc"), Some("abc".into()));
        assert_eq!(bearer("bearer abc"), Some("abc".into()));
        assert_eq!(bearer("BEARER abc"), Some("abc".into()));
        assert_eq!(bearer("Basic YTpi"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n").bearer, None);
    }

    #[test]
    fn a_short_body_is_an_error() {
        let short = HttpRequest::read_from(
            &mut "POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc".as_bytes(),
        );
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn the_server_answers_with_its_handler_until_dropped() {
        let server = FakeServer::start(|req| HttpReply {
            status: 201,
            content_type: "text/plain",
            body: format!(
                "{} {} {:?} {}",
                req.method,
                req.target,
                req.bearer,
                String::from_utf8_lossy(&req.body)
            ),
        })
        .unwrap();
        assert_eq!(server.url(), format!("http://{}", server.addr()));
        let mut conn = TcpStream::connect(server.addr()).unwrap();
        write!(
            conn,
            "PUT /x HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\nhi"
        )
        .unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 201 X\r\ncontent-type: text/plain\r\ncontent-length: 19\r\n\
             connection: close\r\n\r\nPUT /x Some(\"t\") hi"
        );
        let addr = server.addr();
        drop(server);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_ok() {
            assert!(std::time::Instant::now() < deadline, "still listening");
            thread::sleep(Duration::from_millis(20));
        }
    }
}
