//! The CIM-XML front end: a decoded `linmgmt_cimxml::Request` in, the operations of
//! [`crate::ops`] run, their typed results encoded with `linmgmt-cimxml`, a response body
//! out. The CIM-XML specifics live here: intrinsic parameters and flags, the pull shapes,
//! CIM status codes.

use crate::ops::{self, Found, LooseKey, LooseName, OpError, Source};
use crate::pull::{ContextError, Enumerations, PageSize, Refusal, Shape};
use crate::users::Identity;
use linmgmt_cim::{ClassDef, Instance};
use linmgmt_cimxml::{
    self as cimxml, AssociationKind, CimStatus, ClassOptions, Failure, InstanceFlags, InstanceName,
    InstanceOptions, KeyText, ObjectName, OpenParams, Operation, PullShape, Request,
};
use linmgmt_engine::Engine;
use std::time::Duration;

/// What an operation runs against.
pub struct OpContext<'a> {
    /// The engine this client may use.
    pub engine: &'a Engine,
    /// Who asks.
    pub identity: &'a Identity,
    /// Open enumerations (pull operations).
    pub enumerations: &'a Enumerations,
}

/// How an operation went, for the log line.
pub struct Outcome {
    /// The response body.
    pub body: String,
    /// The CIM status (0 for success).
    pub status: u16,
    /// Warnings about partial results.
    pub warnings: usize,
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Failure {
        Failure::new(CimStatus::from_wbem(e.status), e.message)
    }
}

impl From<ContextError> for Failure {
    fn from(e: ContextError) -> Failure {
        let status = match e.kind {
            Refusal::Invalid => CimStatus::InvalidEnumerationContext,
            Refusal::Limits | Refusal::TooLarge => CimStatus::ServerLimitsExceeded,
            Refusal::Timeout => CimStatus::InvalidOperationTimeout,
            Refusal::Shape => CimStatus::InvalidParameter,
        };
        Failure::new(status, e.message)
    }
}

/// Runs one request.
pub fn execute(req: &Request, ctx: &OpContext<'_>) -> Outcome {
    let mut warnings = 0;
    let result = match &req.operation {
        Ok(op) => run(op, &req.namespace, ctx, &mut warnings),
        Err(f) => Err(f.clone()),
    };
    match result {
        Ok(body) => Outcome {
            body: cimxml::response(&req.message_id, &req.method, &body),
            status: 0,
            warnings,
        },
        Err(f) => Outcome {
            body: cimxml::error_response(
                &req.message_id,
                &req.method,
                req.intrinsic,
                f.status,
                &f.message,
            ),
            status: f.status.code(),
            warnings,
        },
    }
}

fn loose(name: &InstanceName) -> LooseName {
    LooseName {
        namespace: name.namespace.clone(),
        class: name.class.clone(),
        keys: name
            .keys
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    KeyText::Value { text, .. } => LooseKey::Text(text.clone()),
                    KeyText::Reference(inner) => LooseKey::Reference(loose(inner)),
                };
                (k.clone(), value)
            })
            .collect(),
    }
}

fn source(object: &ObjectName) -> Source {
    match object {
        ObjectName::Class(c) => Source::Class(c.clone()),
        ObjectName::Instance(name) => Source::Instance(loose(name)),
    }
}

fn association_filter(
    f: &cimxml::AssociationFilter,
    names_only: bool,
    flags: &InstanceFlags,
) -> ops::AssociationFilter {
    ops::AssociationFilter {
        assoc_class: f.assoc_class.clone(),
        result_class: f.result_class.clone(),
        role: f.role.clone(),
        result_role: f.result_role.clone(),
        names_only,
        properties: flags.property_list.clone(),
    }
}

fn association_kind(kind: AssociationKind) -> ops::AssociationKind {
    match kind {
        AssociationKind::Associators => ops::AssociationKind::Associators,
        AssociationKind::References => ops::AssociationKind::References,
    }
}

