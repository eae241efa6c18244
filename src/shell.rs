//! `completions` and `man`: the shell completion scripts (clap_complete) and the roff man pages
//! (clap_mangen), both generated from the clap definition of [`Cli`] that parses the
//! arguments, so that they list exactly the subcommands and options the parser accepts.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::PASSED;

/// The command the scripts complete, and the stem of the pages' file names.
const NAME: &str = "cmi-preflight";

/// `completions`: the script of the shell on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<u8> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, NAME, &mut script);
    if args.shell == clap_complete::Shell::Bash {
        script = bash_states_fixed(&script);
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .context("cannot write the completion script")?;
    Ok(PASSED)
}

/// The bash script with its states spelt one way. clap_complete 4.6.12 spells the state of a
/// subcommand of a binary whose name has a hyphen one way where it is set
/// (`cmi__preflight__subcmd__watch`) and another in the `case` arm that completes it
/// (`cmi__subcmd__preflight__subcmd__watch`), so that no option of a subcommand would ever
/// complete (clap issue 6421, "bash: completion broken when the bin name contains a
/// hyphen"). The arms are renamed to the spelling of the states; once clap_complete spells
/// them alike, this changes nothing.
fn bash_states_fixed(script: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(script);
    let wrong = NAME.replace('-', "__subcmd__");
    let right = NAME.replace('-', "__");
    text.replace(&format!("{wrong}__"), &format!("{right}__"))
        .into_bytes()
}

/// `man`: the main page on stdout, or every page into `--out-dir`, their paths on stdout.
pub fn man(args: &ManArgs) -> Result<u8> {
    let pages = pages(manual_command()).context("cannot render the man pages")?;
    let mut stdout = std::io::stdout().lock();
    match &args.out_dir {
        None => {
            if let Some((_, roff)) = pages.first() {
                stdout.write_all(roff)?;
            }
        }
        Some(dir) => {
            for (file_name, roff) in &pages {
                let path = dir.join(file_name);
                cmi_agent::files::write_atomic(&path, roff)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                writeln!(stdout, "{}", path.display())?;
            }
        }
    }
    stdout.flush()?;
    Ok(PASSED)
}

/// The command as the pages describe it: without the `help` subcommand that clap adds, which
/// gets no page of its own (`cmi-preflight help X` is `cmi-preflight X --help`). Built, so
/// that each subcommand's display name is `cmi-preflight-X`, the name of its page.
fn manual_command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The page of `command` first, then those of its visible subcommands (recursively), each as
/// its file name (`cmi-preflight-check.1`) and its roff text.
fn pages(command: clap::Command) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let subcommands: Vec<clap::Command> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect();
    let man = clap_mangen::Man::new(command);
    let mut roff = Vec::new();
    man.render(&mut roff)?;
    let mut all = vec![(man.get_filename(), roff)];
    for sub in subcommands {
        all.extend(pages(sub)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(roff: &[u8]) -> String {
        String::from_utf8(roff.to_vec()).expect("roff is UTF-8")
    }

    #[test]
    fn the_main_page_lists_every_subcommand_of_the_parser() {
        let pages = pages(manual_command()).expect("rendered");
        let (file_name, roff) = &pages[0];
        assert_eq!(file_name, "cmi-preflight.1");
        let main = text(roff);
        let subcommands: Vec<_> = Cli::command()
            .get_subcommands()
            .map(|sub| sub.get_name().to_string())
            .collect();
        assert!(subcommands.len() >= 15, "{subcommands:?}");
        for name in &subcommands {
            assert!(
                main.contains(&format!("{NAME}-{name}(1)").replace('-', "\\-")),
                "the main page does not list {name}:\n{main}"
            );
        }
    }

    #[test]
    fn each_subcommand_has_a_page_with_its_options() {
        let pages = pages(manual_command()).expect("rendered");
        for sub in Cli::command().get_subcommands() {
            let file_name = format!("{NAME}-{}.1", sub.get_name());
            let (_, roff) = pages
                .iter()
                .find(|(name, _)| *name == file_name)
                .unwrap_or_else(|| panic!("no page {file_name}"));
            let page = text(roff);
            for long in sub
                .get_arguments()
                .filter(|arg| !arg.is_hide_set())
                .filter_map(|arg| arg.get_long())
            {
                let escaped = format!("\\-\\-{}", long.replace('-', "\\-"));
                assert!(
                    page.contains(&escaped),
                    "{file_name} does not describe --{long}"
                );
            }
        }
        assert_eq!(pages.len(), Cli::command().get_subcommands().count() + 1);
    }
}
