//! The scenario file format: one YAML file per documented checklist, a list of steps, each one
//! exchange between two roles. See `scenarios/README.md` for the format with examples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scenario file: a documented checklist as a list of steps.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique among the files of a folder; `check --scenario ID` selects it.
    pub id: String,
    /// The checklist's name, shown in reports.
    pub title: String,
    /// The requirement document (seed file) the checklist comes from.
    #[serde(default)]
    pub source: String,
    /// Labels `check --tag` selects by (`hip`, `hpr`, ...).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Values every step can use as `{{name}}`.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Headers sent with every request the runner sends (a step's own headers win).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The exchanges, in the order the checklist documents them.
    pub steps: Vec<Step>,
    /// Set by the loader: the file the scenario came from.
    #[serde(skip_deserializing, default)]
    pub file: String,
}

/// Who sends a step's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The integrator's software calling ABDM (an HMIS, a PHR app, the Carestack SDK).
    Client,
    /// A HIP's software calling the gateway, or being called by it.
    Hip,
    /// A HIU's software asking for consent and health information, or being called back.
    Hiu,
    /// The ABDM gateway calling back (and the sandbox pushing data as the HIPs it plays).
    Gateway,
}

/// Which role the target under test plays, and so which the runner plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The target is a gateway; the runner is the client and the HIP.
    Gateway,
    /// The target is a HIP; the runner hosts the gateway and watches the HIP's traffic.
    Hip,
    /// The target is a client program; the runner hosts the gateway and judges its traffic.
    Client,
    /// The target is a HIU driven by its own harness; the runner hosts the gateway, starts the
    /// HIU's flow (a `start` step) and watches its traffic.
    Hiu,
}

/// How the checklist ranks a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Requirement {
    /// A row that must pass for the integration to be accepted.
    Mandatory,
    /// A row reported but not required.
    Optional,
}

/// The checklist row a step comes from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The checklist's S.No (or the sequence step for documents without numbered rows).
    pub sno: String,
    /// Mandatory or Optional, as the checklist says.
    pub requirement: Requirement,
    /// The checklist's "Functionality" column.
    #[serde(default)]
    pub functionality: String,
    /// The checklist's "Test scenario" column.
    #[serde(default)]
    pub scenario: String,
}

/// One exchange between two roles: a message, and what must hold of it and of its answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique in the file; failures point at its line.
    pub id: String,
    /// What the step does, shown in reports.
    pub title: String,
    /// The checklist row it checks.
    pub row: Row,
    /// Who sends the message of this step.
    pub from: Role,
    /// Who receives it (defaults: client/hip/hiu → gateway, gateway → hip).
    #[serde(default)]
    pub to: Option<Role>,
    /// Not run: a UI-only row, with the reason.
    #[serde(default)]
    pub manual: Option<String>,
    /// Reported manual, with its reason, when a value only the target knows was not given (the
    /// OTP a HIP sent the patient, from `check --link-otp`).
    #[serde(default)]
    pub manual_unless: Option<ManualUnless>,
    /// Only against the sandbox (uses its control API), skipped against a real gateway.
    #[serde(default)]
    pub sandbox_only: bool,
    /// Only in this mode of the runner (`gateway`, `hip`, `hiu` or `client`); skipped in the others.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Preparation the runner always does itself, whichever role the target plays (a session,
    /// registering the bridge).
    #[serde(default)]
    pub setup: bool,
    /// Steps that must have passed first (besides those whose captures this step uses).
    #[serde(default)]
    pub needs: Vec<String>,
    /// The message: sent by the runner, awaited at its inbox, or found in the journal.
    #[serde(default)]
    pub request: Option<Request>,
    /// Instead of a message: the target under test starts its flow here, by the command its
    /// harness gave the runner (`check --hiu-start`), with these values added to its environment.
    /// Applies when the target plays `from`; when the runner plays that role it does not.
    #[serde(default)]
    pub start: Option<Start>,
    /// Instead of a message: a value the runner works out itself in the role it plays (a HIU
    /// decrypting what was pushed to it); `expect.body` and `capture` read the rendered value.
    /// Applies only when the runner plays `from`.
    #[serde(default)]
    pub evaluate: Option<Value>,
    /// For a message this side receives: how long to wait for it.
    #[serde(default)]
    pub within: Option<f64>,
    /// What must hold of the answer (or of the message, for one the runner receives).
    #[serde(default)]
    pub expect: Expect,
    /// Assertions on the body of the message as it was sent: what the runner sent, or, when the
    /// target plays this role, what the target sent.
    #[serde(default)]
    pub sent: Vec<Assertion>,
    /// For a message from the gateway: the status its receiver must answer with.
    #[serde(default)]
    pub answer: Option<Status>,
    /// Values to keep for later steps: name → JSON path into the answer (or the inbound body).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Values to keep from the body as it was sent.
    #[serde(default)]
    pub capture_sent: BTreeMap<String, String>,
    /// Set by the loader: the line of `id:` in the file.
    #[serde(skip_deserializing, default)]
    pub line: usize,
    /// Set by the loader: where the step's expectations stand in the file.
    #[serde(skip)]
    pub lines: StepLines,
}

