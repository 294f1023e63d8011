//! The LIKE matcher: `%`, `_`, `[abc]`, `[a-f]`, `[^a-f]`, case-insensitive.
//!
//! There is no escape character inside a pattern (as in WMI): a literal `%`, `_` or `[` is
//! written `[%]`, `[_]`, `[[]`. Inside brackets, a `]` right after `[` or `[^` is a member,
//! `-` between two characters is a range (an inverted range such as `[z-a]` is empty), and
//! `-` first or last is a member. An unterminated `[` is an error.
//!
//! Case: a literal matches a character whose simple case folding ([`fold`]) is the folding of
//! the literal; a set matches a character `c` when `c`, `fold(c)` or the simple upper case of
//! `c` lies in one of its ranges (negated: when none does).
//!
//! # How it matches, and what it costs
//!
//! A pattern is compiled once into *segments*: the runs of elements between `%`s, each
//! element matching exactly one character. Without a `%` the one segment must cover the
//! whole text. Otherwise the first segment must match at the start of the text and the last
//! one at its end (on the last characters, after the first segment), and each segment in
//! between is placed at its leftmost occurrence after the previous one. Leftmost placement
//! is optimal: a segment has a fixed length, so the earliest occurrence leaves the most text
//! to the segments after it; no backtracking is ever needed.
//!
//! Anchored segments cost one step per element. An inner segment is searched in one pass over
//! the text in between, never re-reading a character:
//! * a segment of literals only, with Knuth–Morris–Pratt over the folded characters:
//!   O(text + segment);
//! * a segment with `_` or sets, with the bit-parallel Shift-And automaton: one word of
//!   state per 64 elements, and per character a mask of the elements it matches (a table for
//!   ASCII; otherwise a few binary searches into the sorted range boundaries of the segment
//!   and O(⌈segment/64⌉) word operations, see [`ToggleMap`]): O(text × ⌈segment/64⌉).
//!
//! So a match costs O(pattern + text × ⌈longest inner segment/64⌉) time and no allocation
//! unless an inner segment with `_` or sets is longer than 256 elements; compiling costs
//! O(pattern × log pattern) time and memory linear in the pattern: the ASCII tables
//! (128 masks per segment) are built while they fit in 1 KiB plus 64 bytes per byte of
//! pattern, so that a long segment always gets one and many short ones cannot multiply them.

/// A compiled LIKE pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LikePattern {
    /// Matches at the start of the text; the whole pattern when it has no `%`.
    head: Vec<Elem>,
    /// Whether the pattern has a `%` (then `tail` is anchored at the end of the text).
    any: bool,
    /// Searched in order, each at its leftmost occurrence after the previous one.
    inner: Vec<Segment>,
    /// Matches at the end of the text, after `head`.
    tail: Vec<Elem>,
}

/// One element of a segment: it matches exactly one character.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Elem {
    /// `_`: any character.
    One,
    /// A literal character, already case-folded.
    Lit(char),
    /// `[...]`: one character in (or, negated, not in) the ranges, which are sorted,
    /// disjoint and not adjacent.
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
            Elem::One => true,
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

/// Words (of 64 elements each) of ASCII tables a pattern may use: one single-word table,
/// plus 8 words per byte of pattern. Segments beyond it take the general path for ASCII too.
fn ascii_table_budget(pattern: &str) -> usize {
    128 + 8 * pattern.len()
}

