//! sshd process titles: which sshd process is the listener, a connection's monitor, its user
//! child, or a pre-auth helper.
//!
//! OpenSSH rewrites argv with `setproctitle`, so the title is in `/proc/<pid>/cmdline`, not
//! `comm`. OpenSSH ≥ 9.8 runs sessions in a separate `sshd-session` binary (and pre-auth in
//! `sshd-auth` from 10.0), whose titles use that program name; so the prefix is not hard-coded
//! to `sshd`.

/// What an sshd process title says the process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshdRole {
    /// The listening daemon (`[listener]`, or the daemon's own command line).
    Listener,
    /// `USER [priv]`: the per-connection monitor (root). It is utmp's `ut_pid` and logind's Leader.
    Monitor {
        /// The login user.
        user: String,
    },
    /// `USER@pts/N` or `USER@notty`: the unprivileged child that runs the session.
    UserChild {
        /// The login user.
        user: String,
        /// The ttys (`pts/0`); several with connection multiplexing; empty for `notty`.
        ttys: Vec<String>,
    },
    /// Before authentication (`[net]`, `[preauth]`, `[accepted]`): not a session yet.
    PreAuth,
    /// An sshd-family title we do not recognise.
    Other(String),
}

/// Classifies a process title (the cmdline joined with spaces).
///
/// Returns `None` when the title is not from the sshd family (`sshd`, `sshd-session`,
/// `sshd-auth`, optionally with a path).
pub fn classify_title(title: &str) -> Option<SshdRole> {
    let title = title.trim();
    let (program, rest) = match title.split_once(':') {
        Some((p, r)) => (p, r.trim()),
        None => (title.split_whitespace().next().unwrap_or(""), ""),
    };
    let base = program.rsplit('/').next().unwrap_or(program);
    if !matches!(base, "sshd" | "sshd-session" | "sshd-auth") {
        return None;
    }
    if title.contains("[listener]") || rest.is_empty() || rest.starts_with('/') {
        // `sshd: /usr/sbin/sshd -D [listener] …`, or an untitled daemon (`/usr/sbin/sshd -D`).
        return Some(SshdRole::Listener);
    }
    for tag in ["[net]", "[preauth]", "[accepted]"] {
        if rest.ends_with(tag) {
            return Some(SshdRole::PreAuth);
        }
    }
    if let Some(user) = rest.strip_suffix("[priv]") {
        return Some(SshdRole::Monitor {
            user: user.trim().to_string(),
        });
    }
    // `USER@pts/1` or `USER@pts/1,pts/2` or `USER@notty`; a user name cannot contain '@' … but
    // to be safe split at the last one.
    if let Some((user, ttys)) = rest.rsplit_once('@')
        && !user.is_empty()
        && !user.contains(' ')
    {
        let ttys = if ttys == "notty" {
            Vec::new()
        } else {
            ttys.split(',').map(str::to_string).collect()
        };
        return Some(SshdRole::UserChild {
            user: user.to_string(),
            ttys,
        });
    }
    Some(SshdRole::Other(rest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_child(user: &str, ttys: &[&str]) -> SshdRole {
        SshdRole::UserChild {
            user: user.into(),
            ttys: ttys.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn openssh_9_2_titles() {
        assert_eq!(
            classify_title("sshd: /usr/sbin/sshd -f /etc/ssh/x [listener] 0 of 10-100 startups"),
            Some(SshdRole::Listener)
        );
        assert_eq!(
            classify_title("/usr/sbin/sshd -D"),
            Some(SshdRole::Listener)
        );
        assert_eq!(
            classify_title("sshd: alice [priv]"),
            Some(SshdRole::Monitor {
                user: "alice".into()
            })
        );
        assert_eq!(
            classify_title("sshd: alice@pts/0"),
            Some(user_child("alice", &["pts/0"]))
        );
        assert_eq!(
            classify_title("sshd: alice@notty"),
            Some(user_child("alice", &[]))
        );
        assert_eq!(
            classify_title("sshd: alice@pts/1,pts/2"),
            Some(user_child("alice", &["pts/1", "pts/2"]))
        );
        assert_eq!(classify_title("sshd: alice [net]"), Some(SshdRole::PreAuth));
        assert_eq!(
            classify_title("sshd: unknown [preauth]"),
            Some(SshdRole::PreAuth)
        );
    }

    #[test]
    fn openssh_9_8_titles() {
        assert_eq!(
            classify_title("sshd-session: bob [priv]"),
            Some(SshdRole::Monitor { user: "bob".into() })
        );
        assert_eq!(
            classify_title("sshd-session: bob@notty"),
            Some(user_child("bob", &[]))
        );
        assert_eq!(
            classify_title("sshd-auth: bob [net]"),
            Some(SshdRole::PreAuth)
        );
    }

    #[test]
    fn not_sshd() {
        assert_eq!(classify_title("-bash"), None);
        assert_eq!(classify_title("sleep 10"), None);
        assert_eq!(classify_title("sshdx: a [priv]"), None);
        assert_eq!(classify_title(""), None);
    }
}

/// One successful authentication from sshd's log: `Accepted publickey for alice from
/// 127.0.0.1 port 37478 ssh2: ED25519 SHA256:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAuth {
    /// The method: `publickey`, `password`, `keyboard-interactive/pam`, `gssapi-with-mic`, …
    pub method: String,
    /// The user logged in.
    pub user: String,
    /// The client's address and port: the join key with the TCP connection.
    pub peer: std::net::SocketAddr,
}

/// Parses the `Accepted …` lines of an sshd log (syslog, journal export or `sshd -E`
/// output); other lines are skipped.
pub fn parse_auth_log(text: &str) -> Vec<SshAuth> {
    text.lines().filter_map(parse_accepted).collect()
}

fn parse_accepted(line: &str) -> Option<SshAuth> {
    let rest = &line[line.find("Accepted ")? + "Accepted ".len()..];
    let mut words = rest.split_whitespace();
    let method = words.next()?.to_owned();
    if words.next()? != "for" {
        return None;
    }
    // `invalid user NAME` never reaches "Accepted"; the user is one word.
    let user = words.next()?.to_owned();
    if words.next()? != "from" {
        return None;
    }
    let ip: std::net::IpAddr = words.next()?.parse().ok()?;
    if words.next()? != "port" {
        return None;
    }
    let port: u16 = words.next()?.trim_end_matches(':').parse().ok()?;
    Some(SshAuth {
        method,
        user,
        peer: std::net::SocketAddr::new(ip, port),
    })
}

#[cfg(test)]
mod auth_log_tests {
    use super::*;

    #[test]
    fn accepted_lines() {
        let log = "\
Nov 22 01:43:10 vm sshd[10086]: Accepted publickey for alice from 127.0.0.1 port 37478 ssh2: ED25519 SHA256:abc
Nov 22 01:43:11 vm sshd[10090]: Failed password for bob from ::1 port 40000 ssh2
2026-11-22T01:44:00+00:00 vm sshd[10097]: Accepted keyboard-interactive/pam for bob from ::1 port 40574 ssh2
Accepted password for carol from 10.0.0.5 port 22 ssh2
Accepted publickey for dave from not-an-ip port 1 ssh2
";
        let got = parse_auth_log(log);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].method, "publickey");
        assert_eq!(got[0].peer, "127.0.0.1:37478".parse().unwrap());
        assert_eq!(got[1].method, "keyboard-interactive/pam");
        assert_eq!(got[1].peer, "[::1]:40574".parse().unwrap());
        assert_eq!(got[2].user, "carol");
    }
}
