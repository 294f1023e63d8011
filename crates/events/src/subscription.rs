//! One event query, compiled, with the state it needs between scans: the instances seen
//! last time and the open `GROUP WITHIN` windows. Pure: the caller brings the instances
//! and the clock.

use jiff::{SignedDuration, Timestamp};
use linmgmt_cim::{ClassDef, Instance, Name, SystemContext, Value, WbemStatus, filetime};
use linmgmt_engine::EngineError;
use linmgmt_providers::diff::{Change, diff, volatile_properties};
use linmgmt_providers::{Depth, depth_of};
use linmgmt_schema::Namespace;
use linmgmt_wql::{
    Column, CompileOptions, EventFilter, EventQuery, Expr, Filter, Ident, Projection, PropertyRef,
    Statement,
};
use std::sync::Arc;
use std::time::Duration;

/// The shortest `WITHIN` accepted: a poll every 100 ms already costs a few percent of a
/// core on a busy host, and the push sources make shorter polls pointless.
pub const MIN_WITHIN: Duration = Duration::from_millis(100);

/// Which instance operations a query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Kinds {
    creation: bool,
    deletion: bool,
    modification: bool,
}

/// A class whose instances are compared from scan to scan.
struct Watched {
    class: Arc<ClassDef>,
    /// Per property index: a change there alone is not a modification.
    ignored: Vec<bool>,
    /// Shared with the hub's other subscribers of the class: a scan's instances are
    /// built once and never copied per subscription.
    previous: Arc<[Instance]>,
}

/// What `GROUP BY` groups on.
enum GroupKey {
    /// `TargetInstance.Prop`: a property index of the target's class, by name (subclasses
    /// of the ISA class may place it elsewhere).
    Target(Name),
    /// A property of the event itself, e.g. `__CLASS`.
    Event(Name),
}

/// One open aggregation window.
struct Group {
    key: Vec<String>,
    opened: Timestamp,
    count: u32,
    representative: Instance,
}

struct Grouping {
    window: SignedDuration,
    by: Vec<GroupKey>,
    having: Option<Filter>,
    open: Vec<Group>,
}

/// The event classes an event is made from.
struct EventClasses {
    creation: Arc<ClassDef>,
    deletion: Arc<ClassDef>,
    modification: Arc<ClassDef>,
    aggregate: Arc<ClassDef>,
    overflow: Arc<ClassDef>,
}

/// A compiled event query and its state.
pub struct Subscription {
    text: String,
    target: Arc<ClassDef>,
    kinds: Kinds,
    within: Duration,
    filter: EventFilter,
    columns: Option<Vec<Name>>,
    watched: Vec<Watched>,
    classes: EventClasses,
    grouping: Option<Grouping>,
    context: SystemContext,
    primed: bool,
}

fn err(status: WbemStatus, message: impl Into<String>) -> EngineError {
    EngineError::new(status, message)
}

/// `WBEM_E_INVALID_CLASS` for a class name the namespace does not have, with a caret.
fn no_class(ns: &Namespace, name: &Ident) -> EngineError {
    err(
        WbemStatus::InvalidClass,
        format!("no class {} in {}", name.name, ns.name()),
    )
    .with_span(name.span)
}

fn class_in(ns: &Namespace, name: &str) -> Result<Arc<ClassDef>, EngineError> {
    ns.class(name).cloned().ok_or_else(|| {
        err(
            WbemStatus::Failed,
            format!("internal: the schema has no {name}"),
        )
    })
}

/// The `TargetInstance.Prop` and `PreviousInstance.Prop` names the clause tests.
fn named_properties(e: &Expr, out: &mut Vec<Name>) {
    let mut add = |p: &PropertyRef| {
        if let [_, prop] = p.parts.as_slice() {
            out.push(prop.name.clone());
        }
    };
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| named_properties(e, out)),
        Expr::Not(e) => named_properties(e, out),
        Expr::Compare { property, .. }
        | Expr::IsNull { property, .. }
        | Expr::Like { property, .. }
        | Expr::Isa { property, .. } => add(property),
    }
}

