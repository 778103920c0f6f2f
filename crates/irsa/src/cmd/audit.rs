//! `irsa audit tail`: the audit trail as it happens.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::serve::DataDirArg;
use crate::datadir::DataDir;

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Print audit events, one readable line each (time, account, event,
    /// principal, outcome, error).
    Tail(TailArgs),
}

#[derive(Args, Debug)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Keep printing new events as they are recorded.
    #[arg(long)]
    follow: bool,
    /// Only failed calls.
    #[arg(long)]
    failed: bool,
    /// Print the CloudTrail records as JSON lines.
    #[arg(long)]
    json: bool,
    /// How many past events to print first.
    #[arg(long, default_value_t = 20)]
    lines: usize,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn principal(record: &Value) -> String {
    let id = record.get("userIdentity").cloned().unwrap_or(Value::Null);
    text(&id, "arn")
        .or_else(|| text(&id, "userName"))
        .unwrap_or("-")
        .to_string()
}

fn line(e: &store::AuditEvent) -> String {
    let record: Value = serde_json::from_str(&e.record).unwrap_or(Value::Null);
    let time = text(&record, "eventTime").unwrap_or("-").to_string();
    let outcome = if e.error_code.is_empty() {
        "ok"
    } else {
        "FAILED"
    };
    let mut out = format!(
        "{time} {} {}:{} {} {outcome}",
        e.account,
        e.source.trim_end_matches(".amazonaws.com"),
        e.name,
        principal(&record)
    );
    if !e.error_code.is_empty() {
        out.push_str(&format!(
            " {}: {}",
            e.error_code,
            text(&record, "errorMessage").unwrap_or("")
        ));
    }
    out
}

pub(crate) fn audit(command: AuditCommand) -> Result<ExitCode, String> {
    let AuditCommand::Tail(a) = command;
    let dir = DataDir::new(&a.data.data_dir);
    let store = dir.open_existing()?;
    let recent = store
        .recent_events(a.lines, a.failed)
        .map_err(|e| e.to_string())?;
    let newest = store.recent_events(1, false).map_err(|e| e.to_string())?;
    let mut seq = newest.last().map_or(0, |e| e.seq);
    let print = |e: &store::AuditEvent| {
        if a.json {
            println!("{}", e.record);
        } else {
            println!("{}", line(e));
        }
    };
    recent.iter().for_each(print);
    if !a.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        for e in store.events_after(seq, 1000).map_err(|e| e.to_string())? {
            seq = e.seq;
            if !a.failed || !e.error_code.is_empty() {
                print(&e);
            }
        }
    }
}
