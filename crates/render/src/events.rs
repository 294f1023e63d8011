//! Events as they stream: one JSON object per line, one table row per event, or a `list`
//! block per event with the embedded instances flattened (`TargetInstance.LogonId=…`).
//!
//! Unlike a result set, a stream has no end to wait for, so the table cannot size its
//! columns from the data: it uses fixed widths and lets the last column run on.

use crate::{Format, RenderOptions, cell, instance_to_json};
use linmgmt_cim::{Instance, Name, Value, from_filetime};
use std::io::{self, Write};

/// Writes events one at a time in one format.
pub struct EventWriter {
    format: Format,
    columns: Option<Vec<Name>>,
    opts: RenderOptions,
    time_zone: jiff::tz::TimeZone,
    header_written: bool,
}

/// The fixed table columns and their widths (the last is unbounded).
const TABLE: [(&str, usize); 5] = [
    ("TIME", 12),
    ("EVENT", 9),
    ("CLASS", 24),
    ("INSTANCE", 34),
    ("DETAILS", 0),
];

fn embedded<'a>(e: &'a Instance, name: &str) -> Option<&'a Instance> {
    match e.get(name) {
        Some(Value::Object(i)) => Some(i),
        _ => None,
    }
}

/// `created`, `deleted`, … for the table's EVENT column.
fn verb(e: &Instance) -> &'static str {
    let class = e.class_name();
    if class.is("__InstanceCreationEvent") {
        "created"
    } else if class.is("__InstanceDeletionEvent") {
        "deleted"
    } else if class.is("__InstanceModificationEvent") {
        "modified"
    } else if class.is("__AggregateEvent") {
        "aggregate"
    } else if class.is("__EventQueueOverflowEvent") {
        "overflow"
    } else {
        "event"
    }
}

/// The key bindings of an instance's path: `LogonId="5"`.
fn keys(i: &Instance) -> String {
    i.path()
        .map(|p| {
            let s = p.to_string();
            match s.split_once('.') {
                Some((_, keys)) => keys.to_owned(),
                None => s,
            }
        })
        .unwrap_or_default()
}

/// `Prop: old → new` for each property that differs.
fn changes(previous: &Instance, current: &Instance) -> String {
    let mut out = Vec::new();
    for (i, p) in current.class().properties.iter().enumerate() {
        let (old, new) = (previous.get_at(i), current.get_at(i));
        if old != new {
            let show = |v: Option<&Value>| v.map_or_else(|| "NULL".to_owned(), |v| v.to_string());
            out.push(format!("{}: {} → {}", p.name, show(old), show(new)));
        }
    }
    out.join(", ")
}

impl EventWriter {
    /// A writer for `format` (table, list or json); `columns` is the query's select list
    /// (`None` for `*`); times in the table are shown in `time_zone`.
    pub fn new(
        format: Format,
        columns: Option<Vec<Name>>,
        opts: RenderOptions,
        time_zone: jiff::tz::TimeZone,
    ) -> Result<EventWriter, String> {
        if !matches!(format, Format::Table | Format::List | Format::Json) {
            return Err("events can be shown as table, list or json".to_owned());
        }
        Ok(EventWriter {
            format,
            columns,
            opts,
            time_zone,
            header_written: false,
        })
    }

    /// The property names to show for `e`: the select list for the query's own events,
    /// every property for the rest (aggregates and overflow notices).
    fn names<'a>(&'a self, e: &'a Instance) -> Vec<&'a Name> {
        match &self.columns {
            Some(c) if e.class().is_a("__InstanceOperationEvent") => c.iter().collect(),
            _ => e.class().properties.iter().map(|p| &p.name).collect(),
        }
    }

    /// Writes one event (and, for the first table row, the header).
    pub fn write(&mut self, e: &Instance, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Json => {
                let json = instance_to_json(e, &self.names(e), &self.opts.context);
                serde_json::to_writer(&mut *out, &json)?;
                writeln!(out)
            }
            Format::List => {
                let mut lines = Vec::new();
                self.list_lines("", e, &mut lines);
                for l in lines {
                    writeln!(out, "{l}")?;
                }
                writeln!(out)
            }
            _ => self.table_row(e, out),
        }
    }

    fn list_lines(&self, prefix: &str, e: &Instance, lines: &mut Vec<String>) {
        lines.push(format!("{prefix}__CLASS={}", e.class_name()));
        let names: Vec<&Name> = if prefix.is_empty() {
            self.names(e)
        } else {
            e.class().properties.iter().map(|p| &p.name).collect()
        };
        for name in names {
            match crate::property_value(e, name, &self.opts.context) {
                Some(Value::Object(inner)) => {
                    self.list_lines(&format!("{prefix}{name}."), &inner, lines)
                }
                v => lines.push(format!("{prefix}{name}={}", cell(v))),
            }
        }
    }

    fn table_row(&mut self, e: &Instance, out: &mut dyn Write) -> io::Result<()> {
        let bold = |s: &str| {
            if self.opts.color {
                format!("\x1b[1m{s}\x1b[0m")
            } else {
                s.to_owned()
            }
        };
        if !self.header_written {
            self.header_written = true;
            let header: Vec<String> = TABLE.iter().map(|(h, w)| pad(h, *w)).collect();
            writeln!(out, "{}", bold(header.join(" ").trim_end()))?;
        }
        let time = match e.get("TIME_CREATED") {
            Some(Value::Uint64(t)) => from_filetime(*t)
                .map(|t| {
                    t.to_zoned(self.time_zone.clone())
                        .strftime("%H:%M:%S%.3f")
                        .to_string()
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        let (class, instance, details) = self.describe(e);
        let cells = [time, verb(e).to_owned(), class, instance, details];
        let row: Vec<String> = (cells.iter().zip(TABLE))
            .map(|(c, (_, w))| pad(c, w))
            .collect();
        writeln!(out, "{}", row.join(" ").trim_end())
    }

    /// CLASS, INSTANCE and DETAILS of a table row.
    fn describe(&self, e: &Instance) -> (String, String, String) {
        if let Some(target) = embedded(e, "TargetInstance") {
            let details = match embedded(e, "PreviousInstance") {
                Some(previous) => changes(previous, target),
                None => cell(target.get("Caption").cloned()),
            };
            return (target.class_name().to_string(), keys(target), details);
        }
        if let Some(rep) = embedded(e, "Representative") {
            let (class, instance, _) = self.describe(rep);
            let n = cell(e.get("NumberOfEvents").cloned());
            return (
                class,
                instance,
                format!("{n} events like this one ({})", verb(rep)),
            );
        }
        if e.class_name().is("__EventQueueOverflowEvent") {
            let n = cell(e.get("NumberOfEventsDropped").cloned());
            return (
                String::new(),
                String::new(),
                format!("{n} events dropped: the consumer did not keep up"),
            );
        }
        (e.class_name().to_string(), String::new(), String::new())
    }
}

/// `s` padded to `width` characters, or cut with `…` (width 0: as is).
fn pad(s: &str, width: usize) -> String {
    if width == 0 {
        return s.to_owned();
    }
    let n = s.chars().count();
    if n > width {
        let mut cut: String = s.chars().take(width - 1).collect();
        cut.push('…');
        cut
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}