impl Subscription {
    /// Compiles an event query against a namespace: the `FROM` class must be
    /// `__InstanceOperationEvent` or one of its three subclasses, the `WHERE` clause must
    /// say `TargetInstance ISA 'Class'` (at the top level) for a class the host provides,
    /// and `WITHIN` is required, as in WMI for polled classes. It bounds the latency;
    /// changes the push sources see arrive sooner. The rest of `WHERE` may test the
    /// target, the previous instance and the event itself (`__CLASS`, `TIME_CREATED`).
    ///
    /// Errors come in this order: an unknown class (FROM, then ISA) is
    /// `WBEM_E_INVALID_CLASS` before anything else is said about the query (a missing
    /// `WITHIN` included), then the event checks.
    pub fn compile(
        ns: &Namespace,
        text: &str,
        opts: &CompileOptions,
        context: SystemContext,
    ) -> Result<Subscription, EngineError> {
        let statement = linmgmt_wql::parse(text).map_err(EngineError::from_wql)?;
        let not_event_query = || {
            err(
                WbemStatus::InvalidQueryType,
                "not an event query; event queries look like SELECT * FROM \
                 __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession'",
            )
        };
        let query = match statement {
            Statement::Event(query) => query,
            // Without WITHIN or GROUP, the parser knows a SELECT for an event query only by
            // the intrinsic event classes' names. The class decides: an unknown one (an
            // extrinsic event class such as Win32_ProcessStartTrace) is WBEM_E_INVALID_CLASS,
            // and an event class gets the event checks (then: WITHIN is required).
            Statement::Select(q) if !q.is_meta_class() => match ns.class(q.from.name.as_str()) {
                None => return Err(no_class(ns, &q.from)),
                Some(class) if class.is_a("__Event") => EventQuery {
                    properties: q.properties,
                    from: q.from,
                    within: None,
                    where_clause: q.where_clause,
                    group: None,
                },
                Some(_) => return Err(not_event_query()),
            },
            _ => return Err(not_event_query()),
        };
        Self::compile_query(ns, text, &query, opts, context)
    }

