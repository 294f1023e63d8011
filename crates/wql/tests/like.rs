//! The LIKE matcher against a reference: a plain dynamic-programming matcher over the
//! pattern's elements (O(pattern × text), obviously right), on random patterns and texts over
//! a small alphabet with case pairs outside ASCII, and on long segments (more than one
//! 64-bit word of Shift-And state).

use linmgmt_wql::LikePattern;
use proptest::prelude::*;

/// One element of a pattern, as the module documentation defines them.
#[derive(Clone, Debug)]
enum Tok {
    Any,
    One,
    Lit(char),
    Set { negated: bool, members: Vec<char> },
}

fn fold(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn upper(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Parses a well-formed pattern (no unterminated `[`).
fn tokens(p: &str) -> Vec<Tok> {
    let p: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '%' => out.push(Tok::Any),
            '_' => out.push(Tok::One),
            '[' => {
                let negated = p.get(i + 1) == Some(&'^');
                let start = i + 1 + usize::from(negated);
                let close = (start + 1..p.len())
                    .find(|&j| p[j] == ']')
                    .expect("well-formed");
                out.push(Tok::Set {
                    negated,
                    members: p[start..close].to_vec(),
                });
                i = close;
            }
            c => out.push(Tok::Lit(c)),
        }
        i += 1;
    }
    out
}

fn tok_matches(t: &Tok, c: char) -> bool {
    match t {
        Tok::Any | Tok::One => true,
        Tok::Lit(l) => fold(c) == fold(*l),
        Tok::Set { negated, members } => {
            let cands = [c, fold(c), upper(c)];
            let mut hit = false;
            let mut i = 0;
            while i < members.len() {
                if i + 2 < members.len() && members[i + 1] == '-' {
                    hit |= cands
                        .iter()
                        .any(|x| (members[i]..=members[i + 2]).contains(x));
                    i += 3;
                } else {
                    hit |= cands.contains(&members[i]);
                    i += 1;
                }
            }
            hit != *negated
        }
    }
}

/// `dp[j]`: the pattern so far matches the first `j` characters of the text.
fn reference(pattern: &str, text: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for tok in tokens(pattern) {
        let mut next = vec![false; t.len() + 1];
        match tok {
            Tok::Any => {
                let mut reached = false;
                for j in 0..=t.len() {
                    reached |= dp[j];
                    next[j] = reached;
                }
            }
            ref tok => {
                for j in 0..t.len() {
                    next[j + 1] = dp[j] && tok_matches(tok, t[j]);
                }
            }
        }
        dp = next;
    }
    dp[t.len()]
}

/// Letters whose case mapping is not plain ASCII: `ß` (upper case is two characters, `ẞ`
/// folds to it), `İ` (lower case is two characters), U+212A (the Kelvin sign, folds to `k`), `ſ`
/// (long s, upper `S`), `é`/`É`.
const ALPHABET: &[char] = &[
    'a', 'A', 'b', 'B', 'c', 'i', 'k', 's', 'S', 'ß', 'ẞ', 'İ', '\u{212A}', 'ſ', 'é', 'É', '%',
    '_', ']', '-',
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..24).prop_map(String::from_iter)
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&ALPHABET[..16]).prop_map(String::from),
        2 => Just("%".to_owned()),
        2 => Just("_".to_owned()),
        1 => Just("[a-c]".to_owned()),
        1 => Just("[^b]".to_owned()),
        1 => Just("[é]".to_owned()),
        1 => Just("[^É-é]".to_owned()),
        1 => Just("[S]".to_owned()),
        1 => Just("[ß-ẞ]".to_owned()),
        1 => Just("[z-a]".to_owned()),
        1 => Just("[^z-a]".to_owned()),
        1 => Just("[]%_-]".to_owned()),
        1 => Just("[-k]".to_owned()),
        1 => Just("[i]".to_owned()),
        1 => Just("[^a-cb-dk]".to_owned()),
        1 => Just("[ac]".to_owned()),
    ]
}

/// Few letters, so that literal segments repeat themselves and texts hold partial matches
/// (what the Knuth–Morris–Pratt failure function is for).
const SMALL: &[char] = &['a', 'A', 'b', 'c', 'é', 'É'];

fn small_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(SMALL), 0..40).prop_map(String::from_iter)
}

fn small_pattern() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => prop::sample::select(SMALL).prop_map(String::from),
        2 => Just("%".to_owned()),
        1 => Just("_".to_owned()),
        1 => Just("[ac]".to_owned()),
        1 => Just("[^a]".to_owned()),
        1 => Just("[b-é]".to_owned()),
    ];
    prop::collection::vec(piece, 0..14).prop_map(|v| v.concat())
}

fn pattern(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..max).prop_map(|v| v.concat())
}

