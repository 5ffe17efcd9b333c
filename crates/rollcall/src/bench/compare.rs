//! Two rounds of the push bench compared: the ratios of their figures
//! (`--tls`: TLS / plaintext; `--metrics-scrape`: scraped / metrics off).
//! A figure that cannot be read, or reads 0, fails the bench.

use serde_json::{json, Value};

use crate::error::CliError;

/// The figures compared, by their key in the ratio report, and where
/// each round's report holds them.
const FIGURES: [(&str, &[&str]); 6] = [
    ("heartbeats_per_s", &["heartbeats_per_s"]),
    ("latency_p50_ms", &["latency_ms", "p50"]),
    ("latency_p99_ms", &["latency_ms", "p99"]),
    ("meta_cpu_s", &["meta_cpu_s"]),
    ("meta_cpu_per_heartbeat", &[]),
    ("meta_peak_rss_mb", &["meta_peak_rss_mb"]),
];

/// Figure `key` (at `path`) of one round's report; a figure that cannot
/// be read, or reads 0, fails the bench (no ratio can be taken of it).
fn figure(report: &Value, round: &str, key: &str, path: &[&str]) -> Result<f64, CliError> {
    let v = if path.is_empty() {
        // CPU seconds per heartbeat (closed loop rounds differ in count).
        let cpu = figure(report, round, "meta_cpu_s", &["meta_cpu_s"])?;
        let n = figure(report, round, "heartbeats", &["heartbeats"])?;
        Some(cpu / n)
    } else {
        path.iter()
            .try_fold(report, |v, k| v.get(k))
            .and_then(Value::as_f64)
    };
    match v {
        Some(x) if x > 0.0 && x.is_finite() => Ok(x),
        Some(x) => Err(CliError::Failed(format!(
            "the {round} round's {key} is {x}: no ratio can be taken (run longer, or with \
             more hosts)"
        ))),
        None => Err(CliError::Failed(format!(
            "the {round} round's {key} could not be read"
        ))),
    }
}

/// The ratios `other / base` of [`FIGURES`]; `names` are the rounds'
/// names (base, other) for errors.
pub fn ratios(
    base: &Value,
    other: &Value,
    names: (&str, &str),
) -> Result<serde_json::Map<String, Value>, CliError> {
    let mut out = serde_json::Map::new();
    for (key, path) in FIGURES {
        let b = figure(base, names.0, key, path)?;
        let o = figure(other, names.1, key, path)?;
        out.insert(key.to_string(), json!(o / b));
    }
    Ok(out)
}

/// The text of the ratio report, under `title`.
pub fn ratio_text(title: &str, r: &serde_json::Map<String, Value>) -> String {
    let at = |k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    [
        title.to_string(),
        format!("  heartbeats/s      {:.2}x", at("heartbeats_per_s")),
        format!(
            "  latency           p50 {:.2}x  p99 {:.2}x",
            at("latency_p50_ms"),
            at("latency_p99_ms")
        ),
        format!(
            "  meta CPU          {:.2}x ({:.2}x per heartbeat)",
            at("meta_cpu_s"),
            at("meta_cpu_per_heartbeat")
        ),
        format!("  meta peak RSS     {:.2}x", at("meta_peak_rss_mb")),
    ]
    .join("\n")
}

/// Indents every line of `text` by two spaces.
pub fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rate: f64, p50: f64, cpu: f64) -> Value {
        json!({
            "heartbeats": 100,
            "heartbeats_per_s": rate,
            "latency_ms": {"p50": p50, "p99": 2.0 * p50, "max": 3.0 * p50},
            "meta_cpu_s": cpu,
            "meta_peak_rss_mb": 10.0,
        })
    }

    #[test]
    fn ratios_are_the_second_round_over_the_first() {
        let r = ratios(
            &report(1000.0, 1.0, 0.5),
            &report(800.0, 1.5, 0.75),
            ("plaintext", "TLS"),
        )
        .unwrap();
        let at = |k: &str| r[k].as_f64().unwrap();
        assert!((at("heartbeats_per_s") - 0.8).abs() < 1e-9);
        assert!((at("latency_p50_ms") - 1.5).abs() < 1e-9);
        assert!((at("latency_p99_ms") - 1.5).abs() < 1e-9);
        assert!((at("meta_cpu_s") - 1.5).abs() < 1e-9);
        assert!((at("meta_cpu_per_heartbeat") - 1.5).abs() < 1e-9);
        assert!((at("meta_peak_rss_mb") - 1.0).abs() < 1e-9);
        let text = ratio_text("TLS / plaintext", &r);
        assert!(
            text.starts_with("TLS / plaintext") && text.contains("0.80x"),
            "{text}"
        );
    }

    #[test]
    fn a_figure_missing_or_zero_fails() {
        let names = ("plaintext", "TLS");
        let e = ratios(&report(1000.0, 1.0, 0.0), &report(800.0, 1.5, 0.75), names).unwrap_err();
        assert!(e.to_string().contains("meta_cpu_s"), "{e}");
        let mut bad = report(1000.0, 1.0, 0.5);
        bad["latency_ms"] = json!(null);
        let e = ratios(&bad, &report(800.0, 1.5, 0.75), names).unwrap_err();
        assert!(e.to_string().contains("could not be read"), "{e}");
    }
}