    fn compile_query(
        ns: &Namespace,
        text: &str,
        q: &EventQuery,
        opts: &CompileOptions,
        context: SystemContext,
    ) -> Result<Subscription, EngineError> {
        let from = ns
            .class(q.from.name.as_str())
            .ok_or_else(|| no_class(ns, &q.from))?;
        if !from.is_a("__Event") {
            return Err(err(
                WbemStatus::NotEventClass,
                format!("{} is not an event class", q.from.name),
            )
            .with_span(q.from.span));
        }
        let is = |name: &str| from.name.is(name);
        let any = is("__InstanceOperationEvent");
        let kinds = Kinds {
            creation: any || is("__InstanceCreationEvent"),
            deletion: any || is("__InstanceDeletionEvent"),
            modification: any || is("__InstanceModificationEvent"),
        };
        if !(kinds.creation || kinds.deletion || kinds.modification) {
            return Err(err(
                WbemStatus::NotSupported,
                format!(
                    "{} is not delivered: linmgmt raises the intrinsic events \
                     __InstanceCreationEvent, __InstanceDeletionEvent, \
                     __InstanceModificationEvent and their base __InstanceOperationEvent",
                    from.name
                ),
            )
            .with_span(q.from.span));
        }
        let Some(target_name) = q.target_class() else {
            return Err(err(
                WbemStatus::RegistrationTooBroad,
                "say which class to watch: WHERE TargetInstance ISA 'Win32_LogonSession' \
                 (alone or joined to the rest with AND)",
            ));
        };
        let target = ns
            .class(target_name.name.as_str())
            .cloned()
            .ok_or_else(|| no_class(ns, target_name))?;
        // Only now that both classes are known: whether WITHIN is needed depends on them
        // (WMI does not ask it of classes with an event provider; linmgmt polls them all).
        let Some(within) = q.within else {
            return Err(err(
                WbemStatus::RegistrationTooPrecise,
                "WITHIN n is required: the classes are polled at least every n seconds \
                 (linmgmt also wakes at once on logins, logouts and process events)",
            ));
        };
        let within = Duration::try_from_secs_f64(within).unwrap_or(Duration::MAX);
        if within < MIN_WITHIN {
            return Err(err(
                WbemStatus::RegistrationTooPrecise,
                format!("WITHIN must be at least {} s", MIN_WITHIN.as_secs_f64()),
            ));
        }
        let filter = EventFilter::compile(q, from, &target, opts).map_err(EngineError::from_wql)?;
        let mut named = Vec::new();
        if let Some(w) = &q.where_clause {
            named_properties(w, &mut named);
        }
        let candidates = std::iter::once(&target).chain(ns.subclasses(target.name.as_str(), true));
        let watched: Vec<Watched> = candidates
            .filter(|c| depth_of(c.name.as_str()).is_some())
            .map(|class| {
                let volatile = volatile_properties(class.name.as_str());
                let ignored = (class.properties.iter())
                    .map(|p| {
                        volatile.iter().any(|v| p.name.is(v))
                            && !named.iter().any(|n| n.is(p.name.as_str()))
                    })
                    .collect();
                Watched {
                    class: class.clone(),
                    ignored,
                    previous: Arc::from([]),
                }
            })
            .collect();
        if watched.is_empty() {
            return Err(err(
                WbemStatus::NotSupported,
                format!(
                    "nothing provides instances of {} or its subclasses: no event would ever come",
                    target.name
                ),
            )
            .with_span(target_name.span));
        }
        let projection =
            Projection::compile_list(&q.properties, from).map_err(EngineError::from_wql)?;
        let columns = (!projection.all).then(|| {
            (projection.columns.into_iter())
                .map(|c| match c {
                    Column::Property { name, .. } | Column::System(name) => name,
                })
                .collect()
        });
        let classes = EventClasses {
            creation: class_in(ns, "__InstanceCreationEvent")?,
            deletion: class_in(ns, "__InstanceDeletionEvent")?,
            modification: class_in(ns, "__InstanceModificationEvent")?,
            aggregate: class_in(ns, "__AggregateEvent")?,
            overflow: class_in(ns, "__EventQueueOverflowEvent")?,
        };
        let grouping = match &q.group {
            None => None,
            Some(g) => {
                let by = (g.by.iter())
                    .map(|p| group_key(p, &target, from))
                    .collect::<Result<Vec<_>, _>>()?;
                let having = g
                    .having
                    .as_ref()
                    .map(|h| Filter::compile(Some(h), &classes.aggregate, opts))
                    .transpose()
                    .map_err(EngineError::from_wql)?;
                Some(Grouping {
                    window: SignedDuration::from_secs(i64::from(g.within)),
                    by,
                    having,
                    open: Vec::new(),
                })
            }
        };
        Ok(Subscription {
            text: text.to_owned(),
            target,
            kinds,
            within,
            filter,
            columns,
            watched,
            classes,
            grouping,
            context,
            primed: false,
        })
    }

    /// The query text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The class after `TargetInstance ISA`.
    pub fn target(&self) -> &Arc<ClassDef> {
        &self.target
    }

    /// The classes whose instances are compared (the ISA class and its subclasses that the
    /// host provides).
    pub fn classes(&self) -> impl Iterator<Item = &Arc<ClassDef>> {
        self.watched.iter().map(|w| &w.class)
    }

    /// The deepest scan the watched classes need.
    pub fn depth(&self) -> Depth {
        (self.watched.iter())
            .filter_map(|w| depth_of(w.class.name.as_str()))
            .fold(Depth::Sessions, Depth::union)
    }

    /// `WITHIN`: the longest a change may wait for a poll.
    pub fn within(&self) -> Duration {
        self.within
    }

    /// The event properties the select list names; `None` for `SELECT *`.
    pub fn columns(&self) -> Option<&[Name]> {
        self.columns.as_deref()
    }

