//! `--config FILE` (or `COGSYNC_CONFIG`): a TOML file holding flags under the flags' own
//! names (`listen = "0.0.0.0:8080"`, `data-dir = "/var/lib/cogsync"`, `pool-rate-limit =
//! "50:100"`), for every command. What the file sets counts for less than the environment,
//! which counts for less than the command line: a file value is used only for a flag given
//! neither way. Each command takes the keys that are its flags and passes over the others'
//! (so one file serves `serve`, `healthcheck`, `import` and `export` alike); a key that is no
//! command's flag is an error that names it.

use std::ffi::OsString;
use std::path::Path;

/// The flag that names the file; not itself allowed in it.
pub const FLAG: &str = "config";

/// The path given with `--config PATH` or `--config=PATH` among `args`, if any.
pub fn path_in(args: &[OsString]) -> Option<OsString> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy();
        if text == format!("--{FLAG}") {
            return it.next().cloned();
        }
        if let Some(path) = text.strip_prefix(&format!("--{FLAG}=")) {
            return Some(path.into());
        }
    }
    None
}

/// `args` (a command line: program, subcommand, flags) with the file's settings added as
/// flags for each flag of `command` that neither `args` nor the environment sets. Keys that
/// are flags of another of `commands` (its siblings) are passed over.
pub fn merge(
    command: &clap::Command,
    commands: &[&clap::Command],
    file: &Path,
    args: &[OsString],
) -> Result<Vec<OsString>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let anyones = |key: &str| commands.iter().any(|c| flag(c, key).is_some());
    let unknown: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|key| *key == FLAG || (flag(command, key).is_none() && !anyones(key)))
        .collect();
    if !unknown.is_empty() {
        let own: Vec<&str> = command
            .get_arguments()
            .filter_map(clap::Arg::get_long)
            .filter(|l| *l != FLAG && *l != "help")
            .collect();
        return Err(format!(
            "{}: unknown key{} {} (the keys are flags of a command; those of `{}` are {})",
            file.display(),
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            command.get_name(),
            own.join(", ")
        ));
    }
    let mut merged = args.to_vec();
    for (key, value) in &table {
        let Some(arg) = flag(command, key) else {
            continue;
        };
        let given = args.iter().any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{key}") || a.starts_with(&format!("--{key}="))
        });
        let from_env = arg
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some());
        if given || from_env {
            continue;
        }
        // A list gives the flag once per element (for flags that may be repeated).
        let values = match value {
            toml::Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for value in values {
            let text = scalar(value).ok_or_else(|| {
                format!(
                    "{}: {key} must be a string, number or boolean (or a list of them), not {}",
                    file.display(),
                    value.type_str()
                )
            })?;
            merged.push(format!("--{key}={text}").into());
        }
    }
    Ok(merged)
}

/// A TOML value as a flag's text; None for tables, lists and dates.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The flag of `command` whose long name is `key`.
fn flag<'a>(command: &'a clap::Command, key: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(key) && a.get_id() != "help")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> clap::Command {
        clap::Command::new("serve")
            .arg(clap::Arg::new("listen").long("listen"))
            .arg(
                clap::Arg::new("region")
                    .long("region")
                    .env("COGSYNC_TEST_CONFIG_FILE_REGION"),
            )
            .arg(clap::Arg::new("config").long("config"))
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_file_fills_only_what_the_command_line_leaves_unset() {
        let f = file("listen = \"0.0.0.0:1\"\nregion = \"eu-west-1\"\n");
        let given = args(&["cogsync", "serve", "--listen=127.0.0.1:2"]);
        let merged = merge(&command(), &[], f.path(), &given).unwrap();
        assert_eq!(
            merged,
            args(&[
                "cogsync",
                "serve",
                "--listen=127.0.0.1:2",
                "--region=eu-west-1"
            ])
        );
    }

    #[test]
    fn unknown_keys_are_named_with_the_commands_own_flags() {
        let f = file("listen = \"x\"\nlisen = \"y\"\nconfig = \"z\"\n");
        let err = merge(&command(), &[], f.path(), &args(&["cogsync"])).unwrap_err();
        assert!(err.contains("unknown keys config, lisen"), "{err}");
        assert!(err.contains("those of `serve` are listen, region"), "{err}");
    }

    #[test]
    fn another_commands_keys_are_passed_over() {
        let probe = clap::Command::new("healthcheck").arg(clap::Arg::new("ready").long("ready"));
        let f = file("listen = \"0.0.0.0:1\"\nregion = \"eu-west-1\"\n");
        let given = args(&["cogsync", "healthcheck"]);
        let merged = merge(&probe, &[&command()], f.path(), &given).unwrap();
        assert_eq!(merged, given);
        let typo = file("lisen = \"0.0.0.0:1\"\n");
        assert!(merge(&probe, &[&command()], typo.path(), &given).is_err());
    }

    #[test]
    fn the_path_is_found_in_both_spellings() {
        assert_eq!(
            path_in(&args(&["x", "--config", "a.toml"])),
            Some("a.toml".into())
        );
        assert_eq!(
            path_in(&args(&["x", "--config=b.toml"])),
            Some("b.toml".into())
        );
        assert_eq!(path_in(&args(&["x", "--listen", "c"])), None);
    }
}
