//! Scenarios: the model, `{{templates}}` and the loader that refuses a broken file with its
//! place (the file and line the YAML parser gives).

mod load;
mod model;
mod position;
pub(crate) mod template;

pub use load::{load_dir, load_file, parse as parse_text, LoadError};
pub use model::{
    Assertion, Check, Expect, ExpectLines, ManualUnless, Mode, Request, Requirement, Role, Row, Scenario,
    Start, Status, Step, StepLines,
};
