//! The machine's load, printed at the start and end of every benchmark so that a reader can
//! tell a quiet run from a busy one.

/// Prints the load average (1, 5 and 15 minutes) from `/proc/loadavg`.
pub fn print_load(when: &str) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "load average at the {when} (1, 5, 15 min): {}",
        fields.join(" ")
    );
}