fn run(
    op: &Operation,
    ns: &str,
    ctx: &OpContext<'_>,
    warnings: &mut usize,
) -> Result<String, Failure> {
    let engine = ctx.engine;
    if !matches!(
        op,
        Operation::NotSupported | Operation::Pull { .. } | Operation::CloseEnumeration { .. }
    ) {
        ops::namespace(engine, ns)?;
    }
    let host = engine.context().server.as_str();
    match op {
        Operation::GetClass {
            class,
            local_only,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            let def = engine.class(ns, class).map_err(OpError::from)?;
            let options = ClassOptions {
                local_only: *local_only,
                qualifiers: *include_qualifiers,
                class_origin: *include_class_origin,
                properties: property_list.as_deref(),
            };
            Ok(cimxml::ireturnvalue(&cimxml::class_with(def, &options)))
        }
        Operation::EnumerateClassNames { class, deep } => {
            let mut out = String::new();
            for c in ops::classes(engine, ns, class.as_deref(), *deep)? {
                out.push_str(&cimxml::class_name(c.name.as_str()));
            }
            Ok(cimxml::ireturnvalue(&out))
        }
        Operation::EnumerateClasses {
            class,
            deep,
            local_only,
            include_qualifiers,
            include_class_origin,
        } => {
            let options = ClassOptions {
                local_only: *local_only,
                qualifiers: *include_qualifiers,
                class_origin: *include_class_origin,
                properties: None,
            };
            let mut out = String::new();
            for c in ops::classes(engine, ns, class.as_deref(), *deep)? {
                out.push_str(&cimxml::class_with(&c, &options));
            }
            Ok(cimxml::ireturnvalue(&out))
        }
        Operation::GetInstance { name, flags, .. } => {
            let path = ops::instance_path(engine, ns, &loose(name))?;
            let instance = ops::get(engine, ns, &path, warnings)?;
            let options = InstanceOptions {
                class_origin: flags.include_class_origin,
                properties: flags.property_list.as_deref(),
            };
            Ok(cimxml::ireturnvalue(&cimxml::instance_with(
                &instance, &options,
            )))
        }
        Operation::EnumerateInstanceNames { class } => {
            let out: String = ops::instances(engine, ns, class, Some(&[]), warnings)?
                .iter()
                .map(cimxml::instance_name)
                .collect();
            Ok(cimxml::ireturnvalue(&out))
        }
        Operation::EnumerateInstances {
            class, deep, flags, ..
        } => {
            let def = engine.class(ns, class).map_err(OpError::from)?.clone();
            let list = property_selection(&def, *deep, flags);
            let options = InstanceOptions {
                class_origin: flags.include_class_origin,
                properties: list.as_deref(),
            };
            let out: String = ops::instances(engine, ns, class, list.as_deref(), warnings)?
                .iter()
                .map(|i| {
                    cimxml::named(
                        &cimxml::instance_name(i),
                        &cimxml::instance_with(i, &options),
                    )
                })
                .collect();
            Ok(cimxml::ireturnvalue(&out))
        }
        Operation::ExecQuery { language, query } => {
            check_language(language)?;
            let found = ops::query(engine, ns, query, warnings)?;
            let out: String = items(&found, host, &plain_flags(), true)
                .map(|i| cimxml::object_with_path(&i.path, &i.object))
                .collect();
            Ok(cimxml::ireturnvalue(&out))
        }
        Operation::Association {
            kind,
            names_only,
            object,
            filter,
            flags,
        } => {
            let found = ops::association(
                engine,
                ns,
                association_kind(*kind),
                &source(object),
                &association_filter(filter, *names_only, flags),
                warnings,
            )?;
            let out: String = items(&found, host, flags, false)
                .map(|i| {
                    if *names_only {
                        cimxml::object_path(&i.path)
                    } else {
                        cimxml::object_with_path(&i.path, &i.object)
                    }
                })
                .collect();
            Ok(cimxml::ireturnvalue(&out))
        }
        Operation::GetQualifier { name } => {
            let namespace = engine.namespace(ns).map_err(OpError::from)?;
            let decl = namespace.qualifier_decl(name).ok_or_else(|| {
                Failure::new(
                    CimStatus::NotFound,
                    format!("no qualifier {name} in {}", namespace.name()),
                )
            })?;
            Ok(cimxml::ireturnvalue(&cimxml::qualifier_declaration(decl)))
        }
        Operation::EnumerateQualifiers => {
            let namespace = engine.namespace(ns).map_err(OpError::from)?;
            let out: String = namespace
                .qualifier_decls()
                .iter()
                .map(cimxml::qualifier_declaration)
                .collect();
            Ok(cimxml::ireturnvalue(&out))
        }
        Operation::OpenEnumerateInstances {
            class,
            paths_only,
            deep,
            flags,
            open,
        } => {
            check_open(
                open,
                Some(
                    "FilterQuery on OpenEnumerateInstances is not supported; use OpenQueryInstances",
                ),
            )?;
            let def = engine.class(ns, class).map_err(OpError::from)?.clone();
            let list = property_selection(&def, *deep, flags);
            let options = InstanceOptions {
                class_origin: flags.include_class_origin,
                properties: list.as_deref(),
            };
            let shown = if *paths_only {
                Some(&[][..])
            } else {
                list.as_deref()
            };
            let items: Vec<String> = ops::instances(engine, ns, class, shown, warnings)?
                .iter()
                .map(|i| {
                    let path = cimxml::instance_path(i, host);
                    if *paths_only {
                        path
                    } else {
                        cimxml::instance_with_path(&path, &cimxml::instance_with(i, &options))
                    }
                })
                .collect();
            let shape = if *paths_only {
                PullShape::Paths
            } else {
                PullShape::InstancesWithPath
            };
            open_enumeration(ctx, shape, items, open)
        }
        Operation::OpenQueryInstances {
            language,
            query,
            return_query_result_class,
            open,
        } => {
            check_open(open, None)?;
            check_language(language)?;
            if *return_query_result_class {
                return Err(Failure::new(
                    CimStatus::NotSupported,
                    "ReturnQueryResultClass is not supported",
                ));
            }
            let found = ops::query(engine, ns, query, warnings)?;
            let items = items(&found, host, &plain_flags(), true)
                .map(|i| i.object)
                .collect();
            open_enumeration(ctx, PullShape::Instances, items, open)
        }
        Operation::OpenAssociation {
            kind,
            paths_only,
            object,
            filter,
            flags,
            open,
        } => {
            check_open(
                open,
                Some("FilterQuery on association pulls is not supported"),
            )?;
            let found = ops::association(
                engine,
                ns,
                association_kind(*kind),
                &Source::Instance(loose(object)),
                &association_filter(filter, *paths_only, flags),
                warnings,
            )?;
            let (shape, items) = if *paths_only {
                (
                    PullShape::Paths,
                    items(&found, host, flags, false).map(|i| i.path).collect(),
                )
            } else {
                (
                    PullShape::InstancesWithPath,
                    items(&found, host, flags, false)
                        .map(|i| cimxml::instance_with_path(&i.path, &i.object))
                        .collect(),
                )
            };
            open_enumeration(ctx, shape, items, open)
        }
        Operation::Pull {
            shape,
            context,
            max_object_count,
        } => {
            let count = ctx.enumerations.check_count(*max_object_count)?;
            let page = ctx.enumerations.pull(
                &ctx.identity.name,
                context,
                Shape::CimXml(*shape),
                PageSize { count, bytes: None },
            )?;
            Ok(cimxml::pull_result(
                &page.items,
                page.end_of_sequence,
                &page.context,
            ))
        }
        Operation::CloseEnumeration { context } => {
            ctx.enumerations.close(&ctx.identity.name, context)?;
            Ok(String::new())
        }
        Operation::NotSupported => Err(Failure::new(
            CimStatus::NotSupported,
            "this method is not supported: the server is read-only and has no extrinsic methods",
        )),
    }
}

