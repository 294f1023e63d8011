//! Enumeration contexts, for both protocols: CIM-XML's pull operations (DSP0200 §5.3.2.x)
//! and WS-Enumeration.
//!
//! An Open (or Enumerate) computes its whole result, encodes each item once with its
//! protocol's codec, returns the first page and keeps the rest under a random context id.
//! Pulls page through it; a context expires a while after its last use, belongs to the
//! user who opened it, is tied to the protocol and shape it was opened for, and is dropped
//! at the end of the sequence or on Close/Release.
//!
//! What open contexts hold is bounded twice: by count and by the bytes of their waiting
//! items, each per user and in all. A user at its limits is refused; other users are not
//! affected. The items of a context live in one buffer, so closing it gives the memory
//! back as one block.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use linmgmt_cimxml::PullShape;
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

/// What a context was opened for; a pull must ask for the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A CIM-XML pull of instances, paths or instances with paths.
    CimXml(PullShape),
    /// A WS-Enumeration (items already in the enumeration mode asked for).
    WsMan,
}

/// Why a context operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such context for this user (closed, finished, expired, or another user's).
    Invalid,
    /// The user's or the server's limits.
    Limits,
    /// An unusable timeout.
    Timeout,
    /// A pull for another protocol or shape than the context's.
    Shape,
    /// The next item alone is larger than the page's byte budget.
    TooLarge,
}

/// A refusal and what to tell the client.
#[derive(Clone, Debug)]
pub(crate) struct ContextError {
    pub(crate) kind: Refusal,
    pub(crate) message: String,
}

fn refuse<T>(kind: Refusal, message: impl Into<String>) -> Result<T, ContextError> {
    Err(ContextError {
        kind,
        message: message.into(),
    })
}

/// How much one page may hold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageSize {
    /// At most this many items.
    pub(crate) count: usize,
    /// At most this many bytes of items (but always at least one item, unless that one
    /// is larger: then [`Refusal::TooLarge`]).
    pub(crate) bytes: Option<usize>,
}

struct Context {
    owner: String,
    shape: Shape,
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

    /// The next page: at most `size.count` items within `size.bytes`.
    fn take(&mut self, size: PageSize) -> Result<Vec<String>, ContextError> {
        let mut out = Vec::with_capacity(size.count.min(self.ends.len()));
        let mut used = 0;
        while out.len() < size.count {
            let Some(&end) = self.ends.front() else {
                break;
            };
            let len = end - self.start;
            if let Some(budget) = size.bytes
                && used + len > budget
            {
                if out.is_empty() {
                    return too_large(len, budget);
                }
                break;
            }
            used += len;
            self.ends.pop_front();
            out.push(self.text[self.start..end].to_owned());
            self.start = end;
        }
        Ok(out)
    }
}

