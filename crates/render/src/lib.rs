//! Output formats for query results: one result set, six sinks.
//!
//! | format | shape |
//! |---|---|
//! | `table` | columns of the selected properties, for people |
//! | `list` | `Name=Value` lines, a blank line between instances (`wmic /format:list`) |
//! | `json` | an array of objects keyed by property name plus `__CLASS`, `__PATH`, `__RELPATH` |
//! | `csv` | a header row of property names, then one row per instance |
//! | `mof` | `instance of` blocks |
//! | `xml` | CIM-XML `VALUE.NAMEDINSTANCE` elements |
//!
//! Events (`linmgmt watch`) stream through [`EventWriter`] instead: one JSON object per
//! line, a table row or a `list` block per event. `ocsf` and `ecs` are formats of the
//! security event log (`linmgmt-seclog`), for session events only; asked of a result set
//! they are an error.
//!
//! The crate is pure: it writes to any [`std::io::Write`] and decides nothing about
//! terminals; the caller says whether to use colour and how wide the screen is.

mod classes;
mod events;
mod json;

use linmgmt_cim::{Instance, Name, SystemContext, Value};
use std::io::{self, Write};
use std::str::FromStr;

pub use classes::render_classes;
pub use events::EventWriter;
pub use json::{instance_to_json, value_to_json};

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// `Name=Value` lines.
    List,
    /// A JSON array of objects.
    Json,
    /// Comma-separated values with a header row.
    Csv,
    /// Instance MOF.
    Mof,
    /// CIM-XML `VALUE.NAMEDINSTANCE` elements.
    Xml,
    /// OCSF Authentication events, one per line: session events only (`linmgmt watch`).
    Ocsf,
    /// Elastic Common Schema documents, one per line: session events only (`linmgmt watch`).
    Ecs,
}

impl Format {
    /// Every format's name, for help texts.
    pub const NAMES: &'static [&'static str] =
        &["table", "list", "json", "csv", "mof", "xml", "ocsf", "ecs"];
}

/// The error for a security event log format asked of a result set or classes.
fn event_log_only(format: Format) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "--format {}: a security event log format, for the session events of `linmgmt \
             watch` (use table, list, json, csv, mof or xml here)",
            if format == Format::Ocsf {
                "ocsf"
            } else {
                "ecs"
            }
        ),
    )
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => Format::Table,
            "list" => Format::List,
            "json" => Format::Json,
            "csv" => Format::Csv,
            "mof" => Format::Mof,
            "xml" => Format::Xml,
            "ocsf" => Format::Ocsf,
            "ecs" => Format::Ecs,
            _ => {
                return Err(format!(
                    "unknown format '{s}' (expected one of {})",
                    Format::NAMES.join(", ")
                ));
            }
        })
    }
}

pub use linmgmt_engine::ResultSet;

/// How to render.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// Whether ANSI colour may be used (table headers, list names).
    pub color: bool,
    /// The terminal width for tables; `None` leaves rows unwrapped.
    pub width: Option<u16>,
    /// The server name for `__PATH` and `__SERVER`.
    pub context: SystemContext,
}

/// The value of a property or system property of an instance; `None` for NULL.
pub fn property_value(inst: &Instance, name: &Name, ctx: &SystemContext) -> Option<Value> {
    if name.is_system() {
        inst.system_property(name.as_str(), ctx)
    } else {
        inst.get(name.as_str()).cloned()
    }
}

/// The names to show for one instance.
fn names_for<'a>(
    set: &'a ResultSet,
    inst: &'a Instance,
) -> Box<dyn Iterator<Item = &'a Name> + 'a> {
    if set.all_properties {
        Box::new(inst.class().properties.iter().map(|p| &p.name))
    } else {
        Box::new(set.columns.iter())
    }
}

/// Plain text of a value for table, list and CSV cells; NULL is empty.
fn cell(v: Option<Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Renders a result set. An empty set prints nothing, except `[]` for JSON.
pub fn render(
    format: Format,
    set: &ResultSet,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let ctx = &opts.context;
    match format {
        Format::Table => {
            if set.instances.is_empty() {
                return Ok(());
            }
            let mut table = comfy_table::Table::new();
            table.load_style(comfy_table::presets::NOTHING);
            match opts.width {
                Some(w) => {
                    table
                        .set_width(w)
                        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
                }
                None => {
                    table.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
                }
            }
            if !opts.color {
                table.force_no_tty();
            }
            let header = set.columns.iter().map(|c| {
                let cell = comfy_table::Cell::new(c.as_str());
                if opts.color {
                    cell.add_attribute(comfy_table::Attribute::Bold)
                } else {
                    cell
                }
            });
            table.set_header(header);
            for inst in &set.instances {
                table.add_row(
                    set.columns
                        .iter()
                        .map(|c| cell(property_value(inst, c, ctx))),
                );
            }
            // comfy-table pads with a leading space per column under the NOTHING preset.
            for line in table.lines() {
                writeln!(
                    out,
                    "{}",
                    line.strip_prefix(' ').unwrap_or(&line).trim_end()
                )?;
            }
        }
        Format::List => {
            for (i, inst) in set.instances.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                for name in names_for(set, inst) {
                    let value = cell(property_value(inst, name, ctx));
                    if opts.color {
                        writeln!(out, "\x1b[1m{name}\x1b[0m={value}")?;
                    } else {
                        writeln!(out, "{name}={value}")?;
                    }
                }
            }
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = set
                .instances
                .iter()
                .map(|inst| {
                    let names: Vec<&Name> = names_for(set, inst).collect();
                    instance_to_json(inst, &names, ctx)
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &items)?;
            writeln!(out)?;
        }
        Format::Csv => {
            if set.instances.is_empty() {
                return Ok(());
            }
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(set.columns.iter().map(Name::as_str))?;
            for inst in &set.instances {
                w.write_record(
                    set.columns
                        .iter()
                        .map(|c| cell(property_value(inst, c, ctx))),
                )?;
            }
            w.flush()?;
        }
        Format::Mof => {
            for inst in &set.instances {
                writeln!(out, "{}", linmgmt_mof::write_instance(inst))?;
            }
        }
        Format::Xml => {
            for inst in &set.instances {
                writeln!(out, "{}", linmgmt_cimxml::named_instance(inst))?;
            }
        }
        Format::Ocsf | Format::Ecs => return Err(event_log_only(format)),
    }
    Ok(())
}
