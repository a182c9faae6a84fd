//! `LookupService`: `POST /ai/get-code {semanticTag, searchTerm}` searches a small terminology
//! table shipped as data (`fixtures/carestack/terminology.json`: SNOMED CT and LOINC codes for
//! common terms, each under the semantic tags it answers to). A deterministic stand-in for a
//! terminology server: an entry scores by how many words of the search term it shares with its
//! text or a synonym (a word matches another that shares most of its stem, so `hypertension`
//! finds `Hypertensive disorder`); the answer is a bare array, best first.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use actix_web::{web, HttpResponse, Scope};
use serde::Deserialize;
use serde_json::json;

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};

/// One term of the table.
#[derive(Debug, Deserialize)]
struct Term {
    code: String,
    text: String,
    system: String,
    tags: Vec<String>,
    #[serde(default)]
    synonyms: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Table {
    terms: Vec<Term>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../fixtures/carestack/terminology.json"))
        .expect("fixtures/carestack/terminology.json is valid")
});

/// At most this many answers.
const LIMIT: usize = 10;

/// The look-up route.
pub fn routes(scope: Scope) -> Scope {
    scope.route("/ai/get-code", web::post().to(get_code))
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Whether two words are one: equal, or sharing a stem of most of the shorter one's length.
fn alike(a: &str, b: &str) -> bool {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let shorter = a.chars().count().min(b.chars().count());
    a == b || (common >= 5 && common * 10 >= shorter * 7)
}

/// How much of `text` the search words cover, and of the search `text` covers: 0 to 1.
fn similarity(search: &[String], text: &str) -> f64 {
    let mine = words(text);
    if search.is_empty() || mine.is_empty() {
        return 0.0;
    }
    let hits = search.iter().filter(|s| mine.iter().any(|m| alike(s, m))).count();
    let union = search.len() + mine.len() - hits;
    hits as f64 / union as f64
}

/// The semantic tags the table knows.
fn tags() -> BTreeSet<&'static str> {
    TABLE.terms.iter().flat_map(|t| t.tags.iter().map(String::as_str)).collect()
}

/// The best matches of `term` under `tag`: (code, text, similarity).
pub fn search(tag: &str, term: &str) -> Vec<(String, String, f64)> {
    let search = words(term);
    let mut hits: Vec<(String, String, f64)> = TABLE
        .terms
        .iter()
        .filter(|t| t.tags.iter().any(|x| x == tag))
        .filter_map(|t| {
            let best = std::iter::once(&t.text)
                .chain(&t.synonyms)
                .map(|s| similarity(&search, s))
                .fold(0.0, f64::max);
            (best > 0.0).then(|| (t.code.clone(), t.text.clone(), (best * 100.0).round() / 100.0))
        })
        .collect();
    hits.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    hits.truncate(LIMIT);
    hits
}

/// `POST /ai/get-code {semanticTag, searchTerm}` → `[{code, text, similarity, system}]`.
async fn get_code(body: JsonBody) -> ApiResult<HttpResponse> {
    let tag = body.str("semanticTag")?;
    let term = body.str("searchTerm")?;
    let known = tags();
    if !known.contains(tag) {
        return Err(ApiError::bad("semanticTag", "semantic-tag", format!("{tag:?} is not one of {known:?}")));
    }
    let system =
        |code: &str| TABLE.terms.iter().find(|t| t.code == code).map(|t| t.system.as_str()).unwrap_or("");
    let found: Vec<_> = search(tag, term)
        .into_iter()
        .map(|(code, text, s)| json!({"code": code, "text": text, "similarity": s, "system": system(&code)}))
        .collect();
    Ok(HttpResponse::Ok().json(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_synonyms_find_their_codes() {
        assert_eq!(search("diagnosis", "Hypertension")[0].0, "38341003");
        assert_eq!(search("condition", "heart attack")[0].0, "22298006");
        assert_eq!(search("radiology_imaging", "chest x-ray")[0].0, "36643-5");
        assert!(search("medication", "zzzz").is_empty());
    }
}
