//! A failed expectation as a value: what kind of check it was, what was expected, what arrived,
//! and where the step and the expectation stand in the scenario file. Every report renders the
//! same value: the terminal and JUnit as text, JSON as fields, HTML as a table.

use std::fmt;

use serde::Serialize;

/// Which kind of check failed, named as the scenario format names it where it has a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// `expect.status`: the answer's HTTP status.
    Status,
    /// `answer`: the status the receiver of a gateway message answered with.
    Answer,
    /// `expect.headers`: a header of the answer (or of the message that arrived).
    Header,
    /// `equals`.
    Equals,
    /// `matches`.
    Matches,
    /// `present`.
    Present,
    /// `absent`.
    Absent,
    /// `type`.
    Type,
    /// `one_of`.
    OneOf,
    /// `contains`.
    Contains,
    /// `capture` or `capture_sent`: the path selected nothing.
    Capture,
    /// A message the gateway must send never arrived at the runner's inbox.
    InboundMissing,
    /// A message of the target under test is not in the sandbox's journal (or came out of order).
    NotObserved,
    /// The request could not be sent, or its answer not read.
    Transport,
    /// The target's start command (a `start` step) could not run, failed or ran too long.
    Start,
    /// The step could not be applied as written: a template that does not render now, a JSON
    /// path that does not parse, a step without a request.
    Scenario,
}

impl FailureKind {
    /// The kind's name as reports show it (`one_of`, `inbound_missing`).
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Status => "status",
            FailureKind::Answer => "answer",
            FailureKind::Header => "header",
            FailureKind::Equals => "equals",
            FailureKind::Matches => "matches",
            FailureKind::Present => "present",
            FailureKind::Absent => "absent",
            FailureKind::Type => "type",
            FailureKind::OneOf => "one_of",
            FailureKind::Contains => "contains",
            FailureKind::Capture => "capture",
            FailureKind::InboundMissing => "inbound_missing",
            FailureKind::NotObserved => "not_observed",
            FailureKind::Transport => "transport",
            FailureKind::Start => "start",
            FailureKind::Scenario => "scenario",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One failed expectation of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Which kind of check failed.
    pub kind: FailureKind,
    /// What was checked: `status`, a JSON path, `header x-mode`, `capture token`, a path awaited.
    pub subject: String,
    /// What the scenario expected, as text (JSON for values); absent when there is no one value.
    pub expected: Option<String>,
    /// What arrived, as text (JSON for values; `nothing` when nothing was selected).
    pub actual: Option<String>,
    /// The whole sentence, as the step's `reason` joins them.
    pub message: String,
    /// The scenario file.
    pub file: String,
    /// The line of the step's `id:` in the file.
    pub line: usize,
    /// The line of the failing expectation (`status:`, the assertion, the capture) when the
    /// parser placed it.
    pub expectation_line: Option<usize>,
}

impl Failure {
    /// A failure of `kind` on `subject`; the message reads `subject: detail`. The file and lines
    /// are set by [`Failure::at`] and [`Failure::on_line`].
    pub(crate) fn new(kind: FailureKind, subject: impl Into<String>, detail: impl fmt::Display) -> Failure {
        let subject = subject.into();
        let message = if subject.is_empty() { detail.to_string() } else { format!("{subject}: {detail}") };
        Failure {
            kind,
            subject,
            expected: None,
            actual: None,
            message,
            file: String::new(),
            line: 0,
            expectation_line: None,
        }
    }

    /// A failure whose message is `message` as it stands (no subject in front).
    pub(crate) fn plain(
        kind: FailureKind,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Failure {
        Failure { subject: subject.into(), ..Failure::new(kind, "", message.into()) }
    }

    /// With what was expected and what arrived.
    pub(crate) fn values(mut self, expected: Option<String>, actual: Option<String>) -> Failure {
        self.expected = expected;
        self.actual = actual;
        self
    }

    /// With the line of the expectation that failed.
    pub(crate) fn on_line(mut self, line: Option<usize>) -> Failure {
        self.expectation_line = line.or(self.expectation_line);
        self
    }

    /// In `file`, at the step whose `id:` is on `line`.
    pub(crate) fn at(mut self, file: &str, line: usize) -> Failure {
        self.file = file.to_string();
        self.line = line;
        self
    }

    /// The same failure about the message as it was sent (`sent` and `capture_sent`).
    pub(crate) fn about_sent(mut self) -> Failure {
        self.subject = format!("sent {}", self.subject);
        self.message = format!("sent {}", self.message);
        self
    }

    /// `file:line`: the expectation's line when known, else the step's.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.expectation_line.unwrap_or(self.line))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
