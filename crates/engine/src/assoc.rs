//! `ASSOCIATORS OF` and `REFERENCES OF`, with WMI's semantics.
//!
//! An association instance *links* the source when one of its reference properties (the
//! source's role) points at the source; every other reference property of it (a result
//! role) then points at an associator. Results come once per linking association, so
//! duplicates are possible, as in WMI. `AssocClass` and `ResultClass` include subclasses.
//!
//! Cost: each candidate association class is enumerated once; the results are resolved by
//! enumerating each result class once and looking paths up in a hash map, so a session
//! with 10,000 processes costs two enumerations and 10,000 look-ups.

use crate::{Answer, Engine, EngineError, Wanted, resolve_keys};
use linmgmt_cim::{ClassDef, Instance, KeyValue, Name, ObjectPath, ScalarType, Value, WbemStatus};
use linmgmt_schema::Namespace;
use linmgmt_wql::AssocQuery;
use std::collections::HashMap;
use std::sync::Arc;

/// What an association query returns.
#[derive(Debug)]
pub enum AssocOutput {
    /// Instances (with `KeysOnly`, keys only).
    Instances(Vec<Instance>),
    /// Classes (`ClassDefsOnly`, `SchemaOnly`).
    Classes(Vec<Arc<ClassDef>>),
}

/// Keys as a canonical string: names and string values without case, in name order, so
/// that paths written differently (and naming a base class) compare equal.
pub(crate) fn key_string(path: &ObjectPath) -> String {
    let mut keys: Vec<String> = path
        .keys
        .iter()
        .map(|k| {
            let name = k
                .name
                .as_ref()
                .map_or(String::new(), |n| n.as_str().to_ascii_lowercase());
            let value = match &k.value {
                KeyValue::String(s) => format!("s{}", s.to_lowercase()),
                KeyValue::Integer(n) => format!("i{n}"),
                KeyValue::Boolean(b) => format!("b{b}"),
            };
            format!("{name}={value}")
        })
        .collect();
    keys.sort();
    keys.join("\u{1}")
}

/// The class a reference property may point to (`None`: any class).
fn reference_class(def: &ClassDef, index: usize) -> Option<Option<&str>> {
    match &def.properties[index].ty.scalar {
        ScalarType::Reference(class) => Some(class.as_ref().map(|c| c.as_str())),
        _ => None,
    }
}

/// Whether classes `a` and `b` are related (one derives from the other), so that a
/// reference to one can point at an instance of the other.
fn related(ns: &Namespace, a: &str, b: &str) -> bool {
    ns.is_a(a, b) || ns.is_a(b, a)
}

/// The reference properties (index, name) of an association class.
fn roles(def: &ClassDef) -> Vec<usize> {
    (0..def.properties.len())
        .filter(|&i| reference_class(def, i).is_some())
        .collect()
}

impl Engine {
    fn assoc_class_filter(
        &self,
        ns: &Namespace,
        q: &AssocQuery,
    ) -> Result<Vec<Arc<ClassDef>>, EngineError> {
        let mut out = Vec::new();
        for class in ns.classes() {
            if !class.is_association() {
                continue;
            }
            if let Some(ac) = &q.assoc_class
                && !class.is_a(ac.name.as_str())
            {
                continue;
            }
            if let Some(rq) = &q.required_assoc_qualifier
                && class.qualifier(rq.name.as_str()).is_none()
            {
                continue;
            }
            out.push(class.clone());
        }
        Ok(out)
    }

    fn check_classes(&self, ns: &Namespace, q: &AssocQuery) -> Result<(), EngineError> {
        for ident in [&q.assoc_class, &q.result_class].into_iter().flatten() {
            if ns.class(ident.name.as_str()).is_none() {
                let message = format!("no class {} in {}", ident.name, ns.name());
                return Err(
                    EngineError::new(WbemStatus::InvalidClass, message).with_span(ident.span)
                );
            }
        }
        Ok(())
    }

    /// `ASSOCIATORS OF {path} WHERE …`: the objects linked to the source.
    pub fn associators(
        &self,
        namespace: &str,
        q: &AssocQuery,
    ) -> Result<Answer<AssocOutput>, EngineError> {
        self.run_assoc(namespace, q, true, &Wanted::All)
    }

    /// `REFERENCES OF {path} WHERE …`: the association instances that point at the source.
    pub fn references(
        &self,
        namespace: &str,
        q: &AssocQuery,
    ) -> Result<Answer<AssocOutput>, EngineError> {
        self.run_assoc(namespace, q, false, &Wanted::All)
    }

