//! The LIKE matcher: `%`, `_`, `[abc]`, `[a-f]`, `[^a-f]`, case-insensitive.
//!
//! A pattern is compiled once into a list of elements that each match exactly one
//! character, plus `%`. Matching is the classic greedy two-pointer wildcard algorithm: on a
//! mismatch it only retries from the last `%`, so it runs in O(text × pattern) at worst and
//! never backtracks exponentially.
//!
//! There is no escape character inside a pattern (as in WMI): a literal `%`, `_` or `[` is
//! written `[%]`, `[_]`, `[[]`. Inside brackets, a `]` right after `[` or `[^` is a member,
//! `-` between two characters is a range (an inverted range such as `[z-a]` is empty), and
//! `-` first or last is a member. An unterminated `[` is an error.

/// A compiled LIKE pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LikePattern {
    elems: Vec<Elem>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Elem {
    /// `%`: any run of characters.
    Any,
    /// `_`: one character.
    One,
    /// A literal character, already case-folded.
    Lit(char),
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Simple case folding to lower case, one character to one character.
pub(crate) fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

impl Elem {
    fn matches_char(&self, c: char) -> bool {
        match self {
            Elem::Any | Elem::One => true,
            Elem::Lit(l) => fold(c) == *l,
            Elem::Set { negated, ranges } => {
                let (f, u) = (fold(c), upper(c));
                let hit = ranges
                    .iter()
                    .any(|&(lo, hi)| [c, f, u].iter().any(|x| (lo..=hi).contains(x)));
                hit != *negated
            }
        }
    }
}

/// Why a pattern cannot be compiled: a message and the byte offset of the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LikeError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the pattern.
    pub offset: usize,
}

impl LikePattern {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Result<LikePattern, LikeError> {
        let mut elems = Vec::new();
        let mut it = pattern.char_indices().peekable();
        while let Some((at, c)) = it.next() {
            let e = match c {
                '%' => {
                    // Consecutive `%` are one.
                    if elems.last() == Some(&Elem::Any) {
                        continue;
                    }
                    Elem::Any
                }
                '_' => Elem::One,
                '[' => {
                    let negated = it.next_if(|&(_, c)| c == '^').is_some();
                    let mut members: Vec<char> = Vec::new();
                    let mut closed = false;
                    for (_, c) in it.by_ref() {
                        if c == ']' && !members.is_empty() {
                            closed = true;
                            break;
                        }
                        members.push(c);
                    }
                    if !closed {
                        return Err(LikeError {
                            message:
                                "unterminated '[' in LIKE pattern; write [[] for a literal '['"
                                    .into(),
                            offset: at,
                        });
                    }
                    Elem::Set {
                        negated,
                        ranges: ranges(&members),
                    }
                }
                c => Elem::Lit(fold(c)),
            };
            elems.push(e);
        }
        Ok(LikePattern { elems })
    }

    /// Whether `text` matches the whole pattern (case-insensitively).
    pub fn matches(&self, text: &str) -> bool {
        let p = &self.elems;
        let (mut pi, mut ti) = (0usize, 0usize);
        // Where to resume after the last `%`: pattern index after it, text index it covers up to.
        let mut star: Option<(usize, usize)> = None;
        loop {
            let c = text[ti..].chars().next();
            match (p.get(pi), c) {
                (Some(Elem::Any), _) => {
                    pi += 1;
                    star = Some((pi, ti));
                    continue;
                }
                (Some(e), Some(c)) if e.matches_char(c) => {
                    pi += 1;
                    ti += c.len_utf8();
                    continue;
                }
                (None, None) => return true,
                _ => {}
            }
            // Mismatch: let the last `%` swallow one more character, or fail.
            match star {
                Some((sp, st)) => match text[st..].chars().next() {
                    Some(c) => {
                        let st = st + c.len_utf8();
                        star = Some((sp, st));
                        pi = sp;
                        ti = st;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}

/// Turns bracket members into ranges: `a-f` is a range, other characters stand alone.
fn ranges(members: &[char]) -> Vec<(char, char)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < members.len() {
        if i + 2 < members.len() && members[i + 1] == '-' {
            out.push((members[i], members[i + 2]));
            i += 3;
        } else {
            out.push((members[i], members[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        LikePattern::new(p).unwrap().matches(t)
    }

    #[test]
    fn basics() {
        assert!(m("sshd%", "SSHD:session"));
        assert!(m("%", ""));
        assert!(!m("_", ""));
        assert!(m("a_c", "abc"));
        assert!(m("[a-c]x", "Bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("100[%]", "100%"));
        assert!(!m("100[%]", "1000"));
        assert!(m("a[_]b", "a_b"));
        assert!(m("[]]", "]"));
        assert!(m("[-a]", "-"));
        assert!(m("%a%b%c%", "xxaxxbxxcxx"));
        assert!(!m("%a%b%c%", "xxaxxcxxbxx"));
        assert!(m("ÄB%", "äbc"));
        assert!(LikePattern::new("[abc").is_err());
        assert!(LikePattern::new("[]").is_err());
    }

    #[test]
    fn no_exponential_blowup() {
        let text = "a".repeat(5000);
        let pat = "%a".repeat(50) + "b";
        assert!(!m(&pat, &text));
    }
}
