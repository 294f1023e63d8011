//! The object manager core: it knows the namespaces and their classes, asks providers for
//! instances, and runs WQL over them.
//!
//! The engine is synchronous and does no I/O of its own: providers do (the Linux ones
//! through `linmgmt-sources`), and the server calls the engine from blocking tasks.
//!
//! A data query runs in four steps: *resolve* the FROM class, *collect* instances of it and
//! of its subclasses from the providers, *filter* them with the compiled WHERE clause, and
//! *project* the select list.

mod assoc;
mod error;
mod keys;
mod memory;
mod provider;

pub use assoc::AssocOutput;
pub use error::EngineError;
pub(crate) use keys::resolve_keys;
pub use memory::MemoryProvider;
pub use provider::{Ask, Provider, Wanted, Warning};

use linmgmt_cim::{
    ClassDef, Instance, KeyBinding, KeyValue, Name, ObjectPath, ScalarType, SystemContext,
    WbemStatus,
};
use linmgmt_schema::{Namespace, Repository};
use linmgmt_wql::{
    Column, CompareOp, CompileOptions, Expr, Filter, Literal, MetaFilter, Projection, SelectQuery,
    Statement,
};
use std::sync::Arc;
use std::time::Instant;

/// The default namespace of queries, as in WMI.
pub const DEFAULT_NAMESPACE: &str = "root/cimv2";

/// What to show: instances and which of their properties.
#[derive(Clone, Debug)]
pub struct ResultSet {
    /// The properties to show, in order (may include system properties such as `__PATH`).
    /// Table and CSV use exactly these columns.
    pub columns: Vec<Name>,
    /// Whether the query selected `*`: list, JSON, MOF and XML then show every property
    /// of each instance's own class, which for a subclass may be more than `columns`.
    pub all_properties: bool,
    /// The instances, in output order.
    pub instances: Vec<Instance>,
}

/// What a query returns.
#[derive(Debug)]
pub enum QueryOutput {
    /// Instances (data queries).
    Instances(ResultSet),
    /// Classes (schema queries).
    Classes(Vec<Arc<ClassDef>>),
}

/// A result and the warnings gathered while producing it (partial results).
#[derive(Debug)]
pub struct Answer<T> {
    /// The result.
    pub value: T,
    /// One entry per cause of missing data.
    pub warnings: Vec<Warning>,
}

/// The object manager: schema, providers and the context of this host. Cheap to clone
/// (the schema and providers are shared).
#[derive(Clone)]
pub struct Engine {
    repository: Arc<Repository>,
    providers: Vec<Arc<dyn Provider>>,
    context: SystemContext,
    compile: CompileOptions,
    /// When a request must be answered by: long loops check it and give up with
    /// `WBEM_E_TIMED_OUT` (the server's per-request deadline; none in the CLI).
    deadline: Option<Instant>,
}

impl Engine {
    /// An engine over a class repository, for the host named in `context`.
    pub fn new(
        repository: Arc<Repository>,
        context: SystemContext,
        compile: CompileOptions,
    ) -> Self {
        Engine {
            repository,
            providers: Vec::new(),
            context,
            compile,
            deadline: None,
        }
    }

    /// This engine, giving up with `WBEM_E_TIMED_OUT` once `deadline` has passed.
    pub fn with_deadline(&self, deadline: Instant) -> Engine {
        Engine {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    /// `WBEM_E_TIMED_OUT` once the deadline has passed. Evaluation calls it between
    /// instances, so that no query (a LIKE over long strings, a large association walk)
    /// runs past its request's deadline.
    pub fn check_deadline(&self) -> Result<(), EngineError> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(EngineError::new(
                WbemStatus::TimedOut,
                "the request ran out of time (the server's request deadline); narrow the \
                 query or ask for fewer instances",
            )),
            _ => Ok(()),
        }
    }

