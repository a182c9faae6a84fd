//! One sandbox's whole state: the shared parts and each family's own, each a piece of app data
//! that handlers take by type. Only the app factory and the control API (reset, sweep, health)
//! see the whole; the families import only [`crate::shared`] and their own state.

use std::sync::Arc;

use actix_web::web::Data;

use crate::abha::enrol::AbhaState;
use crate::callbacks::Queued;
use crate::carestack::CarestackState;
use crate::fixtures::{Credentials, Fixtures};
use crate::gateway::{hiu_consent, sessions, Gateway};
use crate::hpr::txn::HprState;
use crate::persist::Db;
use crate::phr::PhrState;
use crate::shared::{Shared, Sink};

/// Every piece of one sandbox's state.
#[derive(Clone)]
pub struct AppState {
    /// Clock, fixtures, journal, outbox, accounts, callbacks.
    pub shared: Data<Shared>,
    /// HPR registration.
    pub hpr: Data<HprState>,
    /// ABHA enrolment.
    pub abha: Data<AbhaState>,
    /// PHR address creation.
    pub phr: Data<PhrState>,
    /// The Carestack services' resources, care contexts, bundles and jobs.
    pub carestack: Data<CarestackState>,
    /// The gateway's flows.
    pub gateway: Gateway,
}

impl AppState {
    /// A fresh sandbox with these fixtures and a journal (and outbox) of this many entries, and
    /// what `db` kept for the workspace `default`.
    pub fn new(
        fixtures: Fixtures,
        journal_capacity: usize,
        credentials: Credentials,
        db: Option<Arc<Db>>,
    ) -> Self {
        let default = (crate::shared::DEFAULT_WORKSPACE, credentials);
        AppState::shared_fixtures(Arc::new(fixtures), journal_capacity, default, db)
    }

    /// A sandbox for the workspace `name`, sharing the server's fixtures: fresh, but for what
    /// `db` kept for it.
    pub fn shared_fixtures(
        fixtures: Arc<Fixtures>,
        journal_capacity: usize,
        (name, credentials): (&str, Credentials),
        db: Option<Arc<Db>>,
    ) -> Self {
        let signer = sessions::gateway_token;
        let shared = Data::new(Shared::new(fixtures, journal_capacity, signer, (name, credentials), db));
        AppState {
            hpr: Data::new(HprState::new(&shared.fixtures, shared.log.clone())),
            abha: Data::default(),
            phr: Data::default(),
            carestack: Data::default(),
            gateway: Gateway::new(shared.clock.clone(), name, &shared.log),
            shared,
        }
    }

    /// Puts every piece where handlers find it: the app's data (the server's own state, the
    /// workspace `default`), or a workspace's data container.
    pub fn register_into(&self, sink: &mut impl Sink) {
        sink.put(Data::new(self.clone()));
        sink.put(self.shared.clone());
        sink.put(self.shared.journal.clone());
        sink.put(self.shared.callbacks.faults.clone());
        sink.put(self.hpr.clone());
        sink.put(self.abha.clone());
        sink.put(self.phr.clone());
        sink.put(self.carestack.clone());
        self.gateway.register_into(sink);
    }

    /// A rough size of what this sandbox holds beyond an idle one: journal entries, OTPs and
    /// live transactions at their typical recorded sizes.
    pub fn memory_estimate(&self) -> usize {
        const IDLE: usize = 16 * 1024;
        IDLE + self.shared.journal.len() * 1024 + self.live_transactions() * 512
    }

    /// The receiving end of the callback queue, once.
    pub fn callbacks(&self) -> Option<tokio::sync::mpsc::Receiver<Queued>> {
        self.shared.callbacks.take_receiver()
    }

    /// Back to the state right after start-up: no transactions, created accounts, journal,
    /// outbox, bridges, links, Carestack resources or faults; the fixtures as loaded; virtual
    /// time equal to real time; nothing of this workspace kept in the state file.
    pub fn reset(&self) {
        self.shared.reset();
        self.hpr.reset(&self.shared.fixtures);
        self.abha.reset();
        self.phr.clear();
        self.carestack.reset();
        self.gateway.reset();
    }

    /// Drops expired transactions of every flow, and expires HIU artefacts past their erase
    /// date (notifying their HIUs); returns how many.
    pub fn sweep(&self) -> usize {
        let now = self.shared.clock.now();
        hiu_consent::expire_due(&self.hiu_parts(), now)
            + self.hpr.sweep(now)
            + self.abha.sweep(now)
            + self.phr.sweep(now)
            + self.gateway.sweep(now)
    }

    /// What the HIU consent flow works with, outside a request.
    pub fn hiu_parts(&self) -> hiu_consent::Parts {
        let g = &self.gateway;
        hiu_consent::Parts {
            sh: self.shared.clone(),
            bridges: g.bridges.clone(),
            hygiene: g.hygiene.clone(),
            requests: g.consent_requests.clone(),
        }
    }

    /// Live transactions across all flows.
    pub fn live_transactions(&self) -> usize {
        self.hpr.live() + self.abha.live() + self.phr.len() + self.gateway.live()
    }
}