fn too_large<T>(len: usize, budget: usize) -> Result<T, ContextError> {
    refuse(
        Refusal::TooLarge,
        format!(
            "the next item takes {len} bytes, more than the {budget} the envelope has room for"
        ),
    )
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

/// One page of an enumeration, for a codec to write.
pub(crate) struct Page {
    pub(crate) items: Vec<String>,
    pub(crate) end_of_sequence: bool,
    /// The context to pull the rest with; empty at the end of the sequence.
    pub(crate) context: String,
}

/// A random id: for enumeration contexts and subscriptions.
pub(crate) fn new_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn invalid_context<T>(id: &str) -> Result<T, ContextError> {
    refuse(
        Refusal::Invalid,
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

    pub(crate) fn limits(&self) -> &PullLimits {
        &self.limits
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
    ) -> Result<(), ContextError> {
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
        refuse(Refusal::Limits, refusal)
    }

    /// A page count a client asked for, within the largest page.
    pub(crate) fn check_count(&self, max: u32) -> Result<usize, ContextError> {
        if max > self.limits.max_page {
            return refuse(
                Refusal::Limits,
                format!("MaxObjectCount {max} is over {}", self.limits.max_page),
            );
        }
        Ok(max as usize)
    }

    /// How long a context lives between pulls: the client's wish, or the default.
    pub(crate) fn lifetime(&self, requested: Option<Duration>) -> Result<Duration, ContextError> {
        match requested {
            None => Ok(self.limits.default_timeout),
            Some(d) if d.is_zero() => refuse(
                Refusal::Timeout,
                "an enumeration that never expires (timeout 0) is not supported",
            ),
            Some(d) if d > self.limits.max_timeout => refuse(
                Refusal::Timeout,
                format!(
                    "a timeout of {} s is over the limit of {} s",
                    d.as_secs(),
                    self.limits.max_timeout.as_secs()
                ),
            ),
            Some(d) => Ok(d),
        }
    }

    /// Opens an enumeration over `items`, returning the first page. With `always`, a
    /// context is kept even when the first page has everything (WS-Enumeration's plain
    /// Enumerate returns only a context, which a Pull then ends).
    pub(crate) fn open(
        &self,
        owner: &str,
        shape: Shape,
        items: Vec<String>,
        timeout: Duration,
        size: PageSize,
        always: bool,
    ) -> Result<Page, ContextError> {
        let mut rest = Items::new(items);
        let first = rest.take(size)?;
        if rest.is_empty() && !always {
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
    pub(crate) fn pull(
        &self,
        owner: &str,
        id: &str,
        shape: Shape,
        size: PageSize,
    ) -> Result<Page, ContextError> {
        let now = Instant::now();
        let mut open = self.lock();
        let Some(ctx) = open.get_mut(id) else {
            return invalid_context(id);
        };
        if ctx.owner != owner || ctx.expires <= now {
            if ctx.expires <= now {
                open.remove(id);
            }
            return invalid_context(id);
        }
        if ctx.shape != shape {
            return refuse(
                Refusal::Shape,
                format!(
                    "enumeration {id:?} was opened for {:?}, not {shape:?}",
                    ctx.shape
                ),
            );
        }
        let page = ctx.items.take(size)?;
        if ctx.items.is_empty() {
            // Also a context kept with nothing in it ends here.
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
    pub(crate) fn close(&self, owner: &str, id: &str) -> Result<(), ContextError> {
        let mut open = self.lock();
        match open.get(id) {
            Some(ctx) if ctx.owner == owner => {
                open.remove(id);
                Ok(())
            }
            _ => invalid_context(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: Shape = Shape::CimXml(PullShape::Paths);
    const MINUTE: Duration = Duration::from_secs(60);

    fn page(count: usize) -> PageSize {
        PageSize { count, bytes: None }
    }

    #[test]
    fn paging_ownership_and_expiry() {
        let e = Enumerations::new(PullLimits::default());
        let items = vec!["<a/>".to_owned(), "<b/>".to_owned(), "<c/>".to_owned()];
        let p = e.open("u", PATHS, items, MINUTE, page(1), false).unwrap();
        assert!(!p.end_of_sequence);
        assert_eq!(p.items, ["<a/>"]);
        let ctx = p.context.clone();
        assert_eq!(
            e.pull("other", &ctx, PATHS, page(1)).err().map(|f| f.kind),
            Some(Refusal::Invalid)
        );
        let p = e.pull("u", &ctx, PATHS, page(1)).unwrap();
        assert_eq!(p.items, ["<b/>"]);
        let p = e.pull("u", &ctx, PATHS, page(5)).unwrap();
        assert!(p.end_of_sequence);
        assert!(e.pull("u", &ctx, PATHS, page(1)).is_err());
        // Everything on the first page: no context kept.
        let p = e
            .open("u", PATHS, vec!["<a/>".into()], MINUTE, page(10), false)
            .unwrap();
        assert!(p.end_of_sequence && p.context.is_empty());
        assert_eq!(e.sweep(), 0);
        assert!(e.lifetime(Some(Duration::ZERO)).is_err());
        assert!(e.lifetime(Some(Duration::from_secs(601))).is_err());
        // A byte budget: as many items as fit, and a fault when not even one does.
        let items = vec!["12345".to_owned(), "67890".to_owned(), "x".to_owned()];
        let size = PageSize {
            count: 10,
            bytes: Some(10),
        };
        let p = e
            .open("u", Shape::WsMan, items, MINUTE, size, false)
            .unwrap();
        assert_eq!(p.items, ["12345", "67890"]);
        let small = PageSize {
            count: 10,
            bytes: Some(4),
        };
        let wide = e.open(
            "u",
            Shape::WsMan,
            vec!["12345".into()],
            MINUTE,
            small,
            false,
        );
        assert_eq!(wide.err().map(|f| f.kind), Some(Refusal::TooLarge));
        // A plain WS-Enumeration keeps a context even for nothing; its first pull ends it.
        let p0 = e
            .open("u", Shape::WsMan, vec![], MINUTE, page(0), true)
            .unwrap();
        assert!(!p0.end_of_sequence && !p0.context.is_empty());
        let end = e.pull("u", &p0.context, Shape::WsMan, page(5)).unwrap();
        assert!(end.end_of_sequence && end.items.is_empty());
        // A context answers only the protocol and shape it was opened for.
        let other = e.pull("u", &p.context, PATHS, page(1));
        assert_eq!(other.err().map(|f| f.kind), Some(Refusal::Shape));
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
            e.open(who, PATHS, items, MINUTE, page(0), false)
                .map(|p| p.context)
                .map_err(|f| (f.kind, f.message))
        };
        for _ in 0..3 {
            open("mallory", two()).unwrap();
        }
        let (status, message) = open("mallory", two()).unwrap_err();
        assert_eq!(status, Refusal::Limits);
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
        let p = e.open("u", PATHS, items, MINUTE, page(1), false).unwrap();
        assert_eq!(p.items, ["<i0/>"]);
        let p2 = e.pull("u", &p.context, PATHS, page(3)).unwrap();
        assert_eq!(p2.items, ["<i1/>", "<i2/>", "<i3/>"]);
        let p3 = e.pull("u", &p.context, PATHS, page(3)).unwrap();
        assert_eq!(p3.items, ["<i4/>"]);
        assert!(p3.end_of_sequence);
    }
}
