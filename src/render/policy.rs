//! Printing a policy set: each document under a comment line that says where it goes, and
//! one line per statement that names the public document it comes from.

use std::io::{self, Write};

use cmi_format::policy::{statement_source, PolicyDocument, PolicySet};

use super::DIM_STYLE;

/// Writes every document, in the order to apply them.
pub fn write(out: &mut dyn Write, set: &PolicySet) -> io::Result<()> {
    for (index, document) in set.documents.iter().enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        writeln!(
            out,
            "{DIM_STYLE}# {}: {}{DIM_STYLE:#}",
            document.file_name, document.title
        )?;
        for line in source_lines(document) {
            writeln!(out, "{DIM_STYLE}#   {line}{DIM_STYLE:#}")?;
        }
        out.write_all(document.to_pretty_json().as_bytes())?;
    }
    Ok(())
}

/// One line per statement of `document`: `SID: from SOURCE`, where SOURCE is the public
/// document the statement follows.
pub fn source_lines(document: &PolicyDocument) -> Vec<String> {
    document
        .policy
        .statement
        .iter()
        .map(|s| match statement_source(&s.sid) {
            Some(source) => format!("{}: from {source}", s.sid),
            None => s.sid.clone(),
        })
        .collect()
}