impl LikePattern {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Result<LikePattern, LikeError> {
        // The runs of elements between `%`s; consecutive `%` are one.
        let mut segments: Vec<Vec<Elem>> = vec![Vec::new()];
        let mut it = pattern.char_indices().peekable();
        while let Some((at, c)) = it.next() {
            let e = match c {
                '%' => {
                    if segments.len() == 1 || !segments[segments.len() - 1].is_empty() {
                        segments.push(Vec::new());
                    }
                    continue;
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
            segments.last_mut().expect("never empty").push(e);
        }
        let any = segments.len() > 1;
        let tail = if any {
            segments.pop().expect("two or more")
        } else {
            Vec::new()
        };
        let mut rest = segments.into_iter();
        let head = rest.next().expect("one or more");
        let mut budget = ascii_table_budget(pattern);
        let inner = rest.map(|s| Segment::new(s, &mut budget)).collect();
        Ok(LikePattern {
            head,
            any,
            inner,
            tail,
        })
    }

    /// Whether `text` matches the whole pattern (case-insensitively).
    pub fn matches(&self, text: &str) -> bool {
        let Some(start) = match_head(&self.head, text) else {
            return false;
        };
        if !self.any {
            return start == text.len();
        }
        let Some(end) = match_tail(&self.tail, &text[start..]) else {
            return false;
        };
        let mut rest = &text[start..start + end];
        for segment in &self.inner {
            match segment.find(rest) {
                Some(after) => rest = &rest[after..],
                None => return false,
            }
        }
        true
    }
}

/// Turns bracket members into ranges: `a-f` is a range, other characters stand alone. The
/// result is sorted, with overlapping or adjacent ranges merged and inverted ones dropped.
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
    out.retain(|&(lo, hi)| lo <= hi);
    out.sort_unstable();
    let mut merged: Vec<(char, char)> = Vec::with_capacity(out.len());
    for (lo, hi) in out {
        match merged.last_mut() {
            Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// Matches `elems` on the first characters of `text`: the byte length they cover.
fn match_head(elems: &[Elem], text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    for e in elems {
        let (_, c) = chars.next()?;
        if !e.matches_char(c) {
            return None;
        }
    }
    Some(chars.offset())
}

/// Matches `elems` on the last characters of `text`: the byte offset where they start.
fn match_tail(elems: &[Elem], text: &str) -> Option<usize> {
    let mut chars = text.char_indices().rev();
    let mut start = text.len();
    for e in elems.iter().rev() {
        let (at, c) = chars.next()?;
        if !e.matches_char(c) {
            return None;
        }
        start = at;
    }
    Some(start)
}

/// A run of elements between two `%`, searched for in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// Literals only (folded), with the Knuth–Morris–Pratt failure function: `fail[i]` is the
    /// length of the longest proper border of `lits[..=i]`.
    Literal { lits: Vec<char>, fail: Vec<usize> },
    /// With `_` or sets: Shift-And.
    Masked(Box<Masks>),
}

impl Segment {
    fn new(elems: Vec<Elem>, budget: &mut usize) -> Segment {
        debug_assert!(!elems.is_empty());
        let lits: Option<Vec<char>> = elems
            .iter()
            .map(|e| match e {
                Elem::Lit(l) => Some(*l),
                _ => None,
            })
            .collect();
        match lits {
            Some(lits) => {
                let mut fail = vec![0; lits.len()];
                let mut k = 0;
                for i in 1..lits.len() {
                    while k > 0 && lits[i] != lits[k] {
                        k = fail[k - 1];
                    }
                    if lits[i] == lits[k] {
                        k += 1;
                    }
                    fail[i] = k;
                }
                Segment::Literal { lits, fail }
            }
            None => Segment::Masked(Box::new(Masks::new(&elems, budget))),
        }
    }

    /// The leftmost occurrence in `text`: the byte offset just after it.
    fn find(&self, text: &str) -> Option<usize> {
        match self {
            Segment::Literal { lits, fail } => {
                let mut q = 0;
                for (at, c) in text.char_indices() {
                    let f = fold(c);
                    while q > 0 && lits[q] != f {
                        q = fail[q - 1];
                    }
                    if lits[q] == f {
                        q += 1;
                        if q == lits.len() {
                            return Some(at + c.len_utf8());
                        }
                    }
                }
                None
            }
            Segment::Masked(m) => m.find(text),
        }
    }
}

/// A segment with `_` or sets, for Shift-And: bit `j` of a mask stands for element `j`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Masks {
    /// Elements in the segment.
    len: usize,
    /// Words per mask: ⌈len/64⌉.
    words: usize,
    /// The `_` elements.
    one: Vec<u64>,
    /// The literals, keyed by the folded character.
    lits: ToggleMap,
    /// The sets (negated or not), keyed by the character, its folding and its upper case:
    /// bit `j` is on when the key lies in a range of set `j`.
    sets: ToggleMap,
    /// The negated sets.
    negated: Vec<u64>,
    /// The sets that are not negated.
    plain: Vec<u64>,
    /// Whether there are sets at all.
    has_sets: bool,
    /// The whole mask of each ASCII character (128 × `words`), or empty when over budget.
    ascii: Vec<u64>,
}

/// Masks up to this many words are kept on the stack while searching.
const INLINE_WORDS: usize = 4;

impl Masks {
    fn new(elems: &[Elem], budget: &mut usize) -> Masks {
        let len = elems.len();
        let words = len.div_ceil(64);
        let mut one = vec![0u64; words];
        let mut negated = vec![0u64; words];
        let mut plain = vec![0u64; words];
        let (mut lit_events, mut set_events) = (Vec::new(), Vec::new());
        for (j, e) in elems.iter().enumerate() {
            let bit = (j / 64, 1u64 << (j % 64));
            match e {
                Elem::One => one[bit.0] |= bit.1,
                Elem::Lit(l) => push_range(&mut lit_events, *l, *l, j),
                Elem::Set { negated: n, ranges } => {
                    if *n {
                        negated[bit.0] |= bit.1;
                    } else {
                        plain[bit.0] |= bit.1;
                    }
                    for &(lo, hi) in ranges {
                        push_range(&mut set_events, lo, hi, j);
                    }
                }
            }
        }
        let mut masks = Masks {
            len,
            words,
            one,
            lits: ToggleMap::new(lit_events, words),
            sets: ToggleMap::new(set_events, words),
            has_sets: elems.iter().any(|e| matches!(e, Elem::Set { .. })),
            negated,
            plain,
            ascii: Vec::new(),
        };
        if 128 * words <= *budget {
            *budget -= 128 * words;
            masks.ascii = vec![0u64; 128 * words];
            for (c, row) in (0..128u8).zip(masks.ascii.chunks_exact_mut(words)) {
                for (j, e) in elems.iter().enumerate() {
                    if e.matches_char(char::from(c)) {
                        row[j / 64] |= 1 << (j % 64);
                    }
                }
            }
        }
        masks
    }