    /// Adds a provider; it serves the classes it names.
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        self.providers.push(provider);
    }

    /// The class repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The host context (server name for paths).
    pub fn context(&self) -> &SystemContext {
        &self.context
    }

    /// A namespace, or `WBEM_E_INVALID_NAMESPACE`.
    pub fn namespace(&self, name: &str) -> Result<&Namespace, EngineError> {
        self.repository.namespace(name).ok_or_else(|| {
            EngineError::new(WbemStatus::InvalidNamespace, format!("no namespace {name}"))
        })
    }

    /// A class, or `WBEM_E_INVALID_CLASS`.
    pub fn class(&self, namespace: &str, name: &str) -> Result<&Arc<ClassDef>, EngineError> {
        let ns = self.namespace(namespace)?;
        ns.class(name).ok_or_else(|| {
            EngineError::new(
                WbemStatus::InvalidClass,
                format!("no class {name} in {}", ns.name()),
            )
        })
    }

    /// Every instance of `class` and (when `deep`) of its subclasses, from the providers.
    pub fn instances(
        &self,
        namespace: &str,
        class: &str,
        deep: bool,
    ) -> Result<Answer<Vec<Instance>>, EngineError> {
        self.instances_with(namespace, class, deep, &Wanted::All)
    }

    /// [`Engine::instances`] with only the `wanted` properties (and the keys) sure to be
    /// filled: for a caller that shows no others (CIM-XML's `PropertyList`, names only).
    pub fn instances_with(
        &self,
        namespace: &str,
        class: &str,
        deep: bool,
        wanted: &Wanted,
    ) -> Result<Answer<Vec<Instance>>, EngineError> {
        self.collect(namespace, class, deep, |provider, class, out, warnings| {
            provider.instances(class, Ask { wanted, keys: &[] }, out, warnings)
        })
    }

    /// What each provider of `class` (and, when `deep`, of its subclasses) gives `ask`.
    fn collect(
        &self,
        namespace: &str,
        class: &str,
        deep: bool,
        ask: impl Fn(&dyn Provider, &Arc<ClassDef>, &mut Vec<Instance>, &mut Vec<Warning>),
    ) -> Result<Answer<Vec<Instance>>, EngineError> {
        let ns = self.namespace(namespace)?;
        let root = self.class(namespace, class)?;
        let mut classes = vec![root];
        if deep {
            classes.extend(ns.subclasses(root.name.as_str(), true));
        }
        let mut instances = Vec::new();
        let mut warnings = Vec::new();
        for class in classes {
            for provider in &self.providers {
                if provider.serves(ns.name(), &class.name) {
                    self.check_deadline()?;
                    ask(provider.as_ref(), class, &mut instances, &mut warnings);
                }
            }
        }
        Ok(Answer {
            value: instances,
            warnings,
        })
    }

    /// Runs a WQL query in a namespace.
    pub fn query(&self, namespace: &str, text: &str) -> Result<Answer<QueryOutput>, EngineError> {
        self.query_showing(namespace, text, &Wanted::All)
    }

    /// [`Engine::query`], for a caller that shows only `shown` of the objects an
    /// `ASSOCIATORS OF` or `REFERENCES OF` finds (CIM-XML's `PropertyList`): providers are
    /// asked only for those, the keys and what the association itself reads, and may leave
    /// the other properties NULL. A `SELECT`'s own list decides what it reads.
    pub fn query_showing(
        &self,
        namespace: &str,
        text: &str,
        shown: &Wanted,
    ) -> Result<Answer<QueryOutput>, EngineError> {
        let statement = linmgmt_wql::parse(text).map_err(EngineError::from_wql)?;
        match statement {
            Statement::Select(q) if q.is_meta_class() => self.schema_query(namespace, &q),
            Statement::Select(q) => self.data_query(namespace, &q),
            Statement::Associators(q) => {
                Ok(assoc_output(self.run_assoc(namespace, &q, true, shown)?))
            }
            Statement::References(q) => {
                Ok(assoc_output(self.run_assoc(namespace, &q, false, shown)?))
            }
            Statement::Event(q) => {
                let ns = self.namespace(namespace)?;
                let class = ns.class(q.from.name.as_str()).ok_or_else(|| {
                    EngineError::new(
                        WbemStatus::InvalidClass,
                        format!("no class {} in {}", q.from.name, ns.name()),
                    )
                    .with_span(q.from.span)
                })?;
                if !class.is_a("__Event") {
                    return Err(EngineError::new(
                        WbemStatus::NotEventClass,
                        format!("{} is not an event class", q.from.name),
                    )
                    .with_span(q.from.span));
                }
                Err(EngineError::new(
                    WbemStatus::InvalidQueryType,
                    "event queries are delivered by `linmgmt watch`, not `query`",
                ))
            }
        }
    }

    fn schema_query(
        &self,
        namespace: &str,
        q: &SelectQuery,
    ) -> Result<Answer<QueryOutput>, EngineError> {
        let ns = self.namespace(namespace)?;
        let filter = MetaFilter::compile(q.where_clause.as_ref(), &self.compile)
            .map_err(EngineError::from_wql)?;
        let classes = ns
            .classes()
            .filter(|c| filter.matches_class(c, &self.context))
            .cloned()
            .collect();
        Ok(Answer {
            value: QueryOutput::Classes(classes),
            warnings: Vec::new(),
        })
    }

    fn data_query(
        &self,
        namespace: &str,
        q: &SelectQuery,
    ) -> Result<Answer<QueryOutput>, EngineError> {
        // An unknown namespace is not the class name's fault: no span for it.
        self.namespace(namespace)?;
        let class = self
            .class(namespace, q.from.name.as_str())
            .map_err(|e| e.with_span(q.from.span))?
            .clone();
        let filter = Filter::compile(q.where_clause.as_ref(), &class, &self.compile)
            .map_err(EngineError::from_wql)?;
        let projection = Projection::compile(q, &class).map_err(EngineError::from_wql)?;
        // A WHERE clause that names the one instance by its key asks providers for it
        // alone; the filter below still decides.
        let Answer {
            value: all,
            warnings,
        } = {
            let keys = pinned_key(q, &class).unwrap_or_default();
            let wanted = wanted(q, &projection);
            let ask = Ask {
                wanted: &wanted,
                keys: &keys,
            };
            self.collect(namespace, class.name.as_str(), true, |p, c, out, w| {
                p.instances(c, ask, out, w)
            })?
        };
        let selected: Vec<usize> = projection
            .columns
            .iter()
            .filter_map(|c| match c {
                Column::Property { index, .. } => Some(*index),
                Column::System(_) => None,
            })
            .collect();
        let mut instances = Vec::new();
        for i in all {
            // Per instance: one can be expensive (a LIKE over a megabyte of command line),
            // and a clock read costs nanoseconds.
            self.check_deadline()?;
            if filter.matches(&i, &self.context) {
                instances.push(if projection.all {
                    i
                } else {
                    project(&i, &selected)
                });
            }
        }
        let columns = projection
            .columns
            .into_iter()
            .map(|c| match c {
                Column::Property { name, .. } | Column::System(name) => name,
            })
            .collect();
        let set = ResultSet {
            columns,
            all_properties: projection.all,
            instances,
        };
        Ok(Answer {
            value: QueryOutput::Instances(set),
            warnings,
        })
    }

    /// The instance at `path`, or `WBEM_E_NOT_FOUND`.
    pub fn get(&self, namespace: &str, path: &str) -> Result<Answer<Instance>, EngineError> {
        let path: ObjectPath = path.parse().map_err(EngineError::from_path)?;
        self.get_path(namespace, &path)
    }

    /// The instance at a parsed path (its namespace, if any, wins over `namespace`).
    pub fn get_path(
        &self,
        namespace: &str,
        path: &ObjectPath,
    ) -> Result<Answer<Instance>, EngineError> {
        let namespace = path.namespace.as_deref().unwrap_or(namespace);
        let class = self.class(namespace, path.class.as_str())?.clone();
        if path.is_class_path() {
            return Err(EngineError::new(
                WbemStatus::InvalidObjectPath,
                format!(
                    "{path} names a class; give its keys, e.g. {}",
                    example_path(&class)
                ),
            ));
        }
        let path = resolve_keys(path.clone(), &class)?;
        let wanted = assoc::key_string(&relative_references(&path, &class));
        // Providers that can find it by its keys build only it.
        let Answer {
            value: all,
            warnings,
        } = self.collect(namespace, class.name.as_str(), true, |p, class, out, w| {
            let ask = Ask {
                wanted: &Wanted::All,
                keys: &path.keys,
            };
            p.instances(class, ask, out, w)
        })?;
        // A path naming a base class finds the subclass instance with the same keys, as in WMI.
        let found = all.into_iter().find(|i| {
            i.path()
                .is_some_and(|p| assoc::key_string(&relative_references(&p, i.class())) == wanted)
        });
        match found {
            Some(value) => Ok(Answer { value, warnings }),
            None => Err(EngineError::new(
                WbemStatus::NotFound,
                format!("no instance {path}"),
            )),
        }
    }
}

