//! The users file and HTTP Basic authentication.
//!
//! One user per line, `NAME:ROLE:HASH`, where ROLE is `admin` or `user` and HASH an
//! argon2id PHC string; `#` starts a comment line. `linmgmt user add` writes it.
//!
//! Verifying an argon2id hash costs tens of milliseconds by design, too much for every
//! request of a keep-alive client. A successful check is therefore remembered for a few
//! minutes as a keyed BLAKE2b digest of the password (the key is random per process), and
//! later requests compare digests in constant time. Unknown users are checked against a
//! dummy hash, so a wrong name costs as much as a wrong password.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use blake2::{Blake2b512, Digest};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// What a user may see (design.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything.
    Admin,
    /// Only the sessions of the Unix user of the same name.
    User,
}

impl Role {
    /// `admin` or `user`.
    pub fn keyword(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(format!("unknown role {other:?} (admin or user)")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// An authenticated client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The user name (for role `user`, also the Unix user whose sessions it sees).
    pub name: String,
    /// The role.
    pub role: Role,
}

/// One line of the users file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEntry {
    /// The name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The argon2id PHC string.
    pub hash: String,
}

/// A users file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct UsersError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Whether `name` is acceptable as a user name: what `useradd` accepts, roughly.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$'))
}

/// Parses a users file.
pub fn parse_users(text: &str) -> Result<Vec<UserEntry>, UsersError> {
    let mut users: Vec<UserEntry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |message: String| UsersError {
            line: i + 1,
            message,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(name), Some(role), Some(hash)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(err("expected NAME:ROLE:HASH".into()));
        };
        if !valid_name(name) {
            return Err(err(format!("invalid user name {name:?}")));
        }
        let role: Role = role.parse().map_err(err)?;
        let parsed = PasswordHash::new(hash).map_err(|e| err(format!("hash: {e}")))?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(err(format!(
                "hash algorithm {} (argon2id expected)",
                parsed.algorithm
            )));
        }
        if users.iter().any(|u| u.name == name) {
            return Err(err(format!("user {name} appears twice")));
        }
        users.push(UserEntry {
            name: name.to_owned(),
            role,
            hash: hash.to_owned(),
        });
    }
    Ok(users)
}

/// The argon2id cost of new hashes: 7 MiB, 5 passes, 1 lane, one of OWASP's equivalent
/// settings (with 19 MiB and 2 passes). The smaller memory matters to a small daemon: the
/// allocator tends to keep the block of the last check resident.
pub const HASH_MEMORY_KIB: u32 = 7 * 1024;
/// Passes over the memory.
pub const HASH_PASSES: u32 = 5;

/// An argon2id hash of `password` with a fresh random salt ([`HASH_MEMORY_KIB`],
/// [`HASH_PASSES`]).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::new(HASH_MEMORY_KIB, HASH_PASSES, 1, None)
        .expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with valid parameters cannot fail")
        .to_string()
}

/// The users file `text` with `entry` added, or replacing the line of the same name
/// (comments and other lines are kept).
pub fn upsert_user(text: &str, entry: &UserEntry) -> String {
    let new_line = format!("{}:{}:{}", entry.name, entry.role, entry.hash);
    let mut out = String::new();
    let mut replaced = false;
    for line in text.lines() {
        let is_it = line.trim().split(':').next() == Some(entry.name.as_str())
            && !line.trim_start().starts_with('#');
        if is_it && !replaced {
            out.push_str(&new_line);
            replaced = true;
        } else if !is_it {
            out.push_str(line);
        } else {
            continue;
        }
        out.push('\n');
    }
    if !replaced {
        out.push_str(&new_line);
        out.push('\n');
    }
    out
}

struct Remembered {
    digest: [u8; 64],
    role: Role,
    until: Instant,
}

/// A hash no password is known for (its random password was thrown away): unknown users
/// are checked against it, so that a wrong name costs as much as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=7168,t=5,p=1$3XVFx+hEbC6NGNVjSUmHQw$a6OvmYFIopMiRb4fIs5ykvpu1q3NoI1uNl3000nUt2k";

/// Checks Basic credentials against the users file.
pub struct Authenticator {
    users: HashMap<String, UserEntry>,
    key: [u8; 32],
    remembered: Mutex<HashMap<String, Remembered>>,
    ttl: Duration,
    /// argon2's working memory, one buffer per check running at once, reused by later
    /// checks (a fresh allocation per check would stay resident in each allocator arena
    /// it touched). The server runs at most one check per core, so there are at most as
    /// many buffers as cores.
    memory: Mutex<Vec<Vec<argon2::Block>>>,
}

