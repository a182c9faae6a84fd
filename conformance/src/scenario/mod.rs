//! Scenarios: the model ([`model`]), `{{templates}}` ([`template`]) and the loader that refuses a
//! broken file with its place ([`load`]: the file and the line the YAML parser gives).

pub mod load;
pub mod model;
mod position;
pub mod template;

pub use load::{load_dir, load_file, parse as parse_text, LoadError};
pub use model::{Role, Scenario, Step};