    /// The objects linked to `q`'s source (`associators`) or the links themselves, of which
    /// the caller shows `shown`.
    pub(crate) fn run_assoc(
        &self,
        namespace: &str,
        q: &AssocQuery,
        associators: bool,
        shown: &Wanted,
    ) -> Result<Answer<AssocOutput>, EngineError> {
        let ns = self.namespace(namespace)?;
        let source_class = ns.class(q.path.node.class.as_str()).ok_or_else(|| {
            let message = format!("no class {} in {}", q.path.node.class, ns.name());
            EngineError::new(WbemStatus::InvalidClass, message).with_span(q.path.span)
        })?;
        self.check_classes(ns, q)?;
        let candidates = self.assoc_class_filter(ns, q)?;
        if q.path.node.is_class_path() {
            if !q.schema_only {
                return Err(EngineError::new(
                    WbemStatus::InvalidQuery,
                    format!(
                        "{{{}}} is a class path: add SchemaOnly, or give an instance path",
                        q.path.node
                    ),
                )
                .with_span(q.path.span));
            }
            return Ok(Answer {
                value: self.schema_assoc(ns, q, source_class, &candidates, associators),
                warnings: Vec::new(),
            });
        }
        if q.schema_only {
            return Err(EngineError::new(
                WbemStatus::InvalidQuery,
                "SchemaOnly needs a class path, e.g. {Win32_LogonSession}",
            )
            .with_span(q.path.span));
        }
        let source = resolve_keys(q.path.node.clone(), source_class)
            .map_err(|e| e.with_span(q.path.span))?;
        let mut warnings = Vec::new();
        // What is read of each class: the references of the associations (and, when the
        // links are what is shown, what of them is shown), and what is shown of the objects:
        // only their keys when only their names are.
        let names_only = q.keys_only || q.class_defs_only;
        let shown = if names_only {
            &Wanted::Only(Vec::new())
        } else {
            shown
        };
        let links_wanted = |class: &ClassDef| {
            let mut names: Vec<Name> = class.references().map(|p| p.name.clone()).collect();
            match shown {
                Wanted::All if !associators => return Wanted::All,
                Wanted::Only(list) if !associators => {
                    for name in list {
                        if !names.contains(name) {
                            names.push(name.clone());
                        }
                    }
                }
                _ => {}
            }
            Wanted::Only(names)
        };
        let targets_wanted = shown;
        // WMI answers WBEM_E_NOT_FOUND for a source that does not exist. (Asked whole: a
        // provider may read less for fewer properties, and what it reads first should serve
        // the links and far ends that follow.)
        let found = self.get_path(namespace, &source)?;
        warnings.extend(found.warnings);
        let source_class_name = found.value.class_name().clone();

        // Links: (association instance, index of the role pointing at the source).
        let mut links: Vec<(Instance, usize)> = Vec::new();
        for class in &candidates {
            let role_indexes: Vec<usize> = roles(class)
                .into_iter()
                .filter(|&i| {
                    q.role
                        .as_ref()
                        .is_none_or(|r| class.properties[i].name.is(r.name.as_str()))
                })
                .filter(|&i| {
                    reference_class(class, i)
                        .flatten()
                        .is_none_or(|rc| related(ns, rc, source_class_name.as_str()))
                })
                .collect();
            if role_indexes.is_empty() {
                continue;
            }
            let answer =
                self.instances_with(namespace, class.name.as_str(), false, &links_wanted(class))?;
            warnings.extend(answer.warnings);
            self.check_deadline()?;
            for inst in answer.value {
                let hit = role_indexes
                    .iter()
                    .copied()
                    .find(|&i| match inst.get_at(i) {
                        Some(Value::Reference(p)) => {
                            p.keys == source.keys
                                && related(ns, p.class.as_str(), source_class_name.as_str())
                        }
                        _ => false,
                    });
                if let Some(role) = hit {
                    links.push((inst, role));
                }
            }
        }

        if !associators {
            let mut out: Vec<Instance> = links
                .into_iter()
                .map(|(inst, _)| inst)
                .filter(|inst| {
                    q.result_class
                        .as_ref()
                        .is_none_or(|rc| inst.class().is_a(rc.name.as_str()))
                })
                .filter(|inst| {
                    q.required_qualifier
                        .as_ref()
                        .is_none_or(|rq| inst.class().qualifier(rq.name.as_str()).is_some())
                })
                .collect();
            if q.class_defs_only {
                return Ok(Answer {
                    value: AssocOutput::Classes(distinct_classes(&out)),
                    warnings,
                });
            }
            if q.keys_only {
                out = out.iter().map(Instance::keys_only).collect();
            }
            return Ok(Answer {
                value: AssocOutput::Instances(out),
                warnings,
            });
        }

        // Result paths, in link order, then resolved class by class.
        let mut targets: Vec<ObjectPath> = Vec::new();
        for (inst, role) in &links {
            for i in roles(inst.class()) {
                if i == *role {
                    continue;
                }
                if let Some(rr) = &q.result_role
                    && !inst.class().properties[i].name.is(rr.name.as_str())
                {
                    continue;
                }
                if let Some(Value::Reference(p)) = inst.get_at(i) {
                    targets.push((**p).clone());
                }
            }
        }
        // How often each target is still to come: the last use moves the instance out of
        // the look-up table instead of cloning it.
        let target_keys: Vec<String> = targets.iter().map(key_string).collect();
        let mut remaining: HashMap<&str, usize> = HashMap::new();
        for k in &target_keys {
            *remaining.entry(k.as_str()).or_insert(0) += 1;
        }
        let mut resolved: HashMap<String, HashMap<String, Instance>> = HashMap::new();
        let mut out = Vec::new();
        for (target, key) in targets.iter().zip(&target_keys) {
            let class_key = target.class.as_str().to_ascii_lowercase();
            if !resolved.contains_key(&class_key) {
                let by_key = match self.instances_with(
                    namespace,
                    target.class.as_str(),
                    true,
                    targets_wanted,
                ) {
                    Ok(answer) => {
                        warnings.extend(answer.warnings);
                        answer
                            .value
                            .into_iter()
                            .filter_map(|i| i.path().map(|p| (key_string(&p), i)))
                            .collect()
                    }
                    Err(_) => HashMap::new(),
                };
                resolved.insert(class_key.clone(), by_key);
            }
            let left = remaining.get_mut(key.as_str()).map(|n| {
                *n -= 1;
                *n
            });
            let table = resolved.get_mut(&class_key).expect("inserted above");
            let inst = if left == Some(0) {
                table.remove(key)
            } else {
                table.get(key).cloned()
            };
            let Some(inst) = inst else {
                continue;
            };
            if q.result_class
                .as_ref()
                .is_some_and(|rc| !inst.class().is_a(rc.name.as_str()))
            {
                continue;
            }
            if q.required_qualifier
                .as_ref()
                .is_some_and(|rq| inst.class().qualifier(rq.name.as_str()).is_none())
            {
                continue;
            }
            out.push(if q.keys_only { inst.keys_only() } else { inst });
        }
        if q.class_defs_only {
            return Ok(Answer {
                value: AssocOutput::Classes(distinct_classes(&out)),
                warnings,
            });
        }
        Ok(Answer {
            value: AssocOutput::Instances(out),
            warnings,
        })
    }