/// A text that matches `pattern` if each element can be given a character of `ALPHABET`
/// (and `%` one to three), sometimes with one character changed after: most random texts
/// would not match long patterns at all.
fn instance(pattern: &str, choices: &[usize], mutate: Option<(usize, char)>) -> String {
    let mut out = Vec::new();
    let mut k = 0;
    let mut choose = |n: usize| {
        k += 1;
        choices[k % choices.len()] % n.max(1)
    };
    for tok in tokens(pattern) {
        let fits: Vec<char> = ALPHABET
            .iter()
            .copied()
            .filter(|&c| tok_matches(&tok, c))
            .collect();
        let n = if matches!(tok, Tok::Any) {
            choose(4)
        } else {
            1
        };
        for _ in 0..n {
            out.push(if fits.is_empty() {
                'x'
            } else {
                fits[choose(fits.len())]
            });
        }
    }
    if let Some((at, c)) = mutate
        && !out.is_empty()
    {
        let at = at % out.len();
        out[at] = c;
    }
    out.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn like_matches_reference(p in pattern(10), t in text()) {
        let compiled = LikePattern::new(&p).unwrap();
        prop_assert_eq!(compiled.matches(&t), reference(&p, &t), "pattern {:?} text {:?}", p, t);
    }

    #[test]
    fn like_matches_reference_on_few_letters(p in small_pattern(), t in small_text()) {
        let compiled = LikePattern::new(&p).unwrap();
        prop_assert_eq!(compiled.matches(&t), reference(&p, &t), "pattern {:?} text {:?}", p, t);
    }

    #[test]
    fn like_matches_reference_on_instances(
        p in pattern(12),
        choices in prop::collection::vec(any::<usize>(), 1..16),
        mutate in prop::option::of((any::<usize>(), prop::sample::select(ALPHABET))),
    ) {
        let t = instance(&p, &choices, mutate);
        let compiled = LikePattern::new(&p).unwrap();
        prop_assert_eq!(compiled.matches(&t), reference(&p, &t), "pattern {:?} text {:?}", p, t);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Texts made of prefixes of the segment searched for: every kind of partial match, for
    /// the literal search and for Shift-And.
    #[test]
    fn like_finds_segments_among_partial_matches(
        s in "[abA]{1,16}",
        prefixes in prop::collection::vec(0usize..17, 0..12),
    ) {
        let t: String = prefixes.iter().map(|&n| &s[..n.min(s.len())]).collect();
        for p in [format!("%{s}%"), format!("%{s}"), format!("%{s}%{s}%"), format!("%_{s}%"),
                  format!("%{s}%[^a]")] {
            let compiled = LikePattern::new(&p).unwrap();
            prop_assert_eq!(
                compiled.matches(&t), reference(&p, &t), "pattern {:?} text {:?}", p, t
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Segments of up to 200 elements: Shift-And over one to four words, and over more
    /// than the state kept on the stack.
    #[test]
    fn like_matches_reference_on_long_segments(
        parts in prop::collection::vec(
            (prop_oneof![pattern(4), small_pattern()].prop_map(|p| p.replace('%', "")),
                20usize..70),
            1..3),
        lead in any::<bool>(),
        trail in any::<bool>(),
        choices in prop::collection::vec(any::<usize>(), 1..16),
        mutate in prop::option::of((any::<usize>(), prop::sample::select(ALPHABET))),
        noise in prop_oneof![text(), small_text()],
    ) {
        // Each part repeated, so that segments get long and share prefixes with themselves.
        let inner: Vec<String> = parts.iter().map(|(p, n)| p.repeat(*n)).collect();
        let mut p = inner.join("%");
        if lead {
            p.insert(0, '%');
        }
        if trail {
            p.push('%');
        }
        let compiled = LikePattern::new(&p).unwrap();
        let t = instance(&p, &choices, mutate);
        for t in [t.clone(), format!("{noise}{t}"), format!("{t}{noise}"), noise.repeat(8)] {
            prop_assert_eq!(
                compiled.matches(&t), reference(&p, &t), "pattern {:?} text {:?}", p, t
            );
        }
    }
}

#[test]
fn long_segments_by_hand() {
    let a = |n: usize| "a".repeat(n);
    let cases = [
        (format!("%{}b", a(1000)), format!("{}b", a(5000)), true),
        (
            format!("%{}b%", a(1000)),
            format!("{}b{}", a(5000), a(3)),
            true,
        ),
        (format!("%{}_b%", a(999)), format!("x{}yb", a(999)), true),
        (format!("%{}_b%", a(999)), format!("x{}yb", a(998)), false),
        (
            format!("%{}b%", "[a]".repeat(300)),
            format!("{}b", a(300)),
            true,
        ),
        (
            format!("%{}b%", "[a]".repeat(300)),
            format!("{}b", a(299)),
            false,
        ),
        (
            format!("%{}%", "[^b]".repeat(130)),
            format!("b{}b", a(130)),
            true,
        ),
        (
            format!("%{}%", "[^b]".repeat(130)),
            format!("b{}b", a(129)),
            false,
        ),
        (format!("{}%", a(70)), a(70), true),
        (format!("%{}", a(70)), a(69), false),
        (format!("{}%{}", a(3), a(3)), a(5), false),
    ];
    for (p, t, want) in cases {
        assert_eq!(LikePattern::new(&p).unwrap().matches(&t), want, "{p} {t}");
        assert_eq!(reference(&p, &t), want, "reference: {p} {t}");
    }
}

/// Every string over `alphabet` of length up to `max`.
fn all_strings(alphabet: &[&str], max: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..max {
        last = last
            .iter()
            .flat_map(|s| alphabet.iter().map(move |a| format!("{s}{a}")))
            .collect();
        out.extend(last.iter().cloned());
    }
    out
}

/// Exhaustively on small cases: random texts rarely hold the partial matches that make a
/// segment search fall back (such as `aaabb` in `aaabaabb`).
#[test]
fn exhaustive_small() {
    let texts = all_strings(&["a", "b"], 9);
    for s in all_strings(&["a", "b"], 5).iter().skip(1) {
        for p in [format!("%{s}%"), format!("%_{s}%")] {
            let compiled = LikePattern::new(&p).unwrap();
            for t in &texts {
                assert_eq!(compiled.matches(t), reference(&p, t), "{p:?} {t:?}");
            }
        }
    }
    let texts = all_strings(&["a", "b", "A"], 6);
    for p in all_strings(&["a", "B", "%", "_", "[^a]"], 4) {
        let compiled = LikePattern::new(&p).unwrap();
        for t in &texts {
            assert_eq!(compiled.matches(t), reference(&p, t), "{p:?} {t:?}");
        }
    }
}
