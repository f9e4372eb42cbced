//! `--metrics-addr`: serves `/metrics` (Prometheus text) and `/health` over HTTP.
//!
//! One small thread outside the shards: it only reads the shards' atomics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::{ShardMetrics, render_prometheus};
use crate::error::{FerrisError, Result};

/// A running metrics endpoint; stops when dropped.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    /// The address it listens on (useful with port 0).
    pub addr: String,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MetricsServer({})", self.addr)
    }
}

impl MetricsServer {
    /// Listens on `addr` (`HOST:PORT`) and serves the given shards' metrics. `healthy` answers
    /// `/health`: 200 `ok` while true, 503 once the engine is shutting down.
    pub fn start(
        addr: &str,
        shards: Vec<Arc<ShardMetrics>>,
        healthy: Arc<AtomicBool>,
    ) -> Result<MetricsServer> {
        let server = tiny_http::Server::http(addr).map_err(|e| {
            FerrisError::Config(format!("--metrics-addr {addr}: cannot listen: {e}"))
        })?;
        let server = Arc::new(server);
        let bound = server.server_addr().to_string();
        let s = Arc::clone(&server);
        // The metrics thread is outside the data path: it reads atomics and writes HTTP.
        let thread = std::thread::Builder::new()
            .name("ferris-metrics".into())
            .spawn(move || {
                for request in s.incoming_requests() {
                    let (code, body, kind) = match request.url() {
                        "/metrics" => {
                            (200, render_prometheus(&shards), "text/plain; version=0.0.4")
                        }
                        "/health" if healthy.load(Ordering::Relaxed) => {
                            (200, "ok\n".to_string(), "text/plain")
                        }
                        "/health" => (503, "shutting down\n".to_string(), "text/plain"),
                        _ => (
                            404,
                            "not found: try /metrics or /health\n".to_string(),
                            "text/plain",
                        ),
                    };
                    let header = tiny_http::Header::from_bytes("Content-Type", kind)
                        .unwrap_or_else(|_| {
                            tiny_http::Header::from_bytes("X", "Y").expect("static header")
                        });
                    let _ = request.respond(
                        tiny_http::Response::from_string(body)
                            .with_status_code(code)
                            .with_header(header),
                    );
                }
            })
            .map_err(|e| FerrisError::Internal(format!("cannot start the metrics thread: {e}")))?;
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr: bound,
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn get(addr: &str, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_metrics_and_health() {
        let m = ShardMetrics::new(0, "j");
        ShardMetrics::add(&m.records_in, 7);
        let healthy = Arc::new(AtomicBool::new(true));
        let server = MetricsServer::start("127.0.0.1:0", vec![m], Arc::clone(&healthy)).unwrap();
        let metrics = get(&server.addr, "/metrics");
        assert!(
            metrics.starts_with("HTTP/1.1 200") || metrics.starts_with("HTTP/1.0 200"),
            "{metrics}"
        );
        assert!(
            metrics.contains("\nferris_records_in_total{shard=\"0\",job=\"j\"} 7\n"),
            "{metrics}"
        );
        assert!(get(&server.addr, "/health").ends_with("ok\n"));
        healthy.store(false, Ordering::Relaxed);
        assert!(get(&server.addr, "/health").contains(" 503 "));
        assert!(get(&server.addr, "/nope").contains(" 404 "));
    }
}
