//! Property tests: print→parse round trips (the LIKE matcher's are in `like.rs`), and
//! the parser on arbitrary input.

use linmgmt_cim::ObjectPath;
use linmgmt_wql::{
    AssocQuery, CompareOp, EventQuery, Expr, GroupClause, Ident, Literal, PropertyRef, SelectList,
    SelectQuery, Spanned, Statement, is_reserved, parse,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,8}".prop_filter("reserved", |s| {
        !is_reserved(s) && !s.eq_ignore_ascii_case("meta_class")
    })
}

fn ident() -> impl Strategy<Value = Ident> {
    name().prop_map(Ident::new)
}

fn property(dotted: bool) -> BoxedStrategy<PropertyRef> {
    if dotted {
        prop::collection::vec(name(), 1..3)
            .prop_map(PropertyRef::dotted)
            .boxed()
    } else {
        name().prop_map(PropertyRef::new).boxed()
    }
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<String>().prop_map(Literal::String),
        "[a-z'\"\\\\ %_]{0,6}".prop_map(Literal::String),
        any::<i64>().prop_map(|n| Literal::Integer(n.into())),
        any::<i128>().prop_map(Literal::Integer),
        prop::num::f64::NORMAL.prop_map(Literal::Real),
        (-1000i32..1000).prop_map(|n| Literal::Real(f64::from(n) / 8.0)),
        any::<bool>().prop_map(Literal::Boolean),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
    ]
}

fn expr(dotted: bool) -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (property(dotted), op(), literal()).prop_map(|(property, op, v)| Expr::Compare {
            property,
            op: Spanned::new(op),
            value: Spanned::new(v),
        }),
        (property(dotted), any::<bool>())
            .prop_map(|(property, negated)| Expr::IsNull { property, negated }),
        (property(dotted), "[a-z%_\\[\\]^'\\\\-]{0,8}").prop_map(|(property, p)| Expr::Like {
            property,
            pattern: Spanned::new(p),
        }),
        (property(dotted), ident()).prop_map(|(property, class)| Expr::Isa { property, class }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn select_list() -> impl Strategy<Value = SelectList> {
    prop_oneof![
        Just(SelectList::All),
        prop::collection::vec(ident(), 1..4).prop_map(SelectList::Properties),
    ]
}

fn statement() -> impl Strategy<Value = Statement> {
    let select = (select_list(), ident(), prop::option::of(expr(false))).prop_map(
        |(properties, from, where_clause)| {
            Statement::Select(SelectQuery {
                properties,
                from,
                where_clause,
            })
        },
    );
    let event = (
        select_list(),
        prop::sample::select(linmgmt_wql::EVENT_CLASSES),
        prop::option::of(1u32..100_000).prop_map(|w| w.map(|w| f64::from(w) / 4.0)),
        prop::option::of(expr(true)),
        prop::option::of((
            1u32..=linmgmt_wql::MAX_INTERVAL,
            prop::collection::vec(property(true), 0..3),
            prop::option::of((op(), any::<u32>()).prop_map(|(op, k)| Expr::Compare {
                property: PropertyRef::new("NumberOfEvents"),
                op: Spanned::new(op),
                value: Spanned::new(Literal::Integer(k.into())),
            })),
        )),
    )
        .prop_map(|(properties, from, within, where_clause, group)| {
            Statement::Event(EventQuery {
                properties,
                from: Ident::new(from),
                within,
                where_clause,
                group: group.map(|(within, by, having)| GroupClause { within, by, having }),
            })
        });
    let assoc = (
        name(),
        "[a-zA-Z0-9 ]{1,6}",
        prop::option::of(ident()),
        any::<bool>(),
        prop::option::of(ident()),
        prop::option::of(ident()),
        prop::option::of(ident()),
        prop::option::of(ident()),
        prop::option::of(ident()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(class, key, ac, cdo, raq, rq, rc, rr, role, ko, refs)| {
            let path: ObjectPath = format!("{class}.Key=\"{key}\"").parse().unwrap();
            let mut q = AssocQuery::new(path);
            q.required_qualifier = rq;
            q.role = role;
            q.keys_only = ko;
            if cdo {
                q.class_defs_only = true;
            } else {
                q.result_class = rc;
            }
            if refs {
                Statement::References(q)
            } else {
                q.assoc_class = ac;
                q.required_assoc_qualifier = raq;
                q.result_role = rr;
                Statement::Associators(q)
            }
        });
    prop_oneof![4 => select, 2 => event, 1 => assoc]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_round_trip(stmt in statement()) {
        let text = stmt.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&parsed, &stmt, "{}", text);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn parser_never_panics(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parser_never_panics_on_wql_like_text(
        words in prop::collection::vec(prop_oneof![
            Just("SELECT"), Just("*"), Just("FROM"), Just("WHERE"), Just("X"), Just("="),
            Just("("), Just(")"), Just("AND"), Just("OR"), Just("NOT"), Just("'a'"), Just("1"),
            Just("-"), Just("."), Just("{A.B=1}"), Just("ASSOCIATORS"), Just("OF"),
            Just("WITHIN"), Just("GROUP"), Just("BY"), Just("HAVING"), Just("IS"), Just("NULL"),
            Just("LIKE"), Just("ISA"), Just(","), Just("Role"), Just("KeysOnly"), Just("\""),
        ], 0..30)
    ) {
        let text = words.join(" ");
        if let Ok(stmt) = parse(&text) {
            // Whatever parses prints to text that parses to the same tree.
            prop_assert_eq!(parse(&stmt.to_string()).ok(), Some(stmt));
        }
    }
}
