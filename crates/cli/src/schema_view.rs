//! Human views of the schema: the class tree and one class's summary.

use linmgmt_cim::{ClassDef, Qualifier, Value};
use linmgmt_schema::Namespace;
use std::io::{self, Write};

/// The inheritance tree of every class in the namespace, children sorted by name.
pub fn write_tree(ns: &Namespace, out: &mut dyn Write) -> io::Result<()> {
    let mut roots: Vec<&ClassDef> = ns
        .classes()
        .filter(|c| c.superclass.is_none())
        .map(|c| &**c)
        .collect();
    roots.sort_by(|a, b| a.name.cmp(&b.name));
    for root in roots {
        writeln!(out, "{}", root.name)?;
        write_children(ns, root, "", out)?;
    }
    Ok(())
}

fn write_children(
    ns: &Namespace,
    parent: &ClassDef,
    prefix: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut children: Vec<&ClassDef> = ns
        .subclasses(parent.name.as_str(), false)
        .into_iter()
        .map(|c| &**c)
        .collect();
    children.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        writeln!(
            out,
            "{prefix}{}{}",
            if last { "└── " } else { "├── " },
            child.name
        )?;
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        write_children(ns, child, &deeper, out)?;
    }
    Ok(())
}

fn qualifier_text(q: &Qualifier) -> String {
    match &q.value {
        Some(Value::Boolean(true)) => q.name.to_string(),
        Some(Value::Array(items)) => format!("{}{{{}}}", q.name, items.len()),
        Some(v) => format!("{}({v})", q.name),
        None => format!("{}(NULL)", q.name),
    }
}

/// A class's summary: derivation, qualifiers and a line per property.
pub fn write_class(class: &ClassDef, out: &mut dyn Write) -> io::Result<()> {
    match &class.superclass {
        Some(s) => writeln!(out, "class {} : {s}", class.name)?,
        None => writeln!(out, "class {}", class.name)?,
    }
    if !class.derivation.is_empty() {
        let chain: Vec<&str> = class.derivation.iter().map(|n| n.as_str()).collect();
        writeln!(out, "  derivation: {}", chain.join(" -> "))?;
    }
    let qualifiers: Vec<String> = class
        .qualifiers
        .iter()
        .filter(|q| !q.name.is("Description"))
        .map(qualifier_text)
        .collect();
    if !qualifiers.is_empty() {
        writeln!(out, "  qualifiers: {}", qualifiers.join(", "))?;
    }
    writeln!(out, "  properties ({}):", class.properties.len())?;
    let type_width = class
        .properties
        .iter()
        .map(|p| p.ty.to_string().len())
        .max()
        .unwrap_or(0);
    let name_width = class
        .properties
        .iter()
        .map(|p| p.name.as_str().len())
        .max()
        .unwrap_or(0);
    for p in &class.properties {
        let quals: Vec<String> = p
            .qualifiers
            .iter()
            .filter(|q| !q.name.is("Description") && !q.name.is("Values"))
            .map(qualifier_text)
            .collect();
        let mut notes = quals.join(", ");
        if p.class_origin != class.name {
            let sep = if notes.is_empty() { "" } else { "  " };
            notes = format!("{notes}{sep}(from {})", p.class_origin);
        }
        let line = format!(
            "    {:type_width$}  {:name_width$}  {notes}",
            p.ty.to_string(),
            p.name.as_str()
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
