//! The `berth` binary: `serve` (default), `migrate`, `openapi`.

use anyhow::Context;
use clap::Parser;

use std::time::Duration;

use berth::{
    app::Application,
    auth::Role,
    config::{Cli, Command, Config},
    domain::ids::ResourceId,
    http, service, store, telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", http::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Token { role, sub, ttl } => {
            let secret_set = cli.config.jwt_secret.as_deref().is_some_and(|s| !s.is_empty());
            anyhow::ensure!(
                secret_set,
                "set BERTH_JWT_SECRET (or --jwt-secret): a token minted with a random secret would be useless"
            );
            let sub = match (role, sub) {
                (_, Some(sub)) => sub,
                (Role::Admin, None) => "admin".to_owned(),
                (Role::Customer, None) => anyhow::bail!("a customer token needs --sub CUSTOMER_ID"),
            };
            println!("{}", cli.config.authenticator()?.mint(role, &sub, ttl.into())?);
            Ok(())
        }
        Command::Audit { resource } => {
            telemetry::init_logging(cli.config.log_format == "json");
            let clean = audit(&cli.config, resource.map(ResourceId)).await?;
            std::process::exit(if clean { 0 } else { 1 })
        }
        Command::RepairUsage { resource } => {
            telemetry::init_logging(cli.config.log_format == "json");
            repair_usage(&cli.config, resource.map(ResourceId)).await
        }
        Command::Migrate => {
            telemetry::init_logging(cli.config.log_format == "json");
            migrate(&cli.config).await
        }
        Command::Serve => {
            telemetry::init_logging(cli.config.log_format == "json");
            serve(&cli.config).await
        }
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = store::connect(&config.database_url, 1, config.db_acquire_timeout())
        .await
        .context("cannot open the database")?;
    store::migrate(&db).await.context("cannot migrate the database")?;
    tracing::info!(database = store::backend_name(&db), "migrations applied");
    Ok(())
}

/// The services on the configured database, without migrating it.
async fn services(config: &Config) -> anyhow::Result<service::Db> {
    let db = store::connect(&config.database_url, 2, config.db_acquire_timeout())
        .await
        .context("cannot open the database")?;
    Ok(service::Db::new(db))
}

/// Prints the audit's report; whether it found nothing.
async fn audit(config: &Config, resource: Option<ResourceId>) -> anyhow::Result<bool> {
    let db = services(config).await?;
    let started = std::time::Instant::now();
    let report = service::audit::audit_all(&db, resource, http::audit::BOOKINGS_PER_CALL).await?;
    let checked = report.checked;
    for violation in &report.violations {
        let ids: Vec<String> = violation.booking_ids.iter().map(ToString::to_string).collect();
        println!(
            "{} resource={} bookings=[{}] {}",
            violation.kind.as_str(),
            violation.resource_id.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            ids.join(","),
            violation.detail
        );
    }
    println!(
        "audit: {} ({} resources, {} bookings, {} usage hours, {} events checked in {} ms; {} violations)",
        if report.ok() { "ok" } else { "VIOLATIONS" },
        checked.resources,
        checked.bookings,
        checked.usage_hours,
        checked.events,
        started.elapsed().as_millis(),
        report.violations.len()
    );
    Ok(report.ok())
}

async fn repair_usage(config: &Config, resource: Option<ResourceId>) -> anyhow::Result<()> {
    let db = services(config).await?;
    // Behind the schema fence like `serve`: a newer release owns the rows.
    let unknown = service::schema::check(&db).await?;
    anyhow::ensure!(
        unknown.is_empty(),
        "the database has migrations this binary does not know ({}): run the newer release's `berth repair-usage`",
        unknown.join(", ")
    );
    let repaired = service::audit::repair_usage(&db, resource).await?;
    println!("repair-usage: {} resources rebuilt, {} hours changed", repaired.resources, repaired.hours_changed);
    Ok(())
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    let addr = app.local_addr()?;
    let (applied, pending) = store::migration_state(app.db()).await.unwrap_or_default();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %format!("http://{addr}"),
        swagger_ui = %format!("http://{addr}/docs"),
        database = store::backend_name(app.db()),
        database_at = %store::describe_url(&config.database_url),
        migrations_applied = applied,
        migrations_pending = pending,
        "berth is serving"
    );
    // With an identity provider there is a way in already: printing a token
    // of the made-up secret would only put an admin credential into stdout,
    // which ends up in log storage.
    if app.authenticator().secret_is_ephemeral && !app.authenticator().has_identity_provider() {
        // Printed, not logged: logs never carry tokens.
        let token = app.authenticator().mint(Role::Admin, "admin", Duration::from_secs(24 * 3600))?;
        println!(
            "\nBERTH_JWT_SECRET is not set: this process made up a secret, so tokens die with it.\n\
             Admin token (24 h), for \"Authorize\" in http://{addr}/docs :\n\n{token}\n"
        );
    }
    app.run_with_grace(shutdown_signal(), Duration::from_secs(config.shutdown_grace_seconds)).await?;
    tracing::info!("berth stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
