//! Parsing and resolving MOF into namespaces of classes ([`Repository::from_files`]), and
//! the compact form the build script stores the built-in schema in ([`Compiled`]). Used by
//! the library and, through `#[path]`, by `build.rs`: nothing here names this crate.

use linmgmt_cim::{
    ClassDef, Instance, Name, ObjectPath, QualifierDecl, ResolveError, ScalarType, WbemStatus,
    resolve_class,
};
use linmgmt_mof::{Entry, Item, MofError, MofErrorKind, ParseConfig, instantiate, parse};
use std::collections::HashMap;
use std::sync::Arc;

/// The namespace a root file starts in before its `#pragma namespace`.
const DEFAULT_NAMESPACE: &str = "root/cimv2";

/// Why the schema cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A MOF error (syntax, types) or a class that does not resolve, with its position.
    #[error(transparent)]
    Mof(#[from] MofError),
    /// A root file that is not among the files given.
    #[error("no schema file {0}")]
    MissingFile(String),
    /// The schema compiled into the binary does not decode (a build fault).
    #[error("the compiled schema does not decode: {0}")]
    Compiled(String),
}

impl SchemaError {
    /// The WMI status for the error.
    pub fn status(&self) -> WbemStatus {
        match self {
            SchemaError::Mof(e) => e.status(),
            SchemaError::MissingFile(_) => WbemStatus::NotFound,
            SchemaError::Compiled(_) => WbemStatus::Failed,
        }
    }
}

/// One namespace: its qualifier declarations, classes and static instances.
#[derive(Clone, Debug)]
pub struct Namespace {
    name: String,
    classes: Vec<Arc<ClassDef>>,
    /// Lowercase class name → index in `classes`.
    index: HashMap<String, usize>,
    qualifiers: Vec<QualifierDecl>,
    instances: Vec<Instance>,
    /// Instance aliases (`as $x`) → their paths, for later `$x` references.
    aliases: HashMap<Name, ObjectPath>,
}

impl Namespace {
    fn new(name: &str) -> Namespace {
        Namespace {
            name: name.to_owned(),
            classes: Vec::new(),
            index: HashMap::new(),
            qualifiers: Vec::new(),
            instances: Vec::new(),
            aliases: HashMap::new(),
        }
    }

    /// The namespace's name, `/`-separated (`root/cimv2`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A class by name, ignoring case.
    pub fn class(&self, name: &str) -> Option<&Arc<ClassDef>> {
        self.index
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.classes[i])
    }

    /// Every class, in definition order (a class always comes after its superclass).
    pub fn classes(&self) -> impl ExactSizeIterator<Item = &Arc<ClassDef>> {
        self.classes.iter()
    }

    /// The subclasses of `name`: direct ones only, or (`deep`) all descendants; in
    /// definition order, without the class itself. Empty for an unknown class.
    pub fn subclasses(&self, name: &str, deep: bool) -> Vec<&Arc<ClassDef>> {
        self.classes
            .iter()
            .filter(|c| {
                if deep {
                    c.derivation.iter().any(|d| d.is(name))
                } else {
                    c.superclass.as_ref().is_some_and(|s| s.is(name))
                }
            })
            .collect()
    }

    /// Whether `class` is `ancestor` or derives from it; false if `class` is unknown.
    pub fn is_a(&self, class: &str, ancestor: &str) -> bool {
        self.class(class).is_some_and(|c| c.is_a(ancestor))
    }

    /// A qualifier declaration by name, ignoring case.
    pub fn qualifier_decl(&self, name: &str) -> Option<&QualifierDecl> {
        self.qualifiers.iter().find(|q| q.name.is(name))
    }

    /// Every qualifier declaration, in definition order.
    pub fn qualifier_decls(&self) -> &[QualifierDecl] {
        &self.qualifiers
    }

    /// The static instances (`instance of` in the MOF), in definition order.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    fn add_class(&mut self, entry: &Entry, class: &linmgmt_cim::Class) -> Result<(), MofError> {
        let key = class.name.as_str().to_ascii_lowercase();
        if self.index.contains_key(&key) {
            return Err(entry.error(
                MofErrorKind::DuplicateClass,
                format!("class {} is already defined in {}", class.name, self.name),
            ));
        }
        let parent = match &class.superclass {
            None => None,
            Some(s) => Some(self.class(s.as_str()).ok_or_else(|| {
                entry.error(
                    MofErrorKind::UnknownClass,
                    format!(
                        "class {}: superclass {s} is not defined in {} (define it first)",
                        class.name, self.name
                    ),
                )
            })?),
        };
        let def = resolve_class(Arc::new(class.clone()), parent.map(|p| &**p), &self.name)
            .map_err(|e| entry.error(resolve_kind(&e), e.to_string()))?;
        self.index.insert(key, self.classes.len());
        self.classes.push(Arc::new(def));
        Ok(())
    }

    fn add_instance(
        &mut self,
        entry: &Entry,
        spec: &linmgmt_mof::InstanceSpec,
    ) -> Result<(), MofError> {
        let class = self.class(spec.class.as_str()).cloned().ok_or_else(|| {
            entry.error(
                MofErrorKind::UnknownClass,
                format!("instance of {}: no such class in {}", spec.class, self.name),
            )
        })?;
        let instance = instantiate(spec, class, &self.aliases)?;
        if let Some(alias) = &spec.alias
            && let Some(path) = instance.path()
        {
            self.aliases.insert(Name::new(alias.as_str()), path);
        }
        self.instances.push(instance);
        Ok(())
    }
}

