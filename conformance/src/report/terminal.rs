//! The terminal report: one line per step, then the reason of a step that did not pass, one
//! line per failure with its `file:line`. Colours are anstyle styles written through anstream,
//! which leaves them out when `NO_COLOR` is set, when the output is not a terminal, or when
//! colour is turned off (`--no-color`).

use std::fmt::Write as _;
use std::io::Write as _;

use anstream::stream::{AsLockedWrite, RawStream};
use anstream::{AutoStream, ColorChoice};
use anstyle::{AnsiColor, Style};

use super::{counts, mark, requirement, verdict};
use crate::run::{Outcome, RunReport};

/// The terminal report as text: styled (ANSI) when `color`, plain otherwise. To let the output
/// stream and the environment decide, use [`write_terminal`].
pub fn terminal(report: &RunReport, color: bool) -> String {
    let styled = styled(report);
    if color {
        styled
    } else {
        anstream::adapter::strip_str(&styled).to_string()
    }
}

/// Writes the terminal report to `out` (standard output, a file, a `Vec<u8>`): coloured only
/// when `color` is true, `out` is a terminal and the environment allows it (`NO_COLOR` unset;
/// `CLICOLOR_FORCE` forces colour).
pub fn write_terminal<W: RawStream + AsLockedWrite>(
    report: &RunReport,
    out: W,
    color: bool,
) -> std::io::Result<()> {
    let choice = if color { ColorChoice::Auto } else { ColorChoice::Never };
    let mut out = AutoStream::new(out, choice);
    out.write_all(styled(report).as_bytes())?;
    out.flush()
}

fn style(o: Outcome) -> Style {
    let color = match o {
        Outcome::Pass => AnsiColor::Green,
        Outcome::Fail => AnsiColor::Red,
        Outcome::Skipped => AnsiColor::Yellow,
        Outcome::Manual => AnsiColor::Cyan,
    };
    Style::new().fg_color(Some(color.into()))
}

fn styled(report: &RunReport) -> String {
    let mut out = format!("abdm-sandbox conformance run against {}\n", report.target);
    for s in &report.scenarios {
        let _ = writeln!(out, "\n{} — {} ({})", s.id, s.title, s.file);
        for st in &s.steps {
            let paint = style(st.outcome);
            let _ = write!(
                out,
                "  {paint}{:<6}{paint:#} S.No {:<4} {:<9} {:<52} {:>7.1} ms",
                mark(st.outcome),
                st.row.sno,
                requirement(st.row.requirement),
                truncate(&st.title, 52),
                st.duration_ms
            );
            if st.failures.is_empty() {
                if let Some(r) = &st.reason {
                    let _ = write!(out, "\n         {}:{}: {}", s.file, st.line, r);
                }
            }
            for f in &st.failures {
                let _ = write!(out, "\n         {}: {}", f.location(), f.message);
            }
            out.push('\n');
        }
        let _ = writeln!(out, "  {}", counts(s.steps.iter()));
    }
    let _ = writeln!(
        out,
        "\n{} scenarios, {} in {:.1} ms: {}",
        report.scenarios.len(),
        counts(report.steps()),
        report.duration_ms,
        verdict(report, false)
    );
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