    /// The schema form: association classes (REFERENCES) or the classes at their other
    /// ends (ASSOCIATORS) for a class path with `SchemaOnly`. Duplicates are possible.
    fn schema_assoc(
        &self,
        ns: &Namespace,
        q: &AssocQuery,
        source: &Arc<ClassDef>,
        candidates: &[Arc<ClassDef>],
        associators: bool,
    ) -> AssocOutput {
        let mut out = Vec::new();
        for assoc in candidates {
            let all_roles = roles(assoc);
            for &role in &all_roles {
                if q.role
                    .as_ref()
                    .is_some_and(|r| !assoc.properties[role].name.is(r.name.as_str()))
                {
                    continue;
                }
                if reference_class(assoc, role)
                    .flatten()
                    .is_some_and(|rc| !related(ns, rc, source.name.as_str()))
                {
                    continue;
                }
                if !associators {
                    if q.result_class
                        .as_ref()
                        .is_none_or(|rc| assoc.is_a(rc.name.as_str()))
                    {
                        out.push(assoc.clone());
                    }
                    continue;
                }
                for &other in all_roles.iter().filter(|&&i| i != role) {
                    if q.result_role
                        .as_ref()
                        .is_some_and(|rr| !assoc.properties[other].name.is(rr.name.as_str()))
                    {
                        continue;
                    }
                    let Some(target) = reference_class(assoc, other)
                        .flatten()
                        .and_then(|c| ns.class(c))
                    else {
                        continue;
                    };
                    if q.result_class
                        .as_ref()
                        .is_none_or(|rc| target.is_a(rc.name.as_str()))
                    {
                        out.push(target.clone());
                    }
                }
            }
        }
        AssocOutput::Classes(out)
    }
}

fn distinct_classes(instances: &[Instance]) -> Vec<Arc<ClassDef>> {
    let mut out: Vec<Arc<ClassDef>> = Vec::new();
    for i in instances {
        if !out.iter().any(|c| c.name == i.class().name) {
            out.push(i.class().clone());
        }
    }
    out
}