fn check_language(language: &str) -> Result<(), Failure> {
    let ok = ["WQL", "DMTF:CQL", "CQL"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(language.trim()));
    if ok {
        Ok(())
    } else {
        Err(Failure::new(
            CimStatus::QueryLanguageNotSupported,
            format!(
                "query language {language:?}: WQL and DMTF:CQL (its WQL-compatible subset) are supported"
            ),
        ))
    }
}

/// The Open parameters this server does not take: ContinueOnError, and a FilterQuery
/// where `filter_refused` says why not.
fn check_open(open: &OpenParams, filter_refused: Option<&str>) -> Result<(), Failure> {
    if open.continue_on_error {
        return Err(Failure::new(
            CimStatus::ContinuationOnErrorNotSupported,
            "ContinueOnError is not supported",
        ));
    }
    if let (Some(why), Some(_)) = (filter_refused, &open.filter) {
        return Err(Failure::new(
            CimStatus::FilteredEnumerationNotSupported,
            why,
        ));
    }
    Ok(())
}

fn open_enumeration(
    ctx: &OpContext<'_>,
    shape: PullShape,
    items: Vec<String>,
    open: &OpenParams,
) -> Result<String, Failure> {
    let e = ctx.enumerations;
    let timeout = e.lifetime(
        open.operation_timeout
            .map(|s| Duration::from_secs(u64::from(s))),
    )?;
    let count = e.check_count(open.max_object_count)?;
    let page = e.open(
        &ctx.identity.name,
        Shape::CimXml(shape),
        items,
        timeout,
        PageSize { count, bytes: None },
        false,
    )?;
    Ok(cimxml::pull_result(
        &page.items,
        page.end_of_sequence,
        &page.context,
    ))
}