fn resolve_kind(e: &ResolveError) -> MofErrorKind {
    match e {
        ResolveError::MissingSuperclass { .. } => MofErrorKind::UnknownClass,
        _ => MofErrorKind::Resolution,
    }
}

/// The class repository: every namespace of the schema.
#[derive(Clone, Debug)]
pub struct Repository {
    namespaces: Vec<Namespace>,
}

/// A repository as the build script stores it: each namespace's name, resolved classes
/// and qualifier declarations. Static instances are not kept: the built-in schema has
/// none (the build script checks).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Compiled {
    namespaces: Vec<(String, Vec<ClassDef>, Vec<QualifierDecl>)>,
}

impl Repository {
    /// The repository's compact form; `None` if it has static instances.
    #[cfg_attr(not(test), allow(dead_code))] // for build.rs and the tests
    pub(crate) fn to_compiled(&self) -> Option<Compiled> {
        let namespaces = (self.namespaces.iter())
            .map(|ns| {
                let classes = ns.classes.iter().map(|c| (**c).clone()).collect();
                ns.instances
                    .is_empty()
                    .then(|| (ns.name.clone(), classes, ns.qualifiers.clone()))
            })
            .collect::<Option<_>>()?;
        Some(Compiled { namespaces })
    }

    /// The repository back from its compact form.
    pub(crate) fn from_compiled(compiled: Compiled) -> Repository {
        let namespaces = (compiled.namespaces.into_iter())
            .map(|(name, classes, qualifiers)| {
                let mut ns = Namespace::new(&name);
                for class in classes {
                    (ns.index).insert(class.name.as_str().to_ascii_lowercase(), ns.classes.len());
                    ns.classes.push(Arc::new(class));
                }
                ns.qualifiers = qualifiers;
                ns
            })
            .collect();
        Repository { namespaces }
    }
}

/// `\\.\ROOT\cimv2` or `root/cimv2/` → `root/cimv2` (case kept).
fn normalize(ns: &str) -> String {
    linmgmt_cim::NamespaceName::new(ns).into()
}

