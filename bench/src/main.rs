//! `berth-bench`: how fast berth says yes and no.
//!
//! It starts a berth server as a child process (this binary re-executed in
//! `serve` mode, which runs exactly berth's production start-up code), sets
//! up resources and customers over HTTP, runs named scenarios, and prints
//! for each: requests, throughput, latency percentiles, outcomes by status
//! and problem type, the server's peak RSS, and an invariant check against
//! the database. In the same run it measures the limit set by the database
//! itself: the same service-layer work without HTTP at the same
//! concurrency, and on PostgreSQL a pgbench script with the same statements.
//!
//! `cargo run --release -p berth-bench -- --database sqlite` (or `postgres`);
//! `--smoke` for a tiny run (CI).

mod check;
mod client;
mod cpu;
mod limit;
mod peer;
mod report;
mod rush;
mod scenarios;
mod search;
mod series;
mod server;
mod sqlite_loop;
mod waitlist;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "berth-bench", about = "Load scenarios for berth")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Internal: run a berth server (what the bench starts as its child).
    #[command(hide = true)]
    Serve,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    All,
    Spread,
    Hotspot,
    Lifecycle,
    History,
    Fill,
    Policy,
    Slots,
    Peer,
    Series,
    Search,
    Waitlist,
    Rush,
    Storm,
}

#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Which database to run on.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub database: Engine,
    /// PostgreSQL server to create the bench database on.
    #[arg(long, env = "BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Which scenario.
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// Concurrent clients (spread, lifecycle, history, fill).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds each timed phase runs (spread, lifecycle).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Clients that book at the same instant in `rush` (10,000 unless set).
    #[arg(long)]
    pub rush_clients: Option<usize>,
    /// A tiny run of every scenario, for CI: proves the tool works, measures nothing.
    #[arg(long)]
    pub smoke: bool,
    /// `sslmode` of every PostgreSQL connection of the run (berth's, the
    /// bench's, pgbench's and psql's, through `PGSSLMODE`). `disable` by
    /// default: a PostgreSQL with `ssl = on` otherwise encrypts every
    /// round trip on loopback, which halves the peer's SQL and makes every
    /// share look better than it is (BENCHMARKS.md, #32 fourth part).
    #[arg(long, env = "BENCH_PG_SSLMODE", default_value = "disable")]
    pub pg_sslmode: String,
}

impl RunArgs {
    pub fn phase(&self) -> Duration {
        Duration::from_secs(if self.smoke { 1 } else { self.duration })
    }

    /// `full` normally, `small` with `--smoke`.
    pub fn size(&self, full: usize, small: usize) -> usize {
        if self.smoke { small } else { full }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.is_none() {
        // SAFETY: no other thread runs yet (the runtime is built below), so
        // nothing reads the environment while it changes; the server and
        // pgbench processes inherit it.
        unsafe { std::env::set_var("PGSSLMODE", &cli.run.pg_sslmode) };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Some(Command::Serve) => runtime.block_on(server::serve()),
        None => runtime.block_on(scenarios::run_all(cli.run)),
    }
}
