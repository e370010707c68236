//! The berth server under test: a child process running berth's own
//! start-up code, and its memory as the kernel sees it.

use std::{
    net::TcpListener,
    process::Stdio,
    time::{Duration, Instant},
};

use berth::{app::Application, config::Config};
use tokio::process::{Child, Command};

pub const SECRET: &str = "bench-secret-bench-secret-bench-secret";

/// `berth-bench serve`: berth's production start-up, configured by the
/// environment the parent sets.
pub async fn serve() -> anyhow::Result<()> {
    let url = std::env::var("BENCH_DATABASE_URL")?;
    let listen = std::env::var("BENCH_LISTEN")?;
    let mut config = Config::for_database(url);
    config.listen = listen.parse()?;
    config.jwt_secret = Some(SECRET.into());
    config.rate_limit_per_second = 0;
    config.db_pool_size = std::env::var("BENCH_POOL").ok().and_then(|p| p.parse().ok()).unwrap_or(16);
    config.hold_sweep_interval_ms = 5_000;
    // Off unless set, as in berth (`BERTH_MAX_CONNECTIONS`; inherited).
    config.max_connections = std::env::var("BERTH_MAX_CONNECTIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    // The one-trip gatherers: berth's default unless set, as in berth
    // (`BERTH_ONE_TRIP_GATHERERS`; inherited), to compare settings.
    if let Some(gatherers) = std::env::var("BERTH_ONE_TRIP_GATHERERS").ok().and_then(|n| n.parse().ok()) {
        config.one_trip_gatherers = gatherers;
    }
    let app = Application::build(&config).await?;
    app.run_with_grace(
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
        Duration::from_secs(5),
    )
    .await?;
    Ok(())
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub async fn start(database_url: &str, pool: u32) -> anyhow::Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("BENCH_DATABASE_URL", database_url)
            .env("BENCH_LISTEN", format!("127.0.0.1:{port}"))
            .env("BENCH_POOL", pool.to_string())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(format!("{}/readyz", server.base)).send().await
                && response.status() == 200
            {
                return Ok(server);
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Resets the kernel's peak-RSS mark, so the next reading is this
    /// scenario's peak.
    pub fn reset_peak_rss(&self) {
        if let Some(pid) = self.pid() {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// Peak resident memory since the last reset, in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}
