//! The kernel's process events connector (`NETLINK_CONNECTOR`, `CN_IDX_PROC`): the message
//! that subscribes to it, and the parser of the datagrams it multicasts.
//!
//! Layouts are from the uapi headers `linux/netlink.h`, `linux/connector.h` and
//! `linux/cn_proc.h`. Every field is in host byte order: the kernel of this host wrote them.
//! Thread events are dropped here, because every consumer in this crate thinks in processes:
//! a fork that makes a thread and the end of a thread that is not the group leader say nothing
//! about processes, and exec, uid and sid changes are reported for the thread group.

/// `NETLINK_CONNECTOR`: the netlink protocol of the connector.
pub const NETLINK_CONNECTOR: i32 = 11;
/// `CN_IDX_PROC`: the connector index of process events, which is also the multicast group
/// to bind to.
pub const CN_IDX_PROC: u32 = 1;
/// `CN_VAL_PROC`.
pub const CN_VAL_PROC: u32 = 1;

/// `NLMSG_NOOP`.
const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the type the connector gives every message, both ways.
const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`.
const NLMSG_OVERRUN: u16 = 4;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDR: usize = 16;
/// `sizeof(struct cn_msg)`: `id {idx, val}`, `seq`, `ack`, `len` (u16), `flags` (u16).
const CN_MSG: usize = 20;
/// The fixed head of `struct proc_event`: `what`, `cpu`, `timestamp_ns`; the union follows.
const EVENT_HEAD: usize = 16;

/// `enum proc_cn_event` values (`PROC_EVENT_*`).
pub mod what {
    /// `PROC_EVENT_NONE`: the acknowledgement of a (un)subscription.
    pub const NONE: u32 = 0;
    /// `PROC_EVENT_FORK`.
    pub const FORK: u32 = 1;
    /// `PROC_EVENT_EXEC`.
    pub const EXEC: u32 = 2;
    /// `PROC_EVENT_UID`.
    pub const UID: u32 = 4;
    /// `PROC_EVENT_GID`.
    pub const GID: u32 = 0x40;
    /// `PROC_EVENT_SID`.
    pub const SID: u32 = 0x80;
    /// `PROC_EVENT_PTRACE`.
    pub const PTRACE: u32 = 0x100;
    /// `PROC_EVENT_COMM`.
    pub const COMM: u32 = 0x200;
    /// `PROC_EVENT_COREDUMP`.
    pub const COREDUMP: u32 = 0x4000_0000;
    /// `PROC_EVENT_EXIT`.
    pub const EXIT: u32 = 0x8000_0000;
}

/// `enum proc_cn_mcast_op`: what a control message asks of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McastOp {
    /// `PROC_CN_MCAST_LISTEN`: start sending events to this socket's group.
    Listen,
    /// `PROC_CN_MCAST_IGNORE`: stop.
    Ignore,
}

impl McastOp {
    fn code(self) -> u32 {
        match self {
            McastOp::Listen => 1,
            McastOp::Ignore => 2,
        }
    }
}

/// The control message for `op`: a netlink header of type `NLMSG_DONE`, a `cn_msg` addressed
/// to the process connector whose `ack` field is `token`, and the operation as a `u32`.
///
/// The kernel acknowledges it with a [`CnEvent::Ack`] whose `ack` is `token + 1` (multicast,
/// so every listener sees it), unless the sender is outside the initial PID and user
/// namespaces, where the request is silently ignored. The `ack` field is the one to match
/// on: the kernel replaces the `seq` of every message it sends with its own per-CPU counter.
pub fn control_message(op: McastOp, token: u32) -> Vec<u8> {
    let len = NLMSG_HDR + CN_MSG + 4;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    b.extend_from_slice(&0u16.to_ne_bytes()); // flags
    b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
    b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills it in
    b.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    b.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // seq
    b.extend_from_slice(&token.to_ne_bytes()); // ack
    b.extend_from_slice(&4u16.to_ne_bytes()); // len of the payload
    b.extend_from_slice(&0u16.to_ne_bytes()); // flags
    b.extend_from_slice(&op.code().to_ne_bytes());
    b
}

/// [`control_message`] for [`McastOp::Listen`].
pub fn listen_message(token: u32) -> Vec<u8> {
    control_message(McastOp::Listen, token)
}

/// [`control_message`] for [`McastOp::Ignore`].
pub fn ignore_message(token: u32) -> Vec<u8> {
    control_message(McastOp::Ignore, token)
}

/// One process event, with thread ids already reduced to thread-group ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CnEvent {
    /// A new process (not a new thread).
    Fork {
        /// The thread group that forked.
        parent_tgid: u32,
        /// The new process.
        child_tgid: u32,
    },
    /// A process ran `execve`.
    Exec {
        /// The process.
        tgid: u32,
    },
    /// A process changed its real or effective uid.
    Uid {
        /// The process.
        tgid: u32,
        /// The real uid after the change.
        ruid: u32,
        /// The effective uid after the change.
        euid: u32,
    },
    /// A process changed its real or effective gid.
    Gid {
        /// The process.
        tgid: u32,
    },
    /// A process's thread-group leader renamed itself (`prctl(PR_SET_NAME)`): its `comm`.
    Comm {
        /// The process.
        tgid: u32,
    },
    /// A process called `setsid`.
    Sid {
        /// The process.
        tgid: u32,
    },
    /// A process ended (its thread-group leader did).
    Exit {
        /// The process.
        tgid: u32,
        /// The wait status.
        exit_code: u32,
        /// The parent's thread group; `None` from kernels before 4.18, whose event lacks it.
        parent_tgid: Option<u32>,
    },
    /// The kernel's answer to a [`control_message`]: the `seq` and `ack` of the `cn_msg`
    /// (`ack` is the request's plus one) and an errno, 0 for success.
    Ack {
        /// The kernel's own sequence number (not the request's).
        seq: u32,
        /// The request's `ack` plus one.
        ack: u32,
        /// 0, or the errno that refused the request.
        err: u32,
    },
    /// Any other event (ptrace, coredump, or a code this parser does not know).
    Other {
        /// The `PROC_EVENT_*` code.
        what: u32,
    },
}

/// What one datagram held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The events, in order, without thread events.
    pub events: Vec<CnEvent>,
    /// How many messages could not be decoded (truncated, inconsistent lengths, an event
    /// shorter than its kind needs) or announced lost data (`NLMSG_OVERRUN`). Decoding stops
    /// at the first message whose length cannot be trusted.
    pub malformed: usize,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([bytes[0], bytes[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Parses every netlink message of one received datagram. Never panics: anything it cannot
/// read is counted in [`Datagram::malformed`].
pub fn parse_datagram(b: &[u8]) -> Datagram {
    let mut out = Datagram::default();
    let mut at = 0usize;
    while at < b.len() {
        let rest = &b[at..];
        let (Some(len), Some(kind)) = (u32_at(rest, 0), u16_at(rest, 4)) else {
            out.malformed += 1;
            break;
        };
        let len = len as usize;
        if len < NLMSG_HDR || len > rest.len() {
            out.malformed += 1;
            break;
        }
        match kind {
            NLMSG_NOOP | NLMSG_ERROR => {}
            NLMSG_OVERRUN => out.malformed += 1,
            _ => match parse_message(&rest[NLMSG_HDR..len]) {
                Ok(Some(e)) => out.events.push(e),
                Ok(None) => {}
                Err(()) => out.malformed += 1,
            },
        }
        // Messages are 4-byte aligned; padding after the last one may be missing.
        at = at.saturating_add((len + 3) & !3);
    }
    out
}

/// One message's payload (after the netlink header): `Ok(None)` for a message that is not a
/// process event or is a thread's, `Err` when it is too short for what it says it is.
fn parse_message(p: &[u8]) -> Result<Option<CnEvent>, ()> {
    let idx = u32_at(p, 0).ok_or(())?;
    let val = u32_at(p, 4).ok_or(())?;
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC) {
        return Ok(None);
    }
    let seq = u32_at(p, 8).ok_or(())?;
    let ack = u32_at(p, 12).ok_or(())?;
    let data_len = usize::from(u16_at(p, 16).ok_or(())?);
    let data = p.get(CN_MSG..CN_MSG + data_len).ok_or(())?;
    let what = u32_at(data, 0).ok_or(())?;
    if data.len() < EVENT_HEAD {
        return Err(());
    }
    let u = &data[EVENT_HEAD..];
    let field = |i: usize| u32_at(u, i * 4).ok_or(());
    let event = match what {
        what::NONE => CnEvent::Ack {
            seq,
            ack,
            err: field(0)?,
        },
        what::FORK => {
            let (parent_tgid, child_pid, child_tgid) = (field(1)?, field(2)?, field(3)?);
            if child_pid != child_tgid {
                return Ok(None);
            }
            CnEvent::Fork {
                parent_tgid,
                child_tgid,
            }
        }
        what::EXEC => CnEvent::Exec { tgid: field(1)? },
        what::UID => CnEvent::Uid {
            tgid: field(1)?,
            ruid: field(2)?,
            euid: field(3)?,
        },
        what::GID => CnEvent::Gid { tgid: field(1)? },
        what::COMM => {
            let (pid, tgid) = (field(0)?, field(1)?);
            // Another thread's name is not the process's comm.
            if pid != tgid {
                return Ok(None);
            }
            CnEvent::Comm { tgid }
        }
        what::SID => CnEvent::Sid { tgid: field(1)? },
        what::EXIT => {
            let (pid, tgid, exit_code) = (field(0)?, field(1)?, field(2)?);
            // exit_signal is field 3; the parent's pid and tgid follow since Linux 4.18.
            field(3)?;
            if pid != tgid {
                return Ok(None);
            }
            CnEvent::Exit {
                tgid,
                exit_code,
                parent_tgid: field(5).ok(),
            }
        }
        other => CnEvent::Other { what: other },
    };
    Ok(Some(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One netlink message holding a process event with the given union fields.
    fn message(what: u32, fields: &[u32]) -> Vec<u8> {
        message_with(what, fields, 7, 0)
    }

    fn message_with(what: u32, fields: &[u32], seq: u32, ack: u32) -> Vec<u8> {
        let mut event = Vec::new();
        event.extend_from_slice(&what.to_ne_bytes());
        event.extend_from_slice(&3u32.to_ne_bytes()); // cpu
        event.extend_from_slice(&123_456_789u64.to_ne_bytes());
        for f in fields {
            event.extend_from_slice(&f.to_ne_bytes());
        }
        // The kernel sends the whole union, whatever the event: 24 bytes.
        event.resize(EVENT_HEAD + 24, 0);
        let len = NLMSG_HDR + CN_MSG + event.len();
        let mut b = Vec::new();
        b.extend_from_slice(&(len as u32).to_ne_bytes());
        b.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        b.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&ack.to_ne_bytes());
        b.extend_from_slice(&(event.len() as u16).to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&event);
        b
    }

    #[test]
    fn control_messages() {
        let m = listen_message(0x0102_0304);
        assert_eq!(m.len(), 40);
        assert_eq!(u32_at(&m, 0), Some(40));
        assert_eq!(u16_at(&m, 4), Some(NLMSG_DONE));
        assert_eq!(u32_at(&m, 16), Some(CN_IDX_PROC));
        assert_eq!(u32_at(&m, 20), Some(CN_VAL_PROC));
        assert_eq!(u32_at(&m, 24), Some(0));
        assert_eq!(u32_at(&m, 28), Some(0x0102_0304));
        assert_eq!(u16_at(&m, 32), Some(4));
        assert_eq!(u32_at(&m, 36), Some(1));
        let i = ignore_message(9);
        assert_eq!(u32_at(&i, 36), Some(2));
        assert_eq!(&i[..24], &control_message(McastOp::Ignore, 9)[..24]);
    }

    #[test]
    fn each_kind() {
        let cases: Vec<(Vec<u8>, Option<CnEvent>)> = vec![
            (
                message(what::FORK, &[100, 100, 200, 200]),
                Some(CnEvent::Fork {
                    parent_tgid: 100,
                    child_tgid: 200,
                }),
            ),
            // A thread of 100 forked: the parent is the group, the child a process.
            (
                message(what::FORK, &[105, 100, 201, 201]),
                Some(CnEvent::Fork {
                    parent_tgid: 100,
                    child_tgid: 201,
                }),
            ),
            // A new thread.
            (message(what::FORK, &[100, 100, 202, 100]), None),
            (
                message(what::EXEC, &[300, 300]),
                Some(CnEvent::Exec { tgid: 300 }),
            ),
            (
                message(what::UID, &[301, 300, 1000, 0]),
                Some(CnEvent::Uid {
                    tgid: 300,
                    ruid: 1000,
                    euid: 0,
                }),
            ),
            (
                message(what::SID, &[302, 302]),
                Some(CnEvent::Sid { tgid: 302 }),
            ),
            (
                message(what::EXIT, &[400, 400, 256, 17, 1, 1]),
                Some(CnEvent::Exit {
                    tgid: 400,
                    exit_code: 256,
                    parent_tgid: Some(1),
                }),
            ),
            // A thread ending.
            (message(what::EXIT, &[401, 400, 0, 0, 1, 1]), None),
            (
                message(what::GID, &[1, 7, 5, 5]),
                Some(CnEvent::Gid { tgid: 7 }),
            ),
            (
                message(what::COMM, &[7, 7]),
                Some(CnEvent::Comm { tgid: 7 }),
            ),
            // A thread's name is not the process's.
            (message(what::COMM, &[8, 7]), None),
            (
                message(what::COREDUMP, &[1, 1]),
                Some(CnEvent::Other {
                    what: what::COREDUMP,
                }),
            ),
            (
                message_with(what::NONE, &[1], 42, 1),
                Some(CnEvent::Ack {
                    seq: 42,
                    ack: 1,
                    err: 1,
                }),
            ),
        ];
        for (bytes, expected) in cases {
            let d = parse_datagram(&bytes);
            assert_eq!(d.malformed, 0, "{expected:?}");
            assert_eq!(d.events, expected.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn several_per_datagram() {
        let mut b = message(what::FORK, &[1, 1, 50, 50]);
        b.extend(message(what::EXEC, &[50, 50]));
        b.extend(message(what::FORK, &[50, 50, 51, 50])); // thread: skipped
        b.extend(message(what::EXIT, &[50, 50, 0, 0, 1, 1]));
        let d = parse_datagram(&b);
        assert_eq!(d.malformed, 0);
        assert_eq!(
            d.events,
            vec![
                CnEvent::Fork {
                    parent_tgid: 1,
                    child_tgid: 50
                },
                CnEvent::Exec { tgid: 50 },
                CnEvent::Exit {
                    tgid: 50,
                    exit_code: 0,
                    parent_tgid: Some(1)
                },
            ]
        );
    }

    #[test]
    fn old_kernel_exit_without_parent() {
        // Before 4.18 the exit event had four fields and the union was 16 bytes.
        let mut b = message(what::EXIT, &[9, 9, 0, 0]);
        let short = b.len() - 8;
        b.truncate(short);
        b[0..4].copy_from_slice(&(short as u32).to_ne_bytes());
        let cn_len = (EVENT_HEAD + 16) as u16;
        b[NLMSG_HDR + 16..NLMSG_HDR + 18].copy_from_slice(&cn_len.to_ne_bytes());
        let d = parse_datagram(&b);
        assert_eq!(
            d,
            Datagram {
                events: vec![CnEvent::Exit {
                    tgid: 9,
                    exit_code: 0,
                    parent_tgid: None
                }],
                malformed: 0
            }
        );
    }

    #[test]
    fn other_connectors_and_control_types_are_skipped() {
        let mut other = message(what::EXEC, &[1, 1]);
        other[NLMSG_HDR..NLMSG_HDR + 4].copy_from_slice(&7u32.to_ne_bytes());
        let mut noop = message(what::EXEC, &[2, 2]);
        noop[4..6].copy_from_slice(&NLMSG_NOOP.to_ne_bytes());
        let mut b = other;
        b.extend(noop);
        b.extend(message(what::EXEC, &[3, 3]));
        let d = parse_datagram(&b);
        assert_eq!(d.malformed, 0);
        assert_eq!(d.events, vec![CnEvent::Exec { tgid: 3 }]);
    }

    #[test]
    fn truncated_and_garbage() {
        let full = message(what::FORK, &[1, 1, 2, 2]);
        // Every truncation of a valid message is malformed, never an event, never a panic.
        for cut in 1..full.len() {
            let d = parse_datagram(&full[..cut]);
            assert!(d.events.is_empty(), "cut at {cut}: {d:?}");
            assert_eq!(d.malformed, 1, "cut at {cut}");
        }
        // A valid message followed by a truncated one keeps the first.
        let mut b = full.clone();
        b.extend_from_slice(&full[..10]);
        let d = parse_datagram(&b);
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.malformed, 1);
        // A cn_msg whose len claims more than the message holds.
        let mut lying = full.clone();
        lying[NLMSG_HDR + 16..NLMSG_HDR + 18].copy_from_slice(&500u16.to_ne_bytes());
        assert_eq!(parse_datagram(&lying).malformed, 1);
        // nlmsg_len smaller than a header, or zero: decoding stops.
        let mut zero = full.clone();
        zero[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(parse_datagram(&zero).malformed, 1);
        // An event too short for its kind.
        let mut short = full;
        short[NLMSG_HDR + 16..NLMSG_HDR + 18].copy_from_slice(&20u16.to_ne_bytes());
        assert_eq!(parse_datagram(&short).malformed, 1);
        assert_eq!(parse_datagram(&[]), Datagram::default());
        // NLMSG_OVERRUN says data was lost.
        let mut overrun = message(what::EXEC, &[1, 1]);
        overrun[4..6].copy_from_slice(&NLMSG_OVERRUN.to_ne_bytes());
        assert_eq!(parse_datagram(&overrun).malformed, 1);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let d = parse_datagram(&bytes);
            prop_assert!(d.events.len() <= bytes.len() / (NLMSG_HDR + CN_MSG + EVENT_HEAD) + 1);
        }

        #[test]
        fn never_panics_on_mutated_messages(
            what_code in prop_oneof![Just(what::FORK), Just(what::EXEC), Just(what::UID),
                Just(what::SID), Just(what::EXIT), Just(what::NONE), any::<u32>()],
            fields in proptest::collection::vec(any::<u32>(), 0..6),
            cut in 0usize..80,
            flip in 0usize..80,
            byte in any::<u8>(),
        ) {
            let mut b = message(what_code, &fields);
            b.extend(message(what::EXEC, &[5, 5]));
            if flip < b.len() {
                b[flip] = byte;
            }
            let keep = b.len().saturating_sub(cut);
            let _ = parse_datagram(&b[..keep]);
        }
    }
}
