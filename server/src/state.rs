//! One sandbox's whole state: the shared parts and each family's own, each a piece of app data
//! that handlers take by type. Only the app factory and the control API (reset, sweep, health)
//! see the whole; the families import only [`crate::shared`] and their own state.

use actix_web::web::{self, Data};

use crate::abha::enrol::AbhaState;
use crate::callbacks::Callback;
use crate::carestack::CarestackState;
use crate::fixtures::Fixtures;
use crate::gateway::{hiu_consent, sessions, Gateway};
use crate::hpr::txn::HprState;
use crate::phr::PhrState;
use crate::shared::Shared;

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
    /// A fresh sandbox with these fixtures and a journal (and outbox) of this many entries.
    pub fn new(fixtures: Fixtures, journal_capacity: usize) -> Self {
        let shared = Data::new(Shared::new(fixtures, journal_capacity, sessions::gateway_token));
        AppState {
            hpr: Data::new(HprState::new(&shared.fixtures)),
            abha: Data::default(),
            phr: Data::default(),
            carestack: Data::default(),
            gateway: Gateway::new(shared.clock.clone()),
            shared,
        }
    }

    /// Registers every piece as app data.
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(Data::new(self.clone()))
            .app_data(self.shared.clone())
            .app_data(self.shared.journal.clone())
            .app_data(self.shared.callbacks.faults.clone())
            .app_data(self.hpr.clone())
            .app_data(self.abha.clone())
            .app_data(self.phr.clone())
            .app_data(self.carestack.clone());
        self.gateway.register(cfg);
    }

    /// The receiving end of the callback queue, once.
    pub fn callbacks(&self) -> Option<tokio::sync::mpsc::Receiver<Callback>> {
        self.shared.callbacks.take_receiver()
    }

    /// Back to the state right after start-up: no transactions, created accounts, journal,
    /// outbox, bridges, links, Carestack resources or faults; the fixtures as loaded; virtual time equal to real time.
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
