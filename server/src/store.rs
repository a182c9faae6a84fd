//! Transactions of every flow, keyed by a random UUID (the `txnId` a client carries from step to
//! step). A transaction expires a fixed time after its last successful step; expired ones are
//! refused and then swept, so memory returns after a burst of abandoned flows.

use dashmap::mapref::one::RefMut;
use dashmap::DashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::{Millis, MINUTE};
use crate::error::{ApiError, ApiResult};
use crate::persist::Log;

/// How long a transaction stays alive after its last successful step.
pub const TXN_TTL: Millis = 30 * MINUTE;
/// How long an expired transaction is kept (refused as expired rather than unknown) before the
/// sweeper drops it.
pub const SWEEP_GRACE: Millis = 10 * MINUTE;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<T> {
    pub expires_at: Millis,
    pub value: T,
}

/// Writes an entry to the state file after a change, or deletes it (`None`).
type Saver<T> = Box<dyn Fn(Uuid, Option<&Entry<T>>) + Send + Sync>;

pub struct Store<T> {
    map: DashMap<Uuid, Entry<T>>,
    ttl: Millis,
    saver: Option<Saver<T>>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store::with_ttl(TXN_TTL)
    }
}

impl<T> Store<T> {
    /// A store whose entries live `ttl` after their last successful step.
    pub fn with_ttl(ttl: Millis) -> Self {
        Store { map: DashMap::new(), ttl, saver: None }
    }

    fn save(&self, id: Uuid, entry: Option<&Entry<T>>) {
        if let Some(saver) = &self.saver {
            saver(id, entry);
        }
    }

    fn inserted(&self, id: Uuid, entry: Entry<T>) {
        if self.saver.is_none() {
            self.map.insert(id, entry);
            return;
        }
        let at = self.map.entry(id).insert(entry);
        self.save(id, Some(&*at));
    }

    /// Starts a transaction and returns its id.
    pub fn insert(&self, value: T, now: Millis) -> Uuid {
        let id = Uuid::new_v4();
        self.inserted(id, Entry { expires_at: now + self.ttl, value });
        id
    }

    /// Inserts under a given id (one the client already knows, like a callback's requestId).
    pub fn insert_with_id(&self, id: Uuid, value: T, now: Millis) -> Uuid {
        self.inserted(id, Entry { expires_at: now + self.ttl, value });
        id
    }

    /// Inserts under a given id, alive until `expires_at` (past the store's own lifetime).
    pub fn insert_until(&self, id: Uuid, value: T, expires_at: Millis) {
        self.inserted(id, Entry { expires_at, value });
    }

    /// Keeps an entry alive until at least `at`.
    pub fn keep_until(&self, id: Uuid, at: Millis) {
        if let Some(mut e) = self.map.get_mut(&id) {
            e.expires_at = e.expires_at.max(at);
            self.save(id, Some(&*e));
        }
    }

    /// Reads an entry, expired or not (until swept).
    pub fn peek<R>(&self, id: Uuid, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.map.get(&id).map(|e| f(&e.value))
    }

    /// Changes an entry, expired or not, without renewing it; false when it is gone.
    pub fn update(&self, id: Uuid, f: impl FnOnce(&mut T)) -> bool {
        let Some(mut e) = self.map.get_mut(&id) else { return false };
        f(&mut e.value);
        self.save(id, Some(&*e));
        true
    }

    /// Runs one step on a live transaction. An unknown or expired id is refused, naming `field`.
    /// On success the transaction's lifetime is renewed.
    pub fn step<R>(
        &self,
        id: Uuid,
        field: &str,
        now: Millis,
        f: impl FnOnce(&mut T) -> ApiResult<R>,
    ) -> ApiResult<R> {
        let mut entry = self.live(id, field, now)?;
        let out = f(&mut entry.value);
        if out.is_ok() {
            entry.expires_at = now + self.ttl;
            self.save(id, Some(&*entry));
        }
        out
    }

    fn live(&self, id: Uuid, field: &str, now: Millis) -> ApiResult<RefMut<'_, Uuid, Entry<T>>> {
        let entry = self
            .map
            .get_mut(&id)
            .ok_or_else(|| ApiError::rule(field, "txn-unknown", format!("no transaction {id}")))?;
        if entry.expires_at <= now {
            return Err(ApiError::rule(
                field,
                "txn-expired",
                format!("transaction {id} has expired; start the flow again"),
            ));
        }
        Ok(entry)
    }

    /// Reads a live transaction without renewing it.
    pub fn read<R>(&self, id: Uuid, field: &str, now: Millis, f: impl FnOnce(&T) -> R) -> ApiResult<R> {
        let entry = self.live(id, field, now)?;
        Ok(f(&entry.value))
    }

    /// Drops every transaction that expired more than [`SWEEP_GRACE`] before `now`; returns how
    /// many.
    pub fn sweep(&self, now: Millis) -> usize {
        let before = self.map.len();
        let mut gone = Vec::new();
        self.map.retain(|id, e| {
            let keep = e.expires_at + SWEEP_GRACE > now;
            if !keep && self.saver.is_some() {
                gone.push(*id);
            }
            keep
        });
        self.map.shrink_to_fit();
        for id in gone {
            self.save(id, None);
        }
        before - self.map.len()
    }

    /// Visits every entry, expired or not (until swept).
    pub fn for_each(&self, mut f: impl FnMut(Uuid, &T)) {
        for e in self.map.iter() {
            f(*e.key(), &e.value().value);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Drops every entry; the state file is left to the caller (a reset forgets the whole
    /// workspace at once).
    pub fn clear(&self) {
        self.map.clear();
        self.map.shrink_to_fit();
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Store<T> {
    /// This store kept in the state file under `kind`: its entries read back now, each change
    /// written as it is made. Without a state file, the store as it was.
    pub fn persisted(mut self, log: &Log, kind: &'static str) -> Self {
        if !log.is_on() {
            return self;
        }
        for (key, entry) in log.load::<Entry<T>>(kind) {
            if let Ok(id) = Uuid::parse_str(&key) {
                self.map.insert(id, entry);
            }
        }
        let log = log.clone();
        self.saver = Some(Box::new(move |id, entry| match entry {
            Some(e) => log.put(kind, &id.to_string(), e),
            None => log.delete(kind, &id.to_string()),
        }));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_transactions_are_refused_and_swept() {
        let store = Store::default();
        let id = store.insert(1u32, 0);
        assert_eq!(store.step(id, "txnId", 10, |v| Ok(*v)).unwrap(), 1);
        // The step renewed the lifetime from t=10.
        assert!(store.read(id, "txnId", TXN_TTL + 5, |_| ()).is_ok());
        let err = store.read(id, "txnId", TXN_TTL + 10, |_| ()).unwrap_err();
        assert_eq!(err.rule, "txn-expired");
        let other = store.insert(2u32, 0);
        // Until the grace ends, the expired transaction is still named as expired.
        assert_eq!(store.sweep(TXN_TTL + SWEEP_GRACE - 1), 0);
        assert_eq!(store.read(id, "txnId", TXN_TTL + SWEEP_GRACE, |_| ()).unwrap_err().rule, "txn-expired");
        assert_eq!(store.sweep(TXN_TTL + SWEEP_GRACE + 1), 1);
        assert_eq!(store.sweep(TXN_TTL + SWEEP_GRACE + 20), 1);
        assert!(store.is_empty());
        assert_eq!(store.read(other, "txnId", 0, |_| ()).unwrap_err().rule, "txn-unknown");
    }
}