/// The key a query's WHERE clause pins down: `Key = 'text'`, as the whole clause or one of
/// its top-level ANDs, for a class whose only key is that string property.
fn pinned_key(q: &SelectQuery, class: &ClassDef) -> Option<Vec<KeyBinding>> {
    let mut keys = class.keys();
    let key = keys.next()?;
    if keys.next().is_some() || key.ty.array || key.ty.scalar != ScalarType::String {
        return None;
    }
    let clause = q.where_clause.as_ref()?;
    let conjuncts = match clause {
        Expr::And(all) => all.as_slice(),
        one => std::slice::from_ref(one),
    };
    conjuncts.iter().find_map(|e| match e {
        Expr::Compare {
            property,
            op,
            value,
        } if op.node == CompareOp::Eq
            && !property.is_dotted()
            && property.parts.first().is_some_and(|p| p.name == key.name) =>
        {
            match &value.node {
                Literal::String(text) => Some(vec![KeyBinding {
                    name: Some(key.name.clone()),
                    value: KeyValue::String(text.clone()),
                }]),
                _ => None,
            }
        }
        _ => None,
    })
}

/// What a query reads: every property for `SELECT *`, else the selected ones and those its
/// WHERE clause tests.
fn wanted(q: &SelectQuery, projection: &Projection) -> Wanted {
    if projection.all {
        return Wanted::All;
    }
    let mut names: Vec<Name> = (projection.columns.iter())
        .filter_map(|c| match c {
            Column::Property { name, .. } => Some(name.clone()),
            Column::System(_) => None,
        })
        .collect();
    if let Some(clause) = &q.where_clause {
        clause.for_each_property(&mut |p| {
            if let Some(first) = p.parts.first()
                && !names.iter().any(|n| n.is(first.name.as_str()))
            {
                names.push(first.name.clone());
            }
        });
    }
    Wanted::Only(names)
}

