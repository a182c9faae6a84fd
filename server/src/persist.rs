//! `serve --state FILE`: what a team builds up in a sandbox (ABHA numbers and addresses, HPR
//! accounts, bridges and services, linked care contexts, attached records, consents and consent
//! artefacts) kept in SQLite, per workspace. Each change is written before the request that made
//! it is answered, in WAL mode, so a killed server (SIGKILL) loses no record whose creating
//! request was answered. Transactions in flight, the journal and the outbox stay in memory.
//!
//! The file is one table of JSON values keyed by (workspace, kind, key); a store that persists
//! writes its whole value on each change and reads its rows back when its workspace is created.
//! The file records the schema version (`PRAGMA user_version`) and a fingerprint of the fixtures
//! it was written with (records refer to the fixtures' people by position), and is refused with a
//! message saying why when either does not match.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The layout this version writes; a file of a later one is refused.
pub const SCHEMA: i64 = 1;
/// Marks a SQLite file as this sandbox's state (`PRAGMA application_id`, "ABDM").
const APPLICATION_ID: i64 = 0x4142_444d;

/// What a row holds.
pub mod kind {
    /// An ABHA account with its addresses, by its 14 digits.
    pub const ABHA_ACCOUNT: &str = "abha-account";
    /// An HPR account, by the professional's Aadhaar.
    pub const HPR_ACCOUNT: &str = "hpr-account";
    /// A client's bridge URL and services, by client id.
    pub const BRIDGE: &str = "bridge";
    /// A linked care context, by address, HIP and reference.
    pub const LINK: &str = "link";
    /// A record a HIP attached at run time, by its bundle's name.
    pub const RECORD: &str = "record";
    /// A consent granted to the sandbox's HIU, by consent id.
    pub const CONSENT: &str = "consent";
    /// An HIU's consent request, by its id.
    pub const CONSENT_REQUEST: &str = "consent-request";
    /// A consent artefact granted to an HIU, by consent id.
    pub const ARTEFACT: &str = "artefact";
}

/// An open state file.
pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (or creates) the state file for a server with these fixtures (anything that
    /// serialises: their JSON is fingerprinted); an error says why the file cannot be used.
    pub fn open(path: &Path, fixtures: &impl Serialize) -> Result<Db, String> {
        let shown = path.display();
        let conn = Connection::open(path).map_err(|e| format!("{shown}: {e}"))?;
        let pragma = |name: &str| -> Result<i64, String> {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .map_err(|e| format!("{shown}: not a SQLite database ({e})"))
        };
        let (app, version) = (pragma("application_id")?, pragma("user_version")?);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| format!("{shown}: {e}"))?;
        if tables > 0 && app != APPLICATION_ID {
            return Err(format!("{shown} is a SQLite database, but not an abdm-sandbox state file"));
        }
        if version > SCHEMA {
            return Err(format!(
                "{shown} was written by a later abdm-sandbox (state schema {version}; this one reads up \
                 to {SCHEMA}): upgrade, or start with another --state file"
            ));
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(|e| format!("{shown}: {e}"))?;
        conn.execute_batch(&format!(
            "BEGIN;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS records (workspace TEXT NOT NULL, kind TEXT NOT NULL,
                 key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (workspace, kind, key))
                 WITHOUT ROWID;
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {SCHEMA};
             COMMIT;"
        ))
        .map_err(|e| format!("{shown}: {e}"))?;
        let print = fingerprint(fixtures);
        let written: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'fixtures'", [], |r| r.get(0))
            .optional()
            .map_err(|e| format!("{shown}: {e}"))?;
        match written {
            Some(w) if w != print => {
                return Err(format!(
                    "{shown} was written with other fixtures (fingerprint {}…, these are {}…): start \
                     with the same --fixtures, or another --state file",
                    &w[..w.len().min(12)],
                    &print[..12]
                ))
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('fixtures', ?1), ('writer', ?2)",
                    params![print, concat!("abdm-sandbox ", env!("CARGO_PKG_VERSION"))],
                )
                .map_err(|e| format!("{shown}: {e}"))?;
            }
        }
        Ok(Db { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written: every statement is
        // its own transaction.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, workspace: &str, kind: &str, key: &str, value: &str) -> rusqlite::Result<()> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "INSERT INTO records (workspace, kind, key, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (workspace, kind, key) DO UPDATE SET value = excluded.value",
        )?;
        st.execute(params![workspace, kind, key, value]).map(|_| ())
    }

    fn delete(&self, workspace: &str, kind: &str, key: &str) -> rusqlite::Result<()> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("DELETE FROM records WHERE workspace = ?1 AND kind = ?2 AND key = ?3")?;
        st.execute(params![workspace, kind, key]).map(|_| ())
    }

    fn rows(&self, workspace: &str, kind: &str) -> rusqlite::Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT key, value FROM records WHERE workspace = ?1 AND kind = ?2")?;
        let rows = st.query_map(params![workspace, kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// Deletes every record of a workspace; how many there were.
    pub fn forget(&self, workspace: &str) -> usize {
        let done = self.conn().execute("DELETE FROM records WHERE workspace = ?1", params![workspace]);
        done.unwrap_or_else(|e| {
            warn(workspace, "forget", &e);
            0
        })
    }

    /// The workspaces with records, and how many each holds.
    pub fn workspaces(&self) -> Vec<(String, usize)> {
        let conn = self.conn();
        let listed = conn
            .prepare("SELECT workspace, count(*) FROM records GROUP BY workspace ORDER BY workspace")
            .and_then(|mut st| {
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))?;
                rows.collect()
            });
        listed.unwrap_or_default()
    }
}

