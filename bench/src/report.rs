//! Printing results: one block per scenario, and a summary table at the end
//! (the rows BENCHMARKS.md is made of).

use crate::client::Recorded;

pub struct Row {
    pub scenario: String,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub note: String,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Prints a phase and returns its summary row.
pub fn print(name: &str, recorded: &Recorded, peak_rss_mib: Option<f64>, note: String) -> Row {
    let h = &recorded.latency;
    println!("\n== {name}");
    println!(
        "   requests {:>8}   elapsed {:>7.2} s   throughput {:>8.1} req/s",
        recorded.requests,
        recorded.elapsed.as_secs_f64(),
        recorded.throughput()
    );
    println!(
        "   latency ms  p50 {:>7.2}   p90 {:>7.2}   p99 {:>7.2}   max {:>7.2}",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
    let outcomes: Vec<String> = recorded.outcomes.iter().map(|(label, n)| format!("{label}: {n}")).collect();
    println!("   outcomes    {}", outcomes.join(", "));
    if let Some(rss) = peak_rss_mib {
        println!("   server peak RSS {rss:.1} MiB");
    }
    if !note.is_empty() {
        println!("   {note}");
    }
    Row {
        scenario: name.to_owned(),
        throughput: recorded.throughput(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        note,
    }
}

pub fn summary(engine: &str, rows: &[Row]) {
    println!("\n== summary ({engine})\n");
    println!("| scenario | req/s | p50 ms | p99 ms | notes |");
    println!("|---|---:|---:|---:|---|");
    for row in rows {
        println!("| {} | {:.0} | {:.2} | {:.2} | {} |", row.scenario, row.throughput, row.p50_ms, row.p99_ms, row.note);
    }
}
