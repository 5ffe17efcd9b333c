//! The sweep: judges every host now and records who went OFFLINE (hosts
//! that come back are seen by their next heartbeat).

use rollcall_core::{EventKind, NodeId, Transition};

use crate::events::Subject;
use crate::heartbeat::offline_detail;
use crate::office::Office;
use crate::parts::Parts;

/// Judges every host in `office` now; emits `offline` events.
pub fn sweep(p: &Parts, office: &Office) {
    let ids: Vec<NodeId> = p.store.read().hosts().keys().copied().collect();
    let changed = office.sweep(p.clock.now(), ids);
    let offline: Vec<NodeId> = changed
        .into_iter()
        .filter(|(_, t)| *t == Transition::Offline)
        .map(|(n, _)| n)
        .collect();
    if offline.is_empty() {
        return;
    }
    let subjects: Vec<Subject> = {
        let s = p.store.read();
        offline.iter().map(|n| Subject::lookup(&s, *n)).collect()
    };
    let detail = offline_detail(&p.config);
    for who in subjects {
        p.events.push(EventKind::Offline, who, detail.clone());
    }
}
