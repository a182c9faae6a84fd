//! Everything the server knows, shared by all workers: the clock, the fixtures, each family's
//! transactions and accounts, the journal and the OTP outbox.

use std::sync::Arc;

use crate::abha::AbhaState;
use crate::accounts::Accounts;
use crate::callbacks::{Dispatcher, Faults};
use crate::clock::Clock;
use crate::fixtures::Fixtures;
use crate::gateway::GatewayState;
use crate::hpr::HprState;
use crate::journal::Journal;
use crate::otp::Outbox;
use crate::phr::PhrState;

pub struct AppState {
    pub clock: Clock,
    pub fixtures: Arc<Fixtures>,
    pub journal: Journal,
    pub outbox: Outbox,
    pub hpr: HprState,
    pub accounts: Accounts,
    pub abha: AbhaState,
    pub phr: PhrState,
    pub gateway: GatewayState,
    pub callbacks: Dispatcher,
    pub faults: Faults,
}

impl AppState {
    pub fn new(fixtures: Fixtures, journal_capacity: usize) -> Self {
        let fixtures = Arc::new(fixtures);
        AppState {
            clock: Clock::default(),
            hpr: HprState::new(&fixtures),
            accounts: {
                let accounts = Accounts::default();
                accounts.reset(&fixtures);
                accounts
            },
            abha: AbhaState::default(),
            phr: PhrState::default(),
            gateway: GatewayState::default(),
            callbacks: Dispatcher::default(),
            faults: Faults::default(),
            fixtures,
            journal: Journal::new(journal_capacity),
            outbox: Outbox::new(journal_capacity),
        }
    }

    /// Back to the state right after start-up: no transactions, created accounts, journal or
    /// outbox; the fixtures as loaded; virtual time equal to real time.
    pub fn reset(&self) {
        self.clock.reset();
        self.journal.clear();
        self.outbox.clear();
        self.hpr.reset(&self.fixtures);
        self.accounts.reset(&self.fixtures);
        self.abha.reset();
        self.phr.txns.clear();
        self.gateway.reset();
        self.faults.set(Vec::new());
    }

    /// Drops expired transactions of every flow; returns how many.
    pub fn sweep(&self) -> usize {
        let now = self.clock.now();
        self.hpr.txns.sweep(now) + self.abha.sweep(now) + self.phr.txns.sweep(now) + self.gateway.sweep(now)
    }

    /// Live transactions across all flows.
    pub fn live_transactions(&self) -> usize {
        self.hpr.txns.len() + self.abha.txns.len() + self.phr.txns.len() + self.gateway.auth.len()
    }
}
