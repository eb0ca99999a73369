//! The jars of the JVM systems (Apache Kafka, Apache Cassandra), fetched from Maven Central
//! once per machine rather than once per run. A pom in `tests/systems/<name>/` says what to
//! fetch, and is the only place that says it: its first dependency's version names the
//! cache folder (`kafka-4.4.0/`). Maven copies the jars into a folder of this process's own
//! that is renamed into place only once complete, so an interrupted fetch leaves nothing a
//! later run would take for a finished one. The folder keeps the pom it was fetched with;
//! a pom changed since (another dependency, say) is fetched again.
//!
//! The cache is `$JOBSERVER_TEST_CACHE`, or else `~/.cache/jobserver-tests`.
//! `cargo run -p jobserver-tests --bin fetch-test-systems` fills it ahead of a test run.

use nix::sys::signal::kill;
use nix::unistd::Pid;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The oldest Java both systems run on (Kafka 4's broker needs 17).
const MIN_JAVA: u32 = 17;
/// The goal that copies a pom's dependencies, named in full: a pinned version rather than
/// whatever the local Maven's super-POM picks, and no plugin-prefix lookup, whose failure
/// offline ("No plugin found for prefix") would hide the real one (an unknown host, say).
const COPY_DEPENDENCIES: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies";

/// One system's jars, as its pom names them.
pub struct JarSet {
    /// For messages: "Apache Kafka".
    pub system: &'static str,
    /// The pom's folder under `tests/systems/`, and the cache folder's prefix.
    pub name: &'static str,
    pom: &'static str,
}

impl JarSet {
    pub const KAFKA: JarSet = JarSet {
        system: "Apache Kafka",
        name: "kafka",
        pom: include_str!("../../systems/kafka/pom.xml"),
    };
    pub const CASSANDRA: JarSet = JarSet {
        system: "Cassandra",
        name: "cassandra",
        pom: include_str!("../../systems/cassandra/pom.xml"),
    };
    pub const ALL: [&'static JarSet; 2] = [&JarSet::KAFKA, &JarSet::CASSANDRA];

    /// `group:artifact:version` of the pom's first dependency, the system itself.
    pub fn coordinates(&self) -> String {
        let dependency = self
            .pom
            .split("<dependency>")
            .nth(1)
            .and_then(|rest| rest.split("</dependency>").next())
            .unwrap_or_else(|| panic!("the pom of {} has no <dependency>", self.name));
        let field = |tag: &str| {
            dependency
                .split(&format!("<{tag}>"))
                .nth(1)
                .and_then(|rest| rest.split(&format!("</{tag}>")).next())
                .map(str::trim)
                .unwrap_or_else(|| panic!("the first dependency in the pom of {} has no <{tag}>", self.name))
        };
        format!("{}:{}:{}", field("groupId"), field("artifactId"), field("version"))
    }

    fn version(&self) -> String {
        let coordinates = self.coordinates();
        coordinates.rsplit(':').next().unwrap_or_default().to_string()
    }

    /// Where the jars are kept: `<cache>/<name>-<version>`.
    pub fn folder(&self) -> PathBuf {
        cache_dir().join(format!("{}-{}", self.name, self.version()))
    }

    /// The folder of jars, fetched first if it is not cached yet. `Err` says why this
    /// machine cannot have them (no Maven, Maven Central out of reach): a reason to skip.
    pub fn fetch(&self) -> Result<PathBuf, String> {
        let folder = self.folder();
        if self.is_complete(&folder) {
            return Ok(folder);
        }
        let cache = cache_dir();
        fs::create_dir_all(&cache)
            .map_err(|error| format!("cannot create the jar cache {}: {error}", cache.display()))?;
        let base = folder.file_name().unwrap_or_default().to_string_lossy().into_owned();
        remove_leftovers(&cache, &base);
        let partial = cache.join(format!(".{base}.partial-{}", std::process::id()));
        // Inside the fetch, so that concurrent fetches do not share it; a failed fetch's
        // is moved out, next to the folder, for the skip message to point at.
        let log = partial.join("fetch.log");
        let failed_log = cache.join(format!("{base}.fetch.log"));
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir_all(&partial).map_err(|error| format!("cannot create {}: {error}", partial.display()))?;
        let pom = partial.join("pom.xml");
        fs::write(&pom, self.pom).map_err(|error| format!("cannot write {}: {error}", pom.display()))?;

        let Some(mvn) = super::process::on_path("mvn") else {
            let _ = fs::remove_dir_all(&partial);
            return Err(format!(
                "Maven is not installed (no `mvn` on PATH) and the jars are not cached in {}: \
                 install maven (apt-get install maven)",
                folder.display()
            ));
        };
        let log_file = fs::File::create(&log).map_err(|error| format!("cannot create {}: {error}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|error| format!("cannot share {}: {error}", log.display()))?;
        let status = Command::new(&mvn)
            .args(["--batch-mode", "-Dstyle.color=never", "--file"])
            .arg(&pom)
            .arg(COPY_DEPENDENCIES)
            .arg(format!("-DoutputDirectory={}", partial.display()))
            .arg("-DincludeScope=runtime")
            .current_dir(&partial)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .status();
        let outcome = match status {
            Ok(status) if status.success() => Ok(()),
            Ok(_) => Err(format!(
                "Maven Central did not serve {} ({}; see {})",
                self.coordinates(),
                first_error(&log),
                failed_log.display()
            )),
            Err(error) => Err(format!("cannot run {}: {error}", mvn.display())),
        };
        if let Err(reason) = outcome {
            let _ = fs::rename(&log, &failed_log);
            let _ = fs::remove_dir_all(&partial);
            return Err(reason);
        }
        self.install(&partial, &folder)?;
        Ok(folder)
    }

    /// A folder is complete when it holds the pom it was fetched with (written before the
    /// fetch, but the folder only gets its name after) and that pom is this one.
    fn is_complete(&self, folder: &Path) -> bool {
        fs::read_to_string(folder.join("pom.xml")).is_ok_and(|pom| pom == self.pom)
    }

    /// Renames a finished fetch into place. Another test process may have got there first,
    /// which is as good; a folder fetched with an older pom is moved aside and removed.
    fn install(&self, partial: &Path, folder: &Path) -> Result<(), String> {
        if fs::rename(partial, folder).is_ok() {
            return Ok(());
        }
        if self.is_complete(folder) {
            let _ = fs::remove_dir_all(partial);
            return Ok(());
        }
        let old = partial.with_file_name(format!(
            ".{}.old-{}",
            folder.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let moved = fs::rename(folder, &old).and_then(|()| fs::rename(partial, folder));
        let _ = fs::remove_dir_all(&old);
        moved.map_err(|error| format!("cannot move the jars into {}: {error}", folder.display()))
    }
}

/// `$JOBSERVER_TEST_CACHE`, or `~/.cache/jobserver-tests`, or (without a home) a folder in
/// the temporary directory.
fn cache_dir() -> PathBuf {
    match (std::env::var_os("JOBSERVER_TEST_CACHE"), std::env::var_os("HOME")) {
        (Some(cache), _) if !cache.is_empty() => PathBuf::from(cache),
        (_, Some(home)) if !home.is_empty() => Path::new(&home).join(".cache/jobserver-tests"),
        _ => std::env::temp_dir().join("jobserver-tests-cache"),
    }
}

/// Removes the half-done fetches (`.<base>.partial-<pid>`, `.<base>.old-<pid>`) of
/// processes that are gone.
fn remove_leftovers(cache: &Path, base: &str) {
    let Ok(entries) = fs::read_dir(cache) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = [".partial-", ".old-"]
            .iter()
            .find_map(|kind| name.strip_prefix(&format!(".{base}{kind}")))
            .and_then(|pid| pid.parse::<i32>().ok());
        if let Some(pid) = pid
            && kill(Pid::from_raw(pid), None).is_err()
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The gist of a failed Maven run: its first `[ERROR]` line, or of a failed download only
/// the cause (`Unknown host repo.maven.apache.org: Temporary failure in name resolution`)
/// without the chain of what could not be read because of it.
fn first_error(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let Some(error) = text.lines().find_map(|line| line.strip_prefix("[ERROR] ")) else {
        return "no [ERROR] line".to_string();
    };
    let error = error.trim_end_matches(" -> [Help 1]");
    error
        .split_once("transfer failed for ")
        .and_then(|(_, url_and_cause)| url_and_cause.split_once(": "))
        .map_or(error, |(_url, cause)| cause)
        .to_string()
}

/// The `java` to run the systems with, `$JAVA_HOME/bin/java` or else the one on `PATH`, if
/// it is Java 17 or newer. `Err` says what is missing: a reason to skip.
pub fn java() -> Result<PathBuf, String> {
    let java = std::env::var_os("JAVA_HOME")
        .map(|home| Path::new(&home).join("bin/java"))
        .filter(|java| java.is_file())
        .or_else(|| super::process::on_path("java"))
        .ok_or_else(|| {
            "no Java runtime (no `java` on PATH or in JAVA_HOME): install Java 17 or newer \
             (apt-get install openjdk-17-jre-headless)"
                .to_string()
        })?;
    let output = Command::new(&java)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {}: {error}", java.display()))?;
    // `openjdk version "17.0.15" 2025-04-15`; Java 8 and older said "1.8.0_402".
    let banner = String::from_utf8_lossy(&output.stderr);
    let version = banner.split('"').nth(1).unwrap_or_default();
    let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
    let major = match parts.next() {
        Some(1) => parts.next().unwrap_or(0),
        other => other.unwrap_or(0),
    };
    if !output.status.success() || major < MIN_JAVA {
        let first_line = banner.lines().next().unwrap_or("no version banner");
        return Err(format!(
            "{} is not Java {MIN_JAVA} or newer ({first_line}): install openjdk-17-jre-headless or set JAVA_HOME",
            java.display()
        ));
    }
    Ok(java)
}

/// The class path of every jar in `folder`, as the JVM's wildcard.
pub(super) fn classpath(folder: &Path) -> String {
    format!("{}/*", folder.display())
}

/// The one jar in `folder` whose name starts with `prefix` (`jamm-` for Cassandra's agent).
pub(super) fn jar_named(folder: &Path, prefix: &str) -> PathBuf {
    fs::read_dir(folder)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", folder.display()))
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name().is_some_and(|name| {
                name.to_string_lossy().starts_with(prefix) && name.to_string_lossy().ends_with(".jar")
            })
        })
        .unwrap_or_else(|| panic!("no {prefix}*.jar in {}", folder.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poms_name_their_systems() {
        assert_eq!(JarSet::KAFKA.coordinates(), "org.apache.kafka:kafka_2.13:4.4.0");
        assert_eq!(
            JarSet::CASSANDRA.coordinates(),
            "org.apache.cassandra:cassandra-all:5.0.9"
        );
        assert!(JarSet::KAFKA.folder().ends_with("kafka-4.4.0"));
    }
}
