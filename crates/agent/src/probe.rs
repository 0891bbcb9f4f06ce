//! `airlock agent probe`: a health check for images without a shell or an HTTP client
//! (distroless), for Docker's HEALTHCHECK and ECS container health checks.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The same listener's `/readyz`.
pub fn readiness_url(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let authority = uri.authority().ok_or_else(|| format!("{url}: no host"))?;
    Ok(format!("http://{authority}/readyz"))
}

/// Asks `url` (`http://HOST:PORT/PATH`) once; `Ok` only for a 200.
pub fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// URLs are probed"));
    }
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let addr: SocketAddr = (host.trim_matches(|c| c == '[' || c == ']'), port)
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: {host} has no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{url}: {e}"))?;
    let io = |e: std::io::Error| format!("{url}: {e}");
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    // The status line and a short reason are enough; cap what is read.
    let mut answer = Vec::new();
    stream.take(4096).read_to_end(&mut answer).map_err(io)?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).unwrap_or("");
    if status == "200" {
        return Ok(());
    }
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b.trim());
    Err(format!("{url} answered {status}: {body}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer.as_bytes());
        });
        format!("http://{addr}/readyz")
    }

    #[test]
    fn only_a_200_is_healthy_and_the_reason_is_kept() {
        assert_eq!(
            probe(
                &serve_once("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"),
                Duration::from_secs(2)
            ),
            Ok(())
        );
        let err = probe(
            &serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\nnot ready: no credentials yet\n"),
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(
            err.contains("503") && err.contains("no credentials yet"),
            "{err}"
        );
    }

    #[test]
    fn readiness_is_asked_on_the_same_listener() {
        assert_eq!(
            readiness_url("http://127.0.0.1:9912/healthz").unwrap(),
            "http://127.0.0.1:9912/readyz"
        );
        assert!(readiness_url("/healthz").is_err());
    }

    #[test]
    fn nothing_listening_and_bad_urls_are_unhealthy() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(probe(&format!("http://{closed}/healthz"), Duration::from_secs(1)).is_err());
        assert!(
            probe("https://127.0.0.1:9912/healthz", Duration::from_secs(1))
                .unwrap_err()
                .contains("only http")
        );
        assert!(probe("not a url", Duration::from_secs(1)).is_err());
    }
}
