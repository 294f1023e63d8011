//! What the providers' integration tests share: an engine over a fixture root (as admin or
//! as one user's view) and the list rendering of instances their goldens compare.

#![allow(dead_code)] // each test binary uses its own part

use jiff::tz::TimeZone;
use linmgmt_cim::{Instance, SystemContext};
use linmgmt_engine::{Engine, QueryOutput};
use linmgmt_providers::{HostProvider, UserView};
use linmgmt_render::{Format, RenderOptions, ResultSet, render};
use linmgmt_schema::Repository;
use linmgmt_sources::ScanOptions;
use linmgmt_test_support::{FixtureRoot, now};
use linmgmt_wql::CompileOptions;
use std::sync::Arc;

/// The host provider over a fixture root, at the fixtures' fixed "now".
pub fn host(root: &FixtureRoot) -> Arc<HostProvider> {
    Arc::new(HostProvider::new(
        root.root().clone(),
        ScanOptions::default(),
        Box::new(root.runner()),
        TimeZone::UTC,
        now(),
    ))
}

/// An engine over the fixture host, for everyone or for `viewer`'s own view.
pub fn engine(root: &FixtureRoot, viewer: Option<&str>) -> Engine {
    let host = host(root);
    let repo = Arc::new(Repository::builtin().expect("schema"));
    let mut engine = Engine::new(
        repo,
        SystemContext {
            server: "fixture-host".into(),
        },
        CompileOptions::default(),
    );
    match viewer {
        Some(user) => engine.register(Arc::new(UserView::new(host, user))),
        None => engine.register(host),
    }
    engine
}

/// Instances in list format, every property.
pub fn list(instances: Vec<Instance>) -> String {
    let set = ResultSet {
        columns: vec![],
        all_properties: true,
        instances,
    };
    let opts = RenderOptions {
        color: false,
        width: None,
        context: SystemContext {
            server: "fixture".into(),
        },
    };
    let mut out = Vec::new();
    render(Format::List, &set, &opts, &mut out).expect("render");
    String::from_utf8(out).expect("utf-8")
}

/// A query's answer as sorted `__RELPATH`s (class names for ClassDefsOnly), or its error.
pub fn relpaths(engine: &Engine, query: &str) -> Vec<String> {
    match engine.query("root/cimv2", query) {
        Ok(answer) => match answer.value {
            QueryOutput::Instances(set) => {
                let mut paths: Vec<String> = set
                    .instances
                    .iter()
                    .map(|i| i.path().map(|p| p.to_string()).unwrap_or_default())
                    .collect();
                paths.sort();
                paths
            }
            QueryOutput::Classes(classes) => classes.iter().map(|c| c.name.to_string()).collect(),
        },
        Err(e) => vec![e.to_string()],
    }
}