    /// The elements `c` matches, into `out` (with `t1`, `t2` as scratch), or from the table.
    fn mask<'a>(
        &'a self,
        c: char,
        out: &'a mut [u64],
        t1: &mut [u64],
        t2: &mut [u64],
    ) -> &'a [u64] {
        if c.is_ascii() && !self.ascii.is_empty() {
            let i = c as usize * self.words;
            return &self.ascii[i..i + self.words];
        }
        let f = fold(c);
        out.copy_from_slice(&self.one);
        if !self.lits.is_empty() {
            self.lits.state(f, t1);
            or_into(out, t1);
        }
        if self.has_sets {
            self.sets.state(c, t1);
            if f != c {
                self.sets.state(f, t2);
                or_into(t1, t2);
            }
            let u = upper(c);
            if u != c && u != f {
                self.sets.state(u, t2);
                or_into(t1, t2);
            }
            for (((o, &hit), &p), &n) in
                out.iter_mut().zip(&*t1).zip(&self.plain).zip(&self.negated)
            {
                *o |= (hit & p) | (!hit & n);
            }
        }
        out
    }

    /// Shift-And: the byte offset just after the leftmost occurrence in `text`.
    fn find(&self, text: &str) -> Option<usize> {
        let w = self.words;
        let mut inline = [0u64; 4 * INLINE_WORDS];
        let mut heap = Vec::new();
        let scratch: &mut [u64] = if w <= INLINE_WORDS {
            &mut inline[..4 * w]
        } else {
            heap.resize(4 * w, 0);
            &mut heap
        };
        let (state, scratch) = scratch.split_at_mut(w);
        let (out, scratch) = scratch.split_at_mut(w);
        let (t1, t2) = scratch.split_at_mut(w);
        let (last_word, last_bit) = ((self.len - 1) / 64, 1u64 << ((self.len - 1) % 64));
        for (at, c) in text.char_indices() {
            let mask = self.mask(c, out, t1, t2);
            // state = ((state << 1) | 1) & mask, over `w` words.
            let mut carry = 1;
            for (s, &m) in state.iter_mut().zip(mask) {
                let shifted = (*s << 1) | carry;
                carry = *s >> 63;
                *s = shifted & m;
            }
            if state[last_word] & last_bit != 0 {
                return Some(at + c.len_utf8());
            }
        }
        None
    }
}

fn or_into(out: &mut [u64], x: &[u64]) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o |= x;
    }
}

/// Toggles bit `j` at `lo` and again just after `hi`.
fn push_range(events: &mut Vec<(u32, u32)>, lo: char, hi: char, j: usize) {
    let j = u32::try_from(j).expect("a pattern is shorter than 4 GiB");
    events.push((lo as u32, j));
    if hi != char::MAX {
        events.push((hi as u32 + 1, j));
    }
}

/// A map from characters to bit masks, for masks that change only at range boundaries: the
/// mask of `c` is the XOR of the toggles at points up to `c` (each bit's ranges are disjoint,
/// so a bit is on exactly inside its ranges).
///
/// Storing every distinct mask would take (boundaries × words) words, quadratic in the
/// pattern. Instead the state is checkpointed every `words` toggles: a look-up is a binary
/// search, a copy of the checkpoint before it and at most `words` toggles, O(log + words),
/// and the checkpoints take about as many words as there are toggles.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ToggleMap {
    /// Sorted points (characters as `u32`) where a bit toggles, and the bit.
    points: Vec<u32>,
    bits: Vec<u32>,
    words: usize,
    /// The state after `i × words` toggles, for each `i` up to `points.len() / words`.
    checkpoints: Vec<u64>,
}

