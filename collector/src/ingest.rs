//! Group commit: one writer thread takes every waiting batch and stores
//! them in one transaction, so many agents share one fsync.
//!
//! `synchronous = FULL` makes every commit wait for the disk; one commit per
//! request would cap ingest at the disk's fsync rate (a few hundred a second
//! on a small server). Batches that arrive while a commit is in flight wait
//! for the next one and are committed together. A batch's acknowledgement
//! is sent only after the commit that holds it returned, so the guarantee
//! is the same as one transaction per request.
//!
//! remote_write's outbound queues are appended inside that transaction,
//! before it commits (see [`crate::remote_write`]): local disk only, so a
//! slow or unreachable TSDB never holds ingest up.

use crate::store::{Identity, IngestOutcome, Store, StoreError};
use schoolwatch_protocol::Report;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most batches committed together; bounds the time one commit holds the
/// writer.
const MAX_GROUP: usize = 256;

type Reply = oneshot::Sender<Result<IngestOutcome, Arc<StoreError>>>;

struct Job {
    who: Identity,
    reports: Vec<Report>,
    reply: Reply,
}

/// The handle request handlers submit batches to. The writer thread ends
/// when every handle is dropped.
#[derive(Clone)]
pub struct Ingester {
    tx: mpsc::Sender<Job>,
}

impl Ingester {
    /// Starts the writer thread over `store`, queueing accepted reports'
    /// samples for `remote_write`'s endpoints (if any).
    pub fn start(store: Arc<Store>, remote_write: Arc<crate::remote_write::RemoteWrite>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_GROUP);
        std::thread::Builder::new()
            .name("schoolwatch-ingest".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                    let batches: Vec<(&Identity, &[Report])> = jobs
                        .iter()
                        .map(|j| (&j.who, j.reports.as_slice()))
                        .collect();
                    let result =
                        store.ingest_group_then(&batches, crate::fleet::now_ms(), |outcomes| {
                            remote_write.enqueue(&batches, outcomes)
                        });
                    match result {
                        Ok(outcomes) => {
                            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                                let _ = job.reply.send(Ok(outcome));
                            }
                        }
                        Err(e) => {
                            let e = Arc::new(e);
                            for job in jobs {
                                let _ = job.reply.send(Err(e.clone()));
                            }
                        }
                    }
                }
            })
            // Failing to start a thread at start-up is not recoverable.
            .expect("start the ingest thread");
        Self { tx }
    }

    /// Stores `reports` from `who`; returns once they are durably committed.
    pub async fn submit(
        &self,
        who: Identity,
        reports: Vec<Report>,
    ) -> Result<IngestOutcome, Arc<StoreError>> {
        let (reply, rx) = oneshot::channel();
        let gone = || Arc::new(StoreError::Closed);
        self.tx
            .send(Job {
                who,
                reports,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}