    /// Takes in the instances as of `now` and returns the events since the last call (the
    /// first call only records the baseline: what exists already is not news). With `GROUP
    /// WITHIN`, events go into their windows instead and come out of [`Subscription::due`].
    pub fn observe(
        &mut self,
        now: Timestamp,
        instances: &mut dyn FnMut(&Arc<ClassDef>) -> Arc<[Instance]>,
    ) -> Vec<Instance> {
        let primed = std::mem::replace(&mut self.primed, true);
        let time = filetime(now);
        let mut events = Vec::new();
        for w in &mut self.watched {
            let mut current = instances(&w.class);
            if current.iter().any(in_transition) {
                current = current
                    .iter()
                    .filter(|i| !in_transition(i))
                    .cloned()
                    .collect();
            }
            if primed {
                let ignored = |i: usize| w.ignored.get(i).copied().unwrap_or(false);
                for change in diff(&w.previous, &current, &ignored) {
                    let (class, target, previous) = match change {
                        Change::Created(i) if self.kinds.creation => {
                            (&self.classes.creation, i, None)
                        }
                        Change::Deleted(i) if self.kinds.deletion => {
                            (&self.classes.deletion, i, None)
                        }
                        Change::Modified { previous, current } if self.kinds.modification => {
                            (&self.classes.modification, current, Some(previous))
                        }
                        _ => continue,
                    };
                    // The filter sees the whole event (its __CLASS, TIME_CREATED, …); the
                    // select list applies to what is delivered.
                    let event = make_event(class, time, target, previous);
                    if !self.filter.matches(&event, &self.context) {
                        continue;
                    }
                    events.push(project(event, &self.columns));
                }
            }
            w.previous = current;
        }
        match &mut self.grouping {
            None => events,
            Some(g) => {
                for e in events {
                    g.add(e, now, &self.context);
                }
                Vec::new()
            }
        }
    }

    /// The `__AggregateEvent`s whose `GROUP WITHIN` window has closed by `now` (and whose
    /// `HAVING` holds).
    pub fn due(&mut self, now: Timestamp) -> Vec<Instance> {
        let Some(g) = &mut self.grouping else {
            return Vec::new();
        };
        let window = g.window;
        let (closed, open): (Vec<Group>, Vec<Group>) = std::mem::take(&mut g.open)
            .into_iter()
            .partition(|grp| grp.opened + window <= now);
        g.open = open;
        let time = filetime(now);
        closed
            .into_iter()
            .filter_map(|grp| {
                let mut e = Instance::new(self.classes.aggregate.clone());
                set(&mut e, "TIME_CREATED", Value::Uint64(time));
                set(&mut e, "NumberOfEvents", Value::Uint32(grp.count));
                set(
                    &mut e,
                    "Representative",
                    Value::Object(Box::new(grp.representative)),
                );
                let keep = (g.having.as_ref()).is_none_or(|h| h.matches(&e, &self.context));
                keep.then_some(e)
            })
            .collect()
    }

    /// The `__EventQueueOverflowEvent` telling a consumer that `dropped` events (the first
    /// of them `first`) did not fit in its queue.
    pub fn overflow_notice(
        &self,
        dropped: u32,
        first: Option<&Instance>,
        now: Timestamp,
    ) -> Instance {
        let mut e = Instance::new(self.classes.overflow.clone());
        set(&mut e, "TIME_CREATED", Value::Uint64(filetime(now)));
        set(&mut e, "NumberOfEventsDropped", Value::Uint32(dropped));
        if let Some(first) = first {
            set(&mut e, "Event", Value::Object(Box::new(first.clone())));
        }
        e
    }

    /// When the next `GROUP WITHIN` window closes, if one is open.
    pub fn next_due(&self) -> Option<Timestamp> {
        let g = self.grouping.as_ref()?;
        g.open.iter().map(|grp| grp.opened + g.window).min()
    }
}

