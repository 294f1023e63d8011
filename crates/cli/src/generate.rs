//! `linmgmt generate` (hidden, for packagers): man pages, shell completions and the config
//! file's key reference, generated from the clap definition of the command line so that they
//! never disagree with `--help`.

use crate::args::Cli;
use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `linmgmt generate`: a command line of its own, so that it appears in none of the pages
/// and completion scripts it writes.
#[derive(Debug, Parser)]
#[command(name = "linmgmt generate", version)]
struct GenerateCli {
    #[command(subcommand)]
    command: GenerateCommand,
}

/// What `linmgmt generate` writes.
#[derive(Debug, Subcommand)]
enum GenerateCommand {
    /// Man pages: linmgmt.1 and one page per subcommand (linmgmt-serve.1, …) in DIR.
    Man {
        /// The directory to write them to (created if missing).
        dir: PathBuf,
    },
    /// The completion script for a shell, on standard output.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: Shell,
    },
    /// The reference of the config file's keys (Markdown, as in docs/config.md).
    ConfigKeys,
}

/// Runs `linmgmt generate …` when that is the command line, else `None`.
pub fn main() -> Option<ExitCode> {
    let mut args = std::env::args_os();
    let argv0 = args.next()?;
    if args.next()? != "generate" {
        return None;
    }
    let cli = GenerateCli::parse_from(std::iter::once(argv0).chain(args));
    Some(match run(&cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    })
}

fn run(command: &GenerateCommand) -> anyhow::Result<()> {
    match command {
        GenerateCommand::Man { dir } => {
            for page in man_pages(dir)? {
                println!("{}", page.display());
            }
        }
        GenerateCommand::Completions { shell } => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            clap_complete::generate(*shell, &mut Cli::command(), "linmgmt", &mut out);
            out.flush()?;
        }
        GenerateCommand::ConfigKeys => print!("{}", crate::config::reference()),
    }
    Ok(())
}

/// The FILES section of linmgmt(1) and linmgmt-serve(1), in roff.
const FILES: &str = r#".SH FILES
.TP
\fI/etc/linmgmt/linmgmt.toml\fR
The config file of \fBlinmgmt serve\fR: TOML whose keys are its long options, e.g.
\fBlisten = ["http://127.0.0.1:5988"]\fR or \fBwsman = true\fR; options on the command line
(or in their environment variables) override it.
\fB\-\-config\fR \fIFILE\fR or \fBLINMGMT_CONFIG\fR name another file.
.TP
\fI/etc/linmgmt/users\fR
The users of the server (mode 0600), written by \fBlinmgmt user add\fR.
.TP
\fI/run/linmgmt/\fR
What linmgmt learned about live sessions while their creators were alive (written only as
root; gone at reboot).
"#;

/// Writes the man pages into `dir` (as `clap_mangen::generate_to` does, plus a FILES
/// section where it belongs) and returns their paths, sorted.
pub fn man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    fn write(
        cmd: clap::Command,
        dir: &Path,
        date: &str,
        pages: &mut Vec<PathBuf>,
    ) -> anyhow::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub.clone(), dir, date, pages)?;
        }
        let files = cmd.get_name() == "linmgmt" || cmd.get_name() == "serve";
        let man = clap_mangen::Man::new(cmd)
            .source(concat!("linmgmt ", env!("CARGO_PKG_VERSION")))
            .manual("linmgmt manual")
            .date(date);
        let path = dir.join(man.get_filename());
        let mut page = Vec::new();
        man.render(&mut page)?;
        if files {
            page.extend_from_slice(FILES.as_bytes());
        }
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        pages.push(path);
        Ok(())
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    write(cmd, dir, &man_date(), &mut pages)?;
    pages.sort();
    Ok(pages)
}

/// The date in the pages' title line: `SOURCE_DATE_EPOCH` (reproducible builds) or today, UTC.
fn man_date() -> String {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let at = epoch
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    at.to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
}