/// `path` with its reference keys written as relative paths: a reference names the same
/// object with or without its host and namespace (`Win32_LogonSession.LogonId="4"` and
/// `\\host\root\cimv2:Win32_LogonSession.LogonId="4"`), as `ObjectPath::same_object` says.
fn relative_references(path: &ObjectPath, class: &ClassDef) -> ObjectPath {
    let mut out = path.clone();
    for binding in &mut out.keys {
        let is_reference = binding
            .name
            .as_ref()
            .and_then(|n| class.property(n.as_str()))
            .is_some_and(|p| matches!(p.ty.scalar, ScalarType::Reference(_)));
        if let (true, KeyValue::String(text)) = (is_reference, &binding.value)
            && let Ok(target) = text.parse::<ObjectPath>()
        {
            binding.value = KeyValue::String(target.relative().to_string());
        }
    }
    out
}

/// Association results as query output: instances of possibly several classes, shown
/// with the union of their properties.
fn assoc_output(answer: Answer<AssocOutput>) -> Answer<QueryOutput> {
    let value = match answer.value {
        AssocOutput::Classes(classes) => QueryOutput::Classes(classes),
        AssocOutput::Instances(instances) => {
            let mut classes: Vec<&Arc<ClassDef>> = Vec::new();
            for inst in &instances {
                if !classes.iter().any(|c| Arc::ptr_eq(c, inst.class())) {
                    classes.push(inst.class());
                }
            }
            let mut columns: Vec<Name> = Vec::new();
            for p in classes.iter().flat_map(|c| &c.properties) {
                if !columns.contains(&p.name) {
                    columns.push(p.name.clone());
                }
            }
            QueryOutput::Instances(ResultSet {
                columns,
                all_properties: true,
                instances,
            })
        }
    };
    Answer {
        value,
        warnings: answer.warnings,
    }
}

/// Keeps the selected properties and the keys (which WMI always returns, so that
/// `__PATH` stays valid); the rest become NULL.
fn project(inst: &Instance, selected: &[usize]) -> Instance {
    let mut out = inst.keys_only();
    for &index in selected {
        out.set_at(index, inst.get_at(index).cloned());
    }
    out
}

fn join(names: &[&Name]) -> String {
    names
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn example_path(class: &ClassDef) -> String {
    let keys: Vec<String> = class
        .keys()
        .map(|k| format!(r#"{}="...""#, k.name))
        .collect();
    format!("{}.{}", class.name, keys.join(","))
}