impl Repository {
    /// A repository from MOF text: `files` are (relative path, text) pairs, `roots` the
    /// paths to compile (each starts in `root/cimv2`; the rest are reached by
    /// `#pragma include`, relative to the including file).
    pub fn from_files(
        files: &[(impl AsRef<str>, impl AsRef<str>)],
        roots: &[&str],
    ) -> Result<Repository, SchemaError> {
        let lookup: HashMap<&str, &str> = files
            .iter()
            .map(|(p, t)| (p.as_ref(), t.as_ref()))
            .collect();
        let include = |path: &str| lookup.get(path).map(|t| (*t).to_owned());
        let config = ParseConfig {
            namespace: DEFAULT_NAMESPACE,
            include: &include,
        };
        let mut repo = Repository {
            namespaces: Vec::new(),
        };
        let mut entries = Vec::new();
        for root in roots {
            let text = lookup
                .get(root)
                .ok_or_else(|| SchemaError::MissingFile((*root).to_owned()))?;
            entries.extend(parse(root, text, &config)?);
        }
        for entry in &entries {
            let ns = repo.namespace_mut(&entry.namespace);
            match &entry.item {
                Item::Qualifier(decl) => {
                    match ns.qualifiers.iter_mut().find(|q| q.name == decl.name) {
                        Some(old) => *old = decl.clone(),
                        None => ns.qualifiers.push(decl.clone()),
                    }
                }
                Item::Class(class) => ns.add_class(entry, class)?,
                Item::Instance(spec) => ns.add_instance(entry, spec)?,
            }
        }
        repo.check_references(&entries)?;
        Ok(repo)
    }

    fn namespace_mut(&mut self, name: &str) -> &mut Namespace {
        let name = normalize(name);
        match self
            .namespaces
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(&name))
        {
            Some(i) => &mut self.namespaces[i],
            None => {
                self.namespaces.push(Namespace::new(&name));
                self.namespaces.last_mut().expect("just pushed")
            }
        }
    }

    /// Every reference property must name a class of its namespace. (Narrowing is not
    /// enforced: WMI's own Win32_SessionProcess swaps its parent's roles.)
    fn check_references(&self, entries: &[Entry]) -> Result<(), MofError> {
        for entry in entries {
            let Item::Class(class) = &entry.item else {
                continue;
            };
            let Some(ns) = self.namespace(&entry.namespace) else {
                continue;
            };
            let refs = class.properties.iter().map(|p| (&p.name, &p.ty)).chain(
                class
                    .methods
                    .iter()
                    .flat_map(|m| m.parameters.iter().map(|p| (&p.name, &p.ty))),
            );
            for (name, ty) in refs {
                if let ScalarType::Reference(Some(target)) = &ty.scalar
                    && ns.class(target.as_str()).is_none()
                {
                    return Err(entry.error(
                        MofErrorKind::UnknownClass,
                        format!(
                            "class {}: {name} refers to class {target}, which {} does not define",
                            class.name, ns.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A namespace by name: `root/cimv2`, `root\cimv2`, `ROOT/CIMV2`, `interop`.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        let name = normalize(name);
        self.namespaces
            .iter()
            .find(|n| n.name.eq_ignore_ascii_case(&name))
    }

    /// Instances from MOF text (`instance of` blocks only) against this repository's
    /// classes, without adding them to it: for in-memory providers and tests.
    pub fn instantiate(
        &self,
        namespace: &str,
        file: &str,
        text: &str,
    ) -> Result<Vec<Instance>, SchemaError> {
        let no_includes = |_: &str| None;
        let config = ParseConfig {
            namespace,
            include: &no_includes,
        };
        let mut aliases = HashMap::new();
        let mut instances = Vec::new();
        for entry in parse(file, text, &config)? {
            let Item::Instance(spec) = &entry.item else {
                return Err(entry
                    .error(
                        MofErrorKind::Resolution,
                        "only `instance of` blocks are allowed here",
                    )
                    .into());
            };
            let class = self
                .namespace(&entry.namespace)
                .and_then(|ns| ns.class(spec.class.as_str()))
                .cloned()
                .ok_or_else(|| {
                    entry.error(
                        MofErrorKind::UnknownClass,
                        format!(
                            "instance of {}: no such class in {}",
                            spec.class, entry.namespace
                        ),
                    )
                })?;
            let instance = instantiate(spec, class, &aliases)?;
            if let (Some(alias), Some(path)) = (&spec.alias, instance.path()) {
                aliases.insert(Name::new(alias.as_str()), path);
            }
            instances.push(instance);
        }
        Ok(instances)
    }

    /// Every namespace, in the order the schema first names them.
    pub fn namespaces(&self) -> impl ExactSizeIterator<Item = &Namespace> {
        self.namespaces.iter()
    }
}
