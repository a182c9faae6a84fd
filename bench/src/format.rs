//! Number formatting and the target record shared by both halves of the report.

use serde_json::{json, Value};

/// A JSON number as f64.
pub(crate) fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// One target: what, the goal, the value, how it reads, and whether it is met.
pub(crate) fn target(
    id: &str,
    what: &str,
    goal: &str,
    value: Value,
    shown: String,
    met: Option<bool>,
) -> Value {
    json!({"id": id, "what": what, "target": goal, "value": value, "measured": shown, "met": met})
}

/// A number with thousands separators and `digits` decimals; "—" when missing.
pub(crate) fn num(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(x) => {
            let s = format!("{x:.digits$}");
            // Thousands separators for the integer part.
            let (int, frac) = s.split_once('.').map(|(a, b)| (a, Some(b))).unwrap_or((&s, None));
            let neg = int.starts_with('-');
            let digits_only = int.trim_start_matches('-');
            let mut out = String::new();
            for (i, c) in digits_only.chars().enumerate() {
                if i > 0 && (digits_only.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            format!(
                "{}{out}{}",
                if neg { "-" } else { "" },
                frac.map(|f| format!(".{f}")).unwrap_or_default()
            )
        }
        None => "—".to_string(),
    }
}

/// Kilobytes as megabytes.
pub(crate) fn mb(kb: &Value) -> String {
    match kb.as_f64() {
        Some(k) => format!("{:.1} MB", k / 1024.0),
        None => "—".to_string(),
    }
}

/// Server CPU per operation, in microseconds: `serverCpuSeconds` over `count`.
pub(crate) fn cpu_per(v: &Value, count: &Value) -> String {
    match (v["serverCpuSeconds"].as_f64(), count.as_f64()) {
        (Some(cpu), Some(n)) if n > 0.0 => format!("{} µs", num(&json!(cpu / n * 1e6), 0)),
        _ => "—".to_string(),
    }
}

/// A ratio as "N.NN×".
pub(crate) fn x(v: &Value) -> String {
    match v.as_f64() {
        Some(r) => format!("{r:.2}×"),
        None => "—".to_string(),
    }
}