/// How the target under test is started at a `start` step.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// Environment variables for the start command (templates allowed), beside those the runner
    /// always gives (the sandbox's URLs, the target's credentials).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// A value a step needs that may not be known, and why the step is checked by hand without it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManualUnless {
    /// A template (`"{{target.linkOtp}}"`); the step runs when it renders to a value that is
    /// neither null nor empty.
    pub known: String,
    /// Why the step is manual when the value is not known.
    pub why: String,
}

/// Where the parts of a step stand in its file (1-based lines), for failures to point at; a
/// part the step does not have, or a step built in code, has no line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepLines {
    /// The line of `id:`.
    pub id: usize,
    /// The line of `request:`.
    pub request: Option<usize>,
    /// The line of `answer:`.
    pub answer: Option<usize>,
    /// The lines of `expect`'s parts.
    pub expect: ExpectLines,
    /// The line of each assertion of `sent`, in order.
    pub sent: Vec<usize>,
    /// The line of each name of `capture`.
    pub capture: BTreeMap<String, usize>,
    /// The line of each name of `capture_sent`.
    pub capture_sent: BTreeMap<String, usize>,
}

/// Where the parts of an [`Expect`] stand in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectLines {
    /// The line of `status:`.
    pub status: Option<usize>,
    /// The line of each header name.
    pub headers: BTreeMap<String, usize>,
    /// The line of each body assertion, in order.
    pub body: Vec<usize>,
}

/// A step's message.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The HTTP method (default POST).
    #[serde(default = "post")]
    pub method: String,
    /// The path, starting with a family's prefix (`/gateway/v0.5/...`), or for a message the
    /// gateway sends, the path on the receiver's bridge (`/v0.5/users/auth/on-init`).
    pub path: String,
    /// Headers to send (templates allowed).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The JSON body (templates allowed in strings).
    #[serde(default)]
    pub body: Option<Value>,
}

fn post() -> String {
    "POST".into()
}

/// What must hold of a message: its status, headers and body.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// One status or a list of acceptable ones.
    #[serde(default)]
    pub status: Option<Status>,
    /// Header name → assertion on its value.
    #[serde(default)]
    pub headers: BTreeMap<String, Check>,
    /// Assertions on the JSON body.
    #[serde(default)]
    pub body: Vec<Assertion>,
}

/// An expected HTTP status: one, or a list of acceptable ones.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Status {
    /// Exactly this status.
    One(u16),
    /// Any of these.
    Any(Vec<u16>),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::One(s) => write!(f, "{s}"),
            Status::Any(l) => {
                write!(f, "one of {}", l.iter().map(u16::to_string).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

impl Status {
    /// Whether `s` is acceptable.
    pub fn accepts(&self, s: u16) -> bool {
        match self {
            Status::One(x) => *x == s,
            Status::Any(list) => list.contains(&s),
        }
    }
}

/// One assertion on the value(s) a JSON path selects.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    /// The JSON path (RFC 9535) selecting the value(s) checked.
    pub path: String,
    /// What must hold of them.
    #[serde(flatten)]
    pub check: Check,
}

/// The checks of one assertion (or of one header); each given one must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Equal to this JSON value (templates allowed in strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// A string matching this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// Selected (true) or not selected / null (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
    /// Not selected, or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<bool>,
    /// string, number, integer, boolean, array, object or null.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Equal to one of these values (templates allowed in strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    /// A string containing this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

impl Step {
    /// Who receives this step's message.
    pub fn receiver(&self) -> Role {
        self.to.unwrap_or(match self.from {
            Role::Client | Role::Hip | Role::Hiu => Role::Gateway,
            Role::Gateway => Role::Hip,
        })
    }
}