fn group_key(
    p: &PropertyRef,
    target: &ClassDef,
    event: &ClassDef,
) -> Result<GroupKey, EngineError> {
    let unknown = |class: &ClassDef, name: &linmgmt_wql::Ident| {
        err(
            WbemStatus::InvalidQuery,
            format!("{} has no property {}", class.name, name.name),
        )
        .with_span(name.span)
    };
    match p.parts.as_slice() {
        [state, prop] if state.name.is("TargetInstance") => {
            let index = target
                .property_index(prop.name.as_str())
                .ok_or_else(|| unknown(target, prop))?;
            let ty = &target.properties[index].ty;
            if ty.scalar == linmgmt_cim::ScalarType::Object {
                return Err(err(
                    WbemStatus::AggregatingByObject,
                    format!("cannot group by the embedded object {}", prop.name),
                )
                .with_span(prop.span));
            }
            Ok(GroupKey::Target(target.properties[index].name.clone()))
        }
        [prop] => {
            if (linmgmt_cim::SYSTEM_PROPERTIES.iter()).any(|s| prop.name.is(s)) {
                return Ok(GroupKey::Event(prop.name.clone()));
            }
            let index = event
                .property_index(prop.name.as_str())
                .ok_or_else(|| unknown(event, prop))?;
            if event.properties[index].ty.scalar == linmgmt_cim::ScalarType::Object {
                return Err(err(
                    WbemStatus::AggregatingByObject,
                    format!("cannot group by the embedded object {}", prop.name),
                )
                .with_span(prop.span));
            }
            Ok(GroupKey::Event(event.properties[index].name.clone()))
        }
        _ => Err(err(
            WbemStatus::InvalidQuery,
            format!("GROUP BY takes TargetInstance.Prop or an event property, not {p}"),
        )),
    }
}

impl Grouping {
    fn add(&mut self, event: Instance, now: Timestamp, ctx: &SystemContext) {
        let target = match event.get("TargetInstance") {
            Some(Value::Object(t)) => Some(t.as_ref()),
            _ => None,
        };
        let show = |v: Option<Value>| v.map_or_else(|| "NULL".to_owned(), |v| v.to_string());
        let key: Vec<String> = (self.by.iter())
            .map(|k| match k {
                GroupKey::Target(name) => show(target.and_then(|t| t.get(name.as_str()).cloned())),
                GroupKey::Event(name) => show(
                    (event.system_property(name.as_str(), ctx))
                        .or_else(|| event.get(name.as_str()).cloned()),
                ),
            })
            .collect();
        match self.open.iter_mut().find(|g| g.key == key) {
            Some(g) => g.count = g.count.saturating_add(1),
            None => self.open.push(Group {
                key,
                opened: now,
                count: 1,
                representative: event,
            }),
        }
    }
}

/// Whether `Status` says the element is starting or stopping (an ssh login between
/// authentication and its session request, or after its last process). Such an instance is
/// not there yet, or not any more, for events: a creation event reports the session once
/// its type is known, and a deletion event its last state as a running session.
fn in_transition(i: &Instance) -> bool {
    matches!(i.get("Status"), Some(Value::String(s)) if s == "Starting" || s == "Stopping")
}

fn set(inst: &mut Instance, name: &str, value: Value) {
    // The names are the schema's own (events.mof); a mismatch would be a schema bug that
    // every test shows, not a reason to fail at run time.
    let _ = inst.set(name, Some(value));
}

fn make_event(
    class: &Arc<ClassDef>,
    time: u64,
    target: &Instance,
    previous: Option<&Instance>,
) -> Instance {
    let mut e = Instance::new(class.clone());
    set(&mut e, "TIME_CREATED", Value::Uint64(time));
    set(
        &mut e,
        "TargetInstance",
        Value::Object(Box::new(target.clone())),
    );
    if let Some(p) = previous {
        set(
            &mut e,
            "PreviousInstance",
            Value::Object(Box::new(p.clone())),
        );
    }
    e
}

/// The event with only the properties the select list names (all for `SELECT *`).
fn project(mut event: Instance, columns: &Option<Vec<Name>>) -> Instance {
    if let Some(columns) = columns {
        for i in 0..event.class().properties.len() {
            let name = &event.class().properties[i].name;
            if !columns.iter().any(|n| n.is(name.as_str())) {
                event.set_at(i, None);
            }
        }
    }
    event
}