/// The property list for an instance enumeration: the client's list, limited to the
/// requested class's own properties when DeepInheritance is false.
fn property_selection(def: &ClassDef, deep: bool, flags: &InstanceFlags) -> Option<Vec<String>> {
    let list = flags.property_list.clone();
    if deep {
        return list;
    }
    let own: Vec<String> = def.properties.iter().map(|p| p.name.to_string()).collect();
    Some(match list {
        Some(l) => l
            .into_iter()
            .filter(|n| own.iter().any(|o| o.eq_ignore_ascii_case(n)))
            .collect(),
        None => own,
    })
}

fn plain_flags() -> InstanceFlags {
    InstanceFlags {
        include_qualifiers: false,
        include_class_origin: false,
        property_list: None,
    }
}

/// A query or association result, encoded: its path (`INSTANCEPATH` or `CLASSPATH`) and
/// the object (`INSTANCE` or `CLASS`).
struct Item {
    path: String,
    object: String,
}

/// The encoded items of `found`. With `projected`, a query's select list limits the
/// properties (`SELECT a, b`); otherwise the client's property list does.
fn items<'a>(
    found: &'a Found,
    host: &'a str,
    flags: &'a InstanceFlags,
    projected: bool,
) -> Box<dyn Iterator<Item = Item> + 'a> {
    match found {
        Found::Instances { instances, columns } => {
            let list = match (projected, columns) {
                (true, Some(c)) => Some(c.clone()),
                _ => flags.property_list.clone(),
            };
            let class_origin = flags.include_class_origin;
            Box::new(instances.iter().map(move |i: &Instance| {
                let options = InstanceOptions {
                    class_origin,
                    properties: list.as_deref(),
                };
                Item {
                    path: cimxml::instance_path(i, host),
                    object: cimxml::instance_with(i, &options),
                }
            }))
        }
        Found::Classes(classes) => {
            let options = ClassOptions {
                local_only: false,
                qualifiers: flags.include_qualifiers,
                class_origin: flags.include_class_origin,
                properties: flags.property_list.as_deref(),
            };
            Box::new(classes.iter().map(move |c| Item {
                path: cimxml::class_path(host, &c.namespace, c.name.as_str()),
                object: cimxml::class_with(c, &options),
            }))
        }
    }
}
