//! Scenarios: the model ([`model`]), `{{templates}}` ([`template`]) and the loader that refuses a
//! broken file with its place ([`load`]).

pub mod load;
pub mod model;
pub mod template;

pub use load::{load_dir, load_file, parse as parse_text, LoadError};
pub use model::{Role, Scenario, Step};
