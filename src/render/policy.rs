//! Printing a policy set: each document under a comment line that says where it goes.

use std::io::{self, Write};

use cmi_format::policy::PolicySet;

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
        out.write_all(document.to_pretty_json().as_bytes())?;
    }
    Ok(())
}
