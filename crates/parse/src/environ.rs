//! `/proc/<pid>/environ`: the variables sshd puts into a session's environment, which
//! outlive sshd in every process the session started (`nohup`, tmux and screen servers).

use std::net::{IpAddr, SocketAddr};

/// What sshd wrote into a session's environment.
///
/// The environment is the process's own (the user may change it), so these are hints of
/// the lowest rank: they are used only when nothing the user cannot forge says otherwise
/// (docs/mapping.md, "Sessions that keep their identity").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshEnv {
    /// The client's address and port: `SSH_CONNECTION`'s first two fields, else
    /// `SSH_CLIENT`'s. The join key with sshd's `Accepted … from IP port PORT` line.
    pub client: Option<SocketAddr>,
    /// The server's address and port (`SSH_CONNECTION`'s last two fields).
    pub server: Option<SocketAddr>,
    /// The pty the login got, without `/dev/` (`SSH_TTY=/dev/pts/3` → `pts/3`); `None` for
    /// a login without a terminal.
    pub tty: Option<String>,
}

impl SshEnv {
    /// Whether sshd's variables were found at all.
    pub fn is_ssh(&self) -> bool {
        self.client.is_some()
    }
}

/// The sshd variables of an environment block (`NAME=value` entries separated by NULs).
///
/// Malformed entries are skipped; a value that does not parse leaves its field `None`.
pub fn parse_ssh_env(bytes: &[u8]) -> SshEnv {
    let mut env = SshEnv::default();
    let mut client_var = None;
    for entry in bytes.split(|&b| b == 0) {
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, value) = (&entry[..eq], &entry[eq + 1..]);
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        match name {
            b"SSH_CONNECTION" => {
                let f: Vec<&str> = value.split_ascii_whitespace().collect();
                if let [cip, cport, sip, sport] = f[..] {
                    env.client = addr(cip, cport);
                    env.server = addr(sip, sport);
                }
            }
            b"SSH_CLIENT" => {
                let f: Vec<&str> = value.split_ascii_whitespace().collect();
                if let [cip, cport, _] = f[..] {
                    client_var = addr(cip, cport);
                }
            }
            b"SSH_TTY" => {
                env.tty = value
                    .strip_prefix("/dev/")
                    .filter(|t| !t.is_empty() && t.len() <= 32 && !t.contains(".."))
                    .map(str::to_owned);
            }
            _ => {}
        }
    }
    if env.client.is_none() {
        env.client = client_var;
    }
    env
}

/// An address as sshd prints it (IPv4-mapped IPv6 becomes IPv4, as in the TCP tables).
fn addr(ip: &str, port: &str) -> Option<SocketAddr> {
    let ip = ip.parse::<IpAddr>().ok()?.to_canonical();
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_variables() {
        let env = parse_ssh_env(
            b"SHELL=/bin/bash\0SSH_CLIENT=10.0.0.5 40000 22\0SSH_CONNECTION=10.0.0.5 40000 10.0.0.1 22\0SSH_TTY=/dev/pts/3\0PATH=/usr/bin\0",
        );
        assert_eq!(env.client, Some("10.0.0.5:40000".parse().unwrap()));
        assert_eq!(env.server, Some("10.0.0.1:22".parse().unwrap()));
        assert_eq!(env.tty.as_deref(), Some("pts/3"));
        assert!(env.is_ssh());
    }

    #[test]
    fn ipv6_and_client_only() {
        let env = parse_ssh_env(b"SSH_CONNECTION=::1 50000 ::1 2223\0");
        assert_eq!(env.client, Some("[::1]:50000".parse().unwrap()));
        assert_eq!(env.tty, None);
        let env = parse_ssh_env(b"SSH_CLIENT=::ffff:10.0.0.5 41000 22");
        assert_eq!(env.client, Some("10.0.0.5:41000".parse().unwrap()));
    }

    #[test]
    fn nothing_or_garbage() {
        assert_eq!(parse_ssh_env(b""), SshEnv::default());
        assert_eq!(
            parse_ssh_env(
                b"HOME=/root\0\xff\xfe\0=\0SSH_CONNECTION=a b c d\0SSH_TTY=/dev/\0SSH_TTY=pts/1\0"
            ),
            SshEnv::default()
        );
        assert!(!parse_ssh_env(b"SSH_CONNECTION=10.0.0.5 99999 10.0.0.1 22").is_ssh());
    }
}