/// A stable fingerprint of the fixtures: SHA-256 of their JSON.
fn fingerprint(fixtures: &impl Serialize) -> String {
    let json = serde_json::to_vec(fixtures).unwrap_or_default();
    Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
}

fn warn(workspace: &str, what: &str, e: &dyn std::fmt::Display) {
    eprintln!("abdm-sandbox: state: workspace {workspace}: could not {what}: {e}");
}

/// One workspace's view of the state file; off (nothing written) without `--state`.
#[derive(Clone, Default)]
pub struct Log {
    db: Option<Arc<Db>>,
    workspace: Arc<str>,
}

impl Log {
    /// The records of `workspace` in `db`, or nothing kept when `db` is `None`.
    pub fn new(db: Option<Arc<Db>>, workspace: &str) -> Log {
        Log { db, workspace: Arc::from(workspace) }
    }

    /// The state file, when there is one.
    pub fn db(&self) -> Option<Arc<Db>> {
        self.db.clone()
    }

    /// Whether changes are kept.
    pub fn is_on(&self) -> bool {
        self.db.is_some()
    }

    /// Writes one record's value.
    pub fn put<T: Serialize + ?Sized>(&self, kind: &str, key: &str, value: &T) {
        let Some(db) = &self.db else { return };
        let written = serde_json::to_string(value)
            .map_err(|e| e.to_string())
            .and_then(|json| db.put(&self.workspace, kind, key, &json).map_err(|e| e.to_string()));
        if let Err(e) = written {
            warn(&self.workspace, &format!("write {kind} {key}"), &e);
        }
    }

    /// Deletes one record.
    pub fn delete(&self, kind: &str, key: &str) {
        let Some(db) = &self.db else { return };
        if let Err(e) = db.delete(&self.workspace, kind, key) {
            warn(&self.workspace, &format!("delete {kind} {key}"), &e);
        }
    }

    /// Every record of a kind, by key; a row that does not read as `T` is skipped with a
    /// warning.
    pub fn load<T: DeserializeOwned>(&self, kind: &str) -> Vec<(String, T)> {
        let Some(db) = &self.db else { return Vec::new() };
        let rows = db.rows(&self.workspace, kind).unwrap_or_else(|e| {
            warn(&self.workspace, &format!("read {kind}"), &e);
            Vec::new()
        });
        rows.into_iter()
            .filter_map(|(key, json)| match serde_json::from_str(&json) {
                Ok(v) => Some((key, v)),
                Err(e) => {
                    warn(&self.workspace, &format!("read {kind} {key}"), &e);
                    None
                }
            })
            .collect()
    }

