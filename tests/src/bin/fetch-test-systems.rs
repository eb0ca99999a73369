//! Gets this machine ready to run the systems the end-to-end tests start: checks for Java
//! and fetches the jars of Apache Kafka and Cassandra from Maven Central into the tests'
//! cache, by the same code the tests use, so that CI fails here, saying what is missing,
//! rather than skipping those tests. Tansu is only reported: without it its tests skip.
//!
//! `cargo run -p jobserver-tests --bin fetch-test-systems`

use jobserver_tests::systems::{JarSet, java};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut ready = true;
    match java() {
        Ok(java) => println!("java: {}", java.display()),
        Err(reason) => {
            eprintln!("java: {reason}");
            ready = false;
        }
    }
    for jars in JarSet::ALL {
        match jars.fetch() {
            Ok(folder) => println!("{} ({}): {}", jars.system, jars.coordinates(), folder.display()),
            Err(reason) => {
                eprintln!("{}: {reason}", jars.system);
                ready = false;
            }
        }
    }
    match jobserver_tests::systems::tansu_executable() {
        Some(tansu) => println!("tansu: {}", tansu.display()),
        None => println!("tansu: not on PATH; the tests skip Tansu"),
    }
    if ready { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
