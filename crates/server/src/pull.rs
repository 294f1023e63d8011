//! Enumeration contexts for the pull operations (DSP0200 §5.3.2.x).
//!
//! An Open operation computes its whole result, encodes each item once, returns the first
//! `MaxObjectCount` of them and keeps the rest under a random context id. Pulls page
//! through it; a context expires `OperationTimeout` seconds after its last use, belongs
//! to the user who opened it, and is dropped at the end of the sequence or on
//! CloseEnumeration.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use linmgmt_cimxml::{CimStatus, Failure, PullShape};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Settings for enumeration contexts.
#[derive(Clone, Copy, Debug)]
pub struct PullLimits {
    /// The timeout when the client gives none.
    pub default_timeout: Duration,
    /// The longest timeout accepted.
    pub max_timeout: Duration,
    /// How many contexts may be open at once (all users).
    pub max_open: usize,
    /// The largest page.
    pub max_page: u32,
}

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits {
            default_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(600),
            max_open: 1000,
            max_page: 10_000,
        }
    }
}

struct Context {
    owner: String,
    shape: PullShape,
    items: VecDeque<String>,
    timeout: Duration,
    expires: Instant,
}

/// The open enumerations.
pub struct Enumerations {
    limits: PullLimits,
    open: Mutex<HashMap<String, Context>>,
}

/// One page of an enumeration, ready to encode.
pub struct Page {
    items: Vec<String>,
    end_of_sequence: bool,
    context: String,
}

impl Page {
    /// `IRETURNVALUE` with the items, then `EndOfSequence` and `EnumerationContext`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "<IRETURNVALUE>");
        for item in &self.items {
            out.push_str(item);
        }
        out.push_str("</IRETURNVALUE>");
        out.push_str(&linmgmt_cimxml::pull_params(
            self.end_of_sequence,
            &self.context,
        ));
        out
    }
}

fn new_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn invalid_context(id: &str) -> Failure {
    Failure::new(
        CimStatus::InvalidEnumerationContext,
        format!("no open enumeration {id:?} (closed, finished or expired)"),
    )
}

impl Enumerations {
    /// No open enumerations yet.
    pub fn new(limits: PullLimits) -> Self {
        Enumerations {
            limits,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Context>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops expired contexts; returns how many are still open.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut open = self.lock();
        open.retain(|_, c| c.expires > now);
        open.len()
    }

    fn check_count(&self, max: u32) -> Result<usize, Failure> {
        if max > self.limits.max_page {
            return Err(Failure::new(
                CimStatus::ServerLimitsExceeded,
                format!("MaxObjectCount {max} is over {}", self.limits.max_page),
            ));
        }
        Ok(max as usize)
    }

    /// Opens an enumeration over `items`, returning the first page.
    pub fn open(
        &self,
        owner: &str,
        _namespace: &str,
        shape: PullShape,
        items: Vec<String>,
        timeout: Option<u32>,
        max: u32,
    ) -> Result<Page, Failure> {
        let timeout = match timeout {
            None => self.limits.default_timeout,
            Some(0) => {
                return Err(Failure::new(
                    CimStatus::InvalidOperationTimeout,
                    "OperationTimeout 0 (never expire) is not supported",
                ));
            }
            Some(s) if Duration::from_secs(u64::from(s)) > self.limits.max_timeout => {
                return Err(Failure::new(
                    CimStatus::InvalidOperationTimeout,
                    format!(
                        "OperationTimeout {s} s is over the limit of {} s",
                        self.limits.max_timeout.as_secs()
                    ),
                ));
            }
            Some(s) => Duration::from_secs(u64::from(s)),
        };
        let max = self.check_count(max)?;
        let mut items: VecDeque<String> = items.into();
        let first: Vec<String> = items.drain(..max.min(items.len())).collect();
        if items.is_empty() {
            return Ok(Page {
                items: first,
                end_of_sequence: true,
                context: String::new(),
            });
        }
        if self.sweep() >= self.limits.max_open {
            return Err(Failure::new(
                CimStatus::ServerLimitsExceeded,
                format!(
                    "{} enumerations are open; close some or let them expire",
                    self.limits.max_open
                ),
            ));
        }
        let id = new_id();
        self.lock().insert(
            id.clone(),
            Context {
                owner: owner.to_owned(),
                shape,
                items,
                timeout,
                expires: Instant::now() + timeout,
            },
        );
        Ok(Page {
            items: first,
            end_of_sequence: false,
            context: id,
        })
    }

    /// The next page of an open enumeration.
    pub fn pull(&self, owner: &str, id: &str, shape: PullShape, max: u32) -> Result<Page, Failure> {
        let max = self.check_count(max)?;
        let now = Instant::now();
        let mut open = self.lock();
        let Some(ctx) = open.get_mut(id) else {
            return Err(invalid_context(id));
        };
        if ctx.owner != owner || ctx.expires <= now {
            if ctx.expires <= now {
                open.remove(id);
            }
            return Err(invalid_context(id));
        }
        if ctx.shape != shape {
            return Err(Failure::new(
                CimStatus::InvalidParameter,
                format!(
                    "enumeration {id:?} was opened for {:?}, not {shape:?}",
                    ctx.shape
                ),
            ));
        }
        let page: Vec<String> = ctx.items.drain(..max.min(ctx.items.len())).collect();
        if ctx.items.is_empty() {
            open.remove(id);
            return Ok(Page {
                items: page,
                end_of_sequence: true,
                context: String::new(),
            });
        }
        ctx.expires = now + ctx.timeout;
        Ok(Page {
            items: page,
            end_of_sequence: false,
            context: id.to_owned(),
        })
    }

    /// Closes an open enumeration.
    pub fn close(&self, owner: &str, id: &str) -> Result<(), Failure> {
        let mut open = self.lock();
        match open.get(id) {
            Some(ctx) if ctx.owner == owner => {
                open.remove(id);
                Ok(())
            }
            _ => Err(invalid_context(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_ownership_and_expiry() {
        let e = Enumerations::new(PullLimits::default());
        let items = vec!["<a/>".to_owned(), "<b/>".to_owned(), "<c/>".to_owned()];
        let p = e.open("u", "ns", PullShape::Paths, items, None, 1).unwrap();
        assert!(!p.end_of_sequence);
        assert_eq!(p.items, ["<a/>"]);
        let ctx = p.context.clone();
        assert_eq!(
            e.pull("other", &ctx, PullShape::Paths, 1)
                .err()
                .map(|f| f.status),
            Some(CimStatus::InvalidEnumerationContext)
        );
        let p = e.pull("u", &ctx, PullShape::Paths, 1).unwrap();
        assert_eq!(p.items, ["<b/>"]);
        let p = e.pull("u", &ctx, PullShape::Paths, 5).unwrap();
        assert!(p.end_of_sequence);
        assert!(e.pull("u", &ctx, PullShape::Paths, 1).is_err());
        // Everything on the first page: no context kept.
        let p = e
            .open("u", "ns", PullShape::Paths, vec!["<a/>".into()], None, 10)
            .unwrap();
        assert!(p.end_of_sequence && p.context.is_empty());
        assert_eq!(e.sweep(), 0);
        assert!(
            e.open("u", "ns", PullShape::Paths, vec![], Some(0), 1)
                .is_err()
        );
    }
}