/// Verifies `password` against a PHC string, with caller-provided working memory.
/// Constant-time comparison of the outputs.
pub fn verify_with_memory(hash: &str, password: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let need = params.block_count();
    if memory.len() < need {
        memory.resize(need, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..need])
        .is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// How many verified credentials are remembered at most.
const REMEMBER_MAX: usize = 4096;

impl Authenticator {
    /// An authenticator for these users; successful checks are remembered for `ttl`.
    pub fn new(users: Vec<UserEntry>, ttl: Duration) -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Authenticator {
            users: users.into_iter().map(|u| (u.name.clone(), u)).collect(),
            key,
            remembered: Mutex::new(HashMap::new()),
            ttl,
            memory: Mutex::new(Vec::new()),
        }
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn digest(&self, name: &str, password: &str) -> [u8; 64] {
        let mut h = Blake2b512::new();
        h.update(self.key);
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// A cheap check against remembered credentials: `Some` if these credentials were
    /// verified recently, `None` if the slow check is needed.
    pub fn check_remembered(&self, name: &str, password: &str) -> Option<Identity> {
        let digest = self.digest(name, password);
        let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        let r = remembered.get(name)?;
        (r.until > Instant::now() && bool::from(r.digest.ct_eq(&digest))).then(|| Identity {
            name: name.to_owned(),
            role: r.role,
        })
    }

    /// The slow check (argon2id; run it off the async threads). Remembers success.
    pub fn verify(&self, name: &str, password: &str) -> Option<Identity> {
        let (hash, role) = match self.users.get(name) {
            Some(u) => (u.hash.as_str(), Some(u.role)),
            None => (DUMMY_HASH, None),
        };
        // The parameters come from the hash itself.
        let ok = {
            let pool = || self.memory.lock().unwrap_or_else(|e| e.into_inner());
            let mut memory = pool().pop().unwrap_or_default();
            let ok = verify_with_memory(hash, password, &mut memory);
            pool().push(memory);
            ok
        };
        let role = role.filter(|_| ok)?;
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        if remembered.len() >= REMEMBER_MAX {
            let now = Instant::now();
            remembered.retain(|_, r| r.until > now);
            if remembered.len() >= REMEMBER_MAX {
                remembered.clear();
            }
        }
        remembered.insert(
            name.to_owned(),
            Remembered {
                digest: self.digest(name, password),
                role,
                until: Instant::now() + self.ttl,
            },
        );
        Some(Identity {
            name: name.to_owned(),
            role,
        })
    }
}

/// Decodes `Authorization: Basic base64(name:password)`.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = decode_base64(rest.trim())?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    if s.len() > 4096 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header() {
        // "alice:s3cr:et" — the password may hold colons.
        assert_eq!(
            parse_basic("Basic YWxpY2U6czNjcjpldA=="),
            Some(("alice".into(), "s3cr:et".into()))
        );
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn users_file_round_trip_and_verification() {
        let hash = hash_password("pw1");
        let text = upsert_user(
            "# users\n",
            &UserEntry {
                name: "alice".into(),
                role: Role::Admin,
                hash: hash.clone(),
            },
        );
        let text = upsert_user(
            &text,
            &UserEntry {
                name: "bob".into(),
                role: Role::User,
                hash: hash_password("pw2"),
            },
        );
        // Replacing keeps one line per user.
        let text = upsert_user(
            &text,
            &UserEntry {
                name: "alice".into(),
                role: Role::User,
                hash,
            },
        );
        let users = parse_users(&text).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].role, Role::User);
        let auth = Authenticator::new(users, Duration::from_secs(60));
        assert!(auth.check_remembered("alice", "pw1").is_none());
        assert_eq!(
            auth.verify("alice", "pw1").map(|i| i.role),
            Some(Role::User)
        );
        assert!(auth.check_remembered("alice", "pw1").is_some());
        assert!(auth.check_remembered("alice", "pw2").is_none());
        assert!(auth.verify("alice", "wrong").is_none());
        assert!(auth.verify("nobody", "pw1").is_none());
        // Hashes with other parameters (argon2's defaults) verify too.
        let mut memory = Vec::new();
        let default = Argon2::default()
            .hash_password(b"pw3", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_with_memory(&default, "pw3", &mut memory));
        assert!(!verify_with_memory(&default, "pw4", &mut memory));
        assert!(!verify_with_memory(DUMMY_HASH, "", &mut memory));
        assert!(parse_users("x:admin:notahash\n").is_err());
        assert!(
            parse_users("bad name:admin:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA\n").is_err()
        );
    }
}
