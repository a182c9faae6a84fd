//! What every API family of one sandbox shares: the virtual clock, the fixtures, the journal,
//! the OTP outbox, the ABHA accounts (read by ABHA, PHR and the gateway) and the callback
//! dispatcher with its scripted faults. Each family keeps its own transactions in a state of its
//! own; handlers take this and their family's state as two pieces of app data. The records HIPs
//! attach at run time live here too, beside the fixtures', so every flow that serves records
//! sees both.

use std::sync::Arc;

use actix_web::web::{self, Data};

use crate::accounts::Accounts;
use crate::callbacks::{Dispatcher, Faults, Signer};
use crate::clock::Clock;
use crate::fixtures::{Credentials, Fixtures};
use crate::journal::Journal;
use crate::otp::Outbox;
use crate::persist::{Db, Log};
use crate::records::{Attached, Record};

/// Where a sandbox's pieces go: the app's data, or a workspace's data container.
pub trait Sink {
    /// Adds one piece.
    fn put<T: 'static>(&mut self, data: T);
}

impl Sink for web::ServiceConfig {
    fn put<T: 'static>(&mut self, data: T) {
        self.app_data(data);
    }
}

impl Sink for actix_web::dev::Extensions {
    fn put<T: 'static>(&mut self, data: T) {
        self.insert(data);
    }
}

/// The name of the bare paths' workspace.
pub const DEFAULT_WORKSPACE: &str = "default";

/// The parts of one sandbox that every family uses.
pub struct Shared {
    /// Virtual time.
    pub clock: Clock,
    /// The identities, facilities and credentials, as loaded.
    pub fixtures: Arc<Fixtures>,
    /// Every request and callback.
    pub journal: Data<Journal>,
    /// Every OTP "sent".
    pub outbox: Outbox,
    /// ABHA numbers and addresses, from the fixtures and created since.
    pub accounts: Accounts,
    /// Callbacks to bridges, and the scripted faults.
    pub callbacks: Data<Dispatcher>,
    /// Records HIPs attached at run time, beside the fixtures' own.
    pub attached: Attached,
    /// The address HIPs reach this sandbox at (for `dataPushUrl`), set once it listens.
    public_url: std::sync::OnceLock<String>,
    /// The workspace this sandbox is (`default` for the bare paths).
    pub workspace: String,
    /// Whether clients' own credentials are taken.
    pub credentials: Credentials,
    /// This workspace's records in the state file (`serve --state`), or nothing kept.
    pub log: Log,
}

impl Shared {
    /// A fresh sandbox's shared parts, with what `db` kept for the workspace; callbacks carry
    /// tokens from `signer`.
    pub fn new(
        fixtures: Arc<Fixtures>,
        journal_capacity: usize,
        signer: Signer,
        (workspace, credentials): (&str, Credentials),
        db: Option<Arc<Db>>,
    ) -> Self {
        let clock = Clock::default();
        let journal = Data::new(Journal::new(journal_capacity, clock.clone()));
        let log = Log::new(db, workspace);
        let accounts = Accounts::kept(&fixtures, log.clone());
        let attached = Attached::kept(log.clone());
        let callbacks = Data::new(Dispatcher::new(journal.clone(), Data::new(Faults::default()), signer));
        Shared {
            clock,
            fixtures,
            journal,
            outbox: Outbox::new(journal_capacity),
            accounts,
            callbacks,
            attached,
            public_url: std::sync::OnceLock::new(),
            workspace: workspace.to_string(),
            credentials,
            log,
        }
    }

    /// Where HIPs reach this sandbox (`http://127.0.0.1:PORT` unless `serve --public-url` says).
    pub fn public_url(&self) -> &str {
        self.public_url.get().map(String::as_str).unwrap_or("http://127.0.0.1")
    }

    /// Sets [`Shared::public_url`], once.
    pub fn set_public_url(&self, url: String) {
        let _ = self.public_url.set(url.trim_end_matches('/').to_string());
    }

    /// The care contexts the HIPs hold for a person (an index in the fixtures): the fixtures'
    /// records, then those attached since.
    pub fn records_of(&self, person: usize) -> Vec<Record> {
        let mut records = self.fixtures.people.get(person).map(|p| p.records.clone()).unwrap_or_default();
        records.extend(self.attached.of(person));
        records
    }

    /// A record's bundle, by name: a fixture file, or one attached at run time.
    pub fn bundle(&self, name: &str) -> Option<Arc<str>> {
        self.fixtures.bundles.get(name).cloned().or_else(|| self.attached.bundle(name))
    }

    /// Back to the state right after start-up: virtual time equal to real time, no journal,
    /// outbox, created accounts, attached records or faults; nothing kept in the state file.
    pub fn reset(&self) {
        self.log.forget();
        self.attached.clear();
        self.clock.reset();
        self.journal.clear();
        self.outbox.clear();
        self.accounts.reset(&self.fixtures);
        self.callbacks.faults.set(Vec::new());
        self.callbacks.forget_queued();
    }
}
