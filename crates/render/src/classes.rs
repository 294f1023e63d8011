//! Rendering classes, as schema queries (`SELECT * FROM meta_class`) return them.

use crate::{Format, RenderOptions};
use linmgmt_cim::{ClassDef, SystemContext, Value};
use serde_json::{Map, Value as Json};
use std::io::{self, Write};
use std::sync::Arc;

/// The system properties shown for a class, in WMI's order.
const CLASS_COLUMNS: &[&str] = &[
    "__CLASS",
    "__SUPERCLASS",
    "__DYNASTY",
    "__PROPERTY_COUNT",
    "__DERIVATION",
    "__NAMESPACE",
    "__PATH",
];

fn text(v: Option<Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn class_json(def: &ClassDef, ctx: &SystemContext) -> Json {
    let mut obj = Map::new();
    for name in linmgmt_cim::SYSTEM_PROPERTIES {
        let v = def
            .system_property(name, ctx)
            .map_or(Json::Null, |v| crate::value_to_json(&v, ctx));
        obj.insert((*name).to_owned(), v);
    }
    let props: Map<String, Json> = def
        .properties
        .iter()
        .map(|p| (p.name.to_string(), Json::String(p.ty.to_string())))
        .collect();
    obj.insert("Properties".to_owned(), Json::Object(props));
    Json::Object(obj)
}

/// Renders classes: system properties for table, list, CSV and JSON (JSON adds the
/// property types); the declaration for MOF; the `CLASS` element for XML.
pub fn render_classes(
    format: Format,
    classes: &[Arc<ClassDef>],
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let ctx = &opts.context;
    match format {
        Format::Table | Format::Csv => {
            if classes.is_empty() {
                return Ok(());
            }
            let columns = &CLASS_COLUMNS[..4];
            let rows: Vec<Vec<String>> = classes
                .iter()
                .map(|c| {
                    columns
                        .iter()
                        .map(|n| text(c.system_property(n, ctx)))
                        .collect()
                })
                .collect();
            if format == Format::Csv {
                let mut w = csv::Writer::from_writer(&mut *out);
                w.write_record(columns)?;
                for row in rows {
                    w.write_record(row)?;
                }
                w.flush()?;
            } else {
                let mut table = comfy_table::Table::new();
                table.load_style(comfy_table::presets::NOTHING);
                table.force_no_tty();
                table.set_header(columns.iter().copied());
                for row in rows {
                    table.add_row(row);
                }
                for line in table.lines() {
                    writeln!(
                        out,
                        "{}",
                        line.strip_prefix(' ').unwrap_or(&line).trim_end()
                    )?;
                }
            }
        }
        Format::List => {
            for (i, c) in classes.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                for name in CLASS_COLUMNS {
                    writeln!(out, "{name}={}", text(c.system_property(name, ctx)))?;
                }
            }
        }
        Format::Json => {
            let items: Vec<Json> = classes.iter().map(|c| class_json(c, ctx)).collect();
            serde_json::to_writer_pretty(&mut *out, &items)?;
            writeln!(out)?;
        }
        Format::Mof => {
            for c in classes {
                writeln!(out, "{}", linmgmt_mof::write_class(&c.declared))?;
            }
        }
        Format::Xml => {
            for c in classes {
                writeln!(out, "{}", linmgmt_cimxml::class(c))?;
            }
        }
        Format::Ocsf | Format::Ecs => return Err(crate::event_log_only(format)),
    }
    Ok(())
}