    /// Deletes every record of this workspace (a reset, or the workspace dropped).
    pub fn forget(&self) {
        if let Some(db) = &self.db {
            db.forget(&self.workspace);
        }
    }
}

/// A status kept as a constant (`"GRANTED"`); the file holds its text, read back with [`status`].
pub type Status = &'static str;

/// The statuses consents and consent requests take.
const STATUSES: &[&str] = &["REQUESTED", "GRANTED", "DENIED", "REVOKED", "EXPIRED", "ERROR"];

/// Reads a status (`GRANTED`, `REVOKED`, ...) back from the file, for `#[serde(deserialize_with)]`.
pub fn status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    STATUSES.iter().find(|k| **k == s).copied().ok_or_else(|| {
        serde::de::Error::custom(format!("unknown status {s:?}, expected one of {STATUSES:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Fixtures;

    fn temp() -> (std::path::PathBuf, impl Drop) {
        struct Gone(std::path::PathBuf);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(format!("abdm-persist-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("state.db"), Gone(dir))
    }

    #[test]
    fn records_are_kept_per_workspace_and_forgotten() {
        let (path, _gone) = temp();
        let f = Fixtures::default_set();
        let db = Arc::new(Db::open(&path, &f).unwrap());
        let (a, b) = (Log::new(Some(db.clone()), "a"), Log::new(Some(db.clone()), "b"));
        a.put(kind::BRIDGE, "SBX_1", &serde_json::json!({"url": "http://a"}));
        a.put(kind::BRIDGE, "SBX_1", &serde_json::json!({"url": "http://a2"}));
        b.put(kind::BRIDGE, "SBX_1", &serde_json::json!({"url": "http://b"}));
        let got: Vec<(String, serde_json::Value)> = a.load(kind::BRIDGE);
        assert_eq!(got, vec![("SBX_1".to_string(), serde_json::json!({"url": "http://a2"}))]);
        drop(db);
        // Read back by a later open of the same file.
        let db = Arc::new(Db::open(&path, &f).unwrap());
        assert_eq!(db.workspaces(), vec![("a".to_string(), 1), ("b".to_string(), 1)]);
        Log::new(Some(db.clone()), "a").forget();
        assert_eq!(db.workspaces(), vec![("b".to_string(), 1)]);
        Log::new(Some(db.clone()), "b").delete(kind::BRIDGE, "SBX_1");
        assert!(db.workspaces().is_empty());
        // Without a file nothing is kept or read.
        let off = Log::default();
        off.put(kind::BRIDGE, "x", &1);
        assert!(off.load::<i32>(kind::BRIDGE).is_empty());
    }

    #[test]
    fn a_file_of_a_later_schema_is_refused() {
        let (path, _gone) = temp();
        let f = Fixtures::default_set();
        drop(Db::open(&path, &f).unwrap());
        Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 2;").unwrap();
        let e = Db::open(&path, &f).err().unwrap();
        assert!(e.contains("later abdm-sandbox (state schema 2; this one reads up to 1)"), "{e}");
    }

    #[test]
    fn another_programs_database_is_refused() {
        let (path, _gone) = temp();
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE patients (id TEXT);").unwrap();
        let e = Db::open(&path, &Fixtures::default_set()).err().unwrap();
        assert!(e.contains("not an abdm-sandbox state file"), "{e}");
    }

    #[test]
    fn other_fixtures_are_refused() {
        let (path, _gone) = temp();
        let mut f = Fixtures::default_set();
        drop(Db::open(&path, &f).unwrap());
        f.people[0].name = "Someone Else".to_string();
        let e = Db::open(&path, &f).err().unwrap();
        assert!(e.contains("written with other fixtures"), "{e}");
    }

    #[test]
    fn an_unknown_status_is_not_read() {
        #[derive(serde::Deserialize)]
        struct S {
            #[serde(deserialize_with = "status")]
            status: Status,
        }
        let s: S = serde_json::from_str(r#"{"status": "GRANTED"}"#).unwrap();
        assert_eq!(s.status, "GRANTED");
        assert!(serde_json::from_str::<S>(r#"{"status": "MAYBE"}"#).is_err());
    }
}
