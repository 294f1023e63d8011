//! Enumeration contexts for the pull operations (DSP0200 §5.3.2.x).
//!
//! An Open operation computes its whole result, encodes each item once, returns the first
//! `MaxObjectCount` of them and keeps the rest under a random context id. Pulls page
//! through it; a context expires `OperationTimeout` seconds after its last use, belongs
//! to the user who opened it, and is dropped at the end of the sequence or on
//! CloseEnumeration.
//!
//! What open contexts hold is bounded twice: by count and by the bytes of their waiting
//! items, each per user and in all. A user at its limits gets
//! CIM_ERR_SERVER_LIMITS_EXCEEDED; other users are not affected. The items of a context
//! live in one buffer, so closing it gives the memory back as one block.

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
    /// How many contexts one user may have open.
    pub max_open_per_user: usize,
    /// The most bytes of waiting items in all open contexts.
    pub max_bytes: usize,
    /// The most bytes of waiting items in one user's open contexts.
    pub max_bytes_per_user: usize,
    /// The largest page.
    pub max_page: u32,
}

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits {
            default_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(600),
            max_open: 1000,
            max_open_per_user: 64,
            max_bytes: 128 * 1024 * 1024,
            max_bytes_per_user: 16 * 1024 * 1024,
            max_page: 10_000,
        }
    }
}

struct Context {
    owner: String,
    shape: PullShape,
    items: Items,
    timeout: Duration,
    expires: Instant,
}

/// The encoded items still to be pulled, in one buffer.
struct Items {
    text: String,
    /// Where each item ends in `text`.
    ends: VecDeque<usize>,
    /// Where the next item starts.
    start: usize,
}

impl Items {
    fn new(items: impl IntoIterator<Item = String>) -> Items {
        let mut text = String::new();
        let mut ends = VecDeque::new();
        for item in items {
            text.push_str(&item);
            ends.push_back(text.len());
        }
        text.shrink_to_fit();
        Items {
            text,
            ends,
            start: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes held (pulled items are given back only with the whole buffer).
    fn bytes(&self) -> usize {
        self.text.len()
    }

    /// The next `n` items (or fewer), concatenated.
    fn take(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n.min(self.ends.len()));
        for _ in 0..n {
            let Some(end) = self.ends.pop_front() else {
                break;
            };
            out.push(self.text[self.start..end].to_owned());
            self.start = end;
        }
        out
    }
}

/// The open enumerations.
pub struct Enumerations {
    limits: PullLimits,
    open: Mutex<HashMap<String, Context>>,
}

/// Count and bytes of the open contexts of one user, and of all.
#[derive(Default)]
struct Held {
    count: usize,
    bytes: usize,
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

    /// Whether `owner` may open one more context holding `bytes`: within its own share and
    /// within the totals.
    fn check_room(
        &self,
        open: &HashMap<String, Context>,
        owner: &str,
        bytes: usize,
    ) -> Result<(), Failure> {
        let (mut mine, mut all) = (Held::default(), Held::default());
        for c in open.values() {
            let b = c.items.bytes();
            all.count += 1;
            all.bytes += b;
            if c.owner == owner {
                mine.count += 1;
                mine.bytes += b;
            }
        }
        let l = &self.limits;
        let refusal = if mine.count >= l.max_open_per_user {
            format!(
                "{} enumerations of yours are open, the limit per user; close some or let them expire",
                l.max_open_per_user
            )
        } else if mine.bytes + bytes > l.max_bytes_per_user {
            format!(
                "your open enumerations would hold {} bytes, over the limit of {} per user; \
                 pull or close them, or ask for fewer instances",
                mine.bytes + bytes,
                l.max_bytes_per_user
            )
        } else if all.count >= l.max_open {
            format!(
                "{} enumerations are open; close some or let them expire",
                l.max_open
            )
        } else if all.bytes + bytes > l.max_bytes {
            format!(
                "open enumerations would hold {} bytes, over the server's limit of {}",
                all.bytes + bytes,
                l.max_bytes
            )
        } else {
            return Ok(());
        };
        Err(Failure::new(CimStatus::ServerLimitsExceeded, refusal))
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
        let mut items = items.into_iter();
        let first: Vec<String> = items.by_ref().take(max).collect();
        let rest = Items::new(items);
        if rest.is_empty() {
            return Ok(Page {
                items: first,
                end_of_sequence: true,
                context: String::new(),
            });
        }
        let mut open = self.lock();
        let now = Instant::now();
        open.retain(|_, c| c.expires > now);
        self.check_room(&open, owner, rest.bytes())?;
        let id = new_id();
        open.insert(
            id.clone(),
            Context {
                owner: owner.to_owned(),
                shape,
                items: rest,
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
        let page = ctx.items.take(max);
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

    #[test]
    fn one_user_cannot_use_up_the_contexts_of_others() {
        let limits = PullLimits {
            max_open_per_user: 3,
            max_bytes_per_user: 100,
            max_open: 5,
            max_bytes: 150,
            ..PullLimits::default()
        };
        let e = Enumerations::new(limits);
        let two = || vec!["<a/>".to_owned(), "<b/>".to_owned()];
        let open = |who: &str, items: Vec<String>| {
            e.open(who, "ns", PullShape::Paths, items, Some(600), 0)
                .map(|p| p.context)
                .map_err(|f| (f.status, f.message))
        };
        for _ in 0..3 {
            open("mallory", two()).unwrap();
        }
        let (status, message) = open("mallory", two()).unwrap_err();
        assert_eq!(status, CimStatus::ServerLimitsExceeded);
        assert!(message.contains("per user"), "{message}");
        // Another user still opens hers ...
        let mine = open("admin", two()).unwrap();
        // ... up to the byte budget: 100 more bytes would put her over 100.
        let (_, message) = open("admin", vec!["x".repeat(60), "y".repeat(40)]).unwrap_err();
        assert!(
            message.contains("bytes") && message.contains("per user"),
            "{message}"
        );
        // The total is the backstop: 5 contexts in all.
        open("carol", two()).unwrap();
        let (_, message) = open("dave", two()).unwrap_err();
        assert!(message.contains("5 enumerations are open"), "{message}");
        // Closing gives the room back.
        e.close("admin", &mine).unwrap();
        open("dave", two()).unwrap();
        // Items keep their order and boundaries across pulls.
        let e = Enumerations::new(PullLimits::default());
        let items = (0..5).map(|i| format!("<i{i}/>")).collect();
        let p = e.open("u", "ns", PullShape::Paths, items, None, 1).unwrap();
        assert_eq!(p.items, ["<i0/>"]);
        let p2 = e.pull("u", &p.context, PullShape::Paths, 3).unwrap();
        assert_eq!(p2.items, ["<i1/>", "<i2/>", "<i3/>"]);
        let p3 = e.pull("u", &p.context, PullShape::Paths, 3).unwrap();
        assert_eq!(p3.items, ["<i4/>"]);
        assert!(p3.end_of_sequence);
    }
}