impl ToggleMap {
    fn new(mut events: Vec<(u32, u32)>, words: usize) -> ToggleMap {
        events.sort_unstable();
        let stride = words;
        let mut state = vec![0u64; words];
        let mut checkpoints = Vec::with_capacity((events.len() / stride + 1) * words);
        for (i, &(_, bit)) in events.iter().enumerate() {
            if i.is_multiple_of(stride) {
                checkpoints.extend_from_slice(&state);
            }
            state[bit as usize / 64] ^= 1 << (bit % 64);
        }
        if events.len().is_multiple_of(stride) {
            checkpoints.extend_from_slice(&state);
        }
        let (points, bits) = events.into_iter().unzip();
        ToggleMap {
            points,
            bits,
            words,
            checkpoints,
        }
    }

    fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The mask of `key`, into `out`.
    fn state(&self, key: char, out: &mut [u64]) {
        let n = self.points.partition_point(|&p| p <= key as u32);
        let stride = self.words;
        let cp = n / stride;
        out.copy_from_slice(&self.checkpoints[cp * stride..(cp + 1) * stride]);
        for &bit in &self.bits[cp * stride..n] {
            out[bit as usize / 64] ^= 1 << (bit % 64);
        }
    }
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
    fn anchored_ends_do_not_overlap() {
        assert!(!m("ab%ba", "aba"));
        assert!(m("ab%ba", "abba"));
        assert!(!m("a%a", "a"));
        assert!(m("a%a", "aa"));
        assert!(!m("%ab%ab", "aba"));
        assert!(m("%é%É", "éé"));
        assert!(!m("%é%É", "é"));
        assert!(m("a%%b", "ab"));
        assert!(m("%%", ""));
    }

    #[test]
    fn inner_segments_leftmost() {
        assert!(m("%aab%", "aaab"));
        assert!(m("%a_b%c", "xaxbyaxbc"));
        assert!(!m("%a_b%a_b", "axb"));
        assert!(m("%[ab]_[^c]%", "zzbxd"));
        assert!(!m("%[ab]_[^c]%", "zzbxc"));
        assert!(m("%ab%ab%", "abab"));
        assert!(!m("%ab%ab%", "aba"));
    }

    #[test]
    fn no_exponential_blowup() {
        let text = "a".repeat(5000);
        let pat = "%a".repeat(50) + "b";
        assert!(!m(&pat, &text));
    }

    #[test]
    fn ranges_are_normalized() {
        assert_eq!(ranges(&['z', '-', 'a']), vec![]);
        assert_eq!(ranges(&['a', '-', 'c', 'b', 'd']), vec![('a', 'd')]);
        assert_eq!(ranges(&['x', 'a', '-', 'c']), vec![('a', 'c'), ('x', 'x')]);
        assert_eq!(ranges(&['-', 'a']), vec![('-', '-'), ('a', 'a')]);
        assert_eq!(ranges(&['c', 'a']), vec![('a', 'a'), ('c', 'c')]);
        assert_eq!(ranges(&['c', 'a', 'b']), vec![('a', 'c')]);
    }

    /// Every character of interest, ASCII included, through the general path (not the ASCII
    /// table), element by element, for segments longer and shorter than a word.
    #[test]
    fn masks_agree_with_elements() {
        let chars: Vec<char> = (0u32..0x250)
            .chain([
                0x130, 0x131, 0x17F, 0x1E9E, 0x212A, 0x2126, 0x3A3, 0x3C2, 0x10FFFF,
            ])
            .filter_map(char::from_u32)
            .collect();
        let pieces = [
            "_",
            "a",
            "A",
            "ß",
            "İ",
            "é",
            "k",
            "[a-c]",
            "[^b]",
            "[é]",
            "[^É-é]",
            "[ß]",
            "[ẞ]",
            "[K]",
            "[^i]",
            "[ſ]",
            "[z-a]",
            "[a-cb-e]",
            "[\u{10FFFF}]",
            "[^a-zA-Z]",
        ];
        for n in [1, 7, 64, 65, 130, 300] {
            let pattern: String = (0..n).map(|i| pieces[(i * 7 + n) % pieces.len()]).collect();
            let p = LikePattern::new(&format!("%{pattern}_%")).unwrap();
            let [Segment::Masked(masks)] = &p.inner[..] else {
                panic!("one masked segment")
            };
            let elems = &LikePattern::new(&pattern).unwrap().head;
            let w = masks.words;
            let general = Masks {
                ascii: Vec::new(),
                ..(**masks).clone()
            };
            let (mut out, mut t1, mut t2) = (vec![0; w], vec![0; w], vec![0; w]);
            for &c in &chars {
                let mut expected = vec![0u64; w];
                for (j, e) in elems.iter().chain([&Elem::One]).enumerate() {
                    if e.matches_char(c) {
                        expected[j / 64] |= 1 << (j % 64);
                    }
                }
                assert_eq!(
                    general.mask(c, &mut out, &mut t1, &mut t2),
                    &expected[..],
                    "{c:?} in {pattern}"
                );
                assert_eq!(masks.mask(c, &mut out, &mut t1, &mut t2), &expected[..]);
            }
        }
    }
}
