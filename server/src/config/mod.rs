//! Typed settings, one struct per subsystem. Each setting has a default and can
//! be given in a HOCON config file (under `jobserver { ... }`, so one
//! application.conf can hold other tools' settings too), in the environment, or
//! as a flag; a flag beats the environment, which beats the file.

mod clusters;

pub use clusters::{
    CassandraDefaults, ClusterArgs, ClusterDefaults, KafkaDefaults, KafkaOptions, MASK, Secret, flatten_options,
    is_secret_option, nodes_of, split_nodes,
};

use crate::hocon;
use crate::units::{ByteSize, HumanDuration};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The resolved settings of one server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port` to listen on.
    pub listen: String,
    pub data_dir: PathBuf,
    /// Where compiled components are cached, by content hash.
    pub cache_dir: PathBuf,
    /// `None`: local mode, a private PostgreSQL in `data_dir/postgres`.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    /// The name this server goes by among those sharing the database: in
    /// job reports and `GET /servers`. `None`: its host name and port.
    pub server_name: Option<String>,
    /// How long a server that stops renewing its lease counts as alive;
    /// renewed every third of it.
    pub server_lease: Duration,
    pub limits: Limits,
    pub scheduling: Scheduling,
    /// Ended jobs older than this are purged.
    pub job_retention: Duration,
    pub log_format: LogFormat,
    /// The Kafka and Cassandra jobs reach unless their context says otherwise.
    pub clusters: ClusterDefaults,
}

/// What a job, an upload or a request may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Run time of a job whose context does not set `job-timeout`.
    pub job_timeout: Duration,
    /// Memory of a job whose context does not set `memory-per-node`.
    pub job_memory: ByteSize,
    /// The most `memory-per-node` a context may ask for.
    pub max_job_memory: ByteSize,
    pub result_max_size: ByteSize,
    pub upload_max_size: ByteSize,
    /// Job configs and context settings sent as request bodies.
    pub request_max_size: ByteSize,
    /// What one job may log before further lines are dropped.
    pub job_log_max_size: ByteSize,
    /// How long `sync=true` waits when the request gives no `timeout`.
    pub sync_timeout: Duration,
    /// Largest named object a job may store.
    pub named_object_max_size: ByteSize,
    /// How many named objects one context may hold.
    pub named_objects_per_context: u32,
}

/// How many jobs run at once and how many may wait.
#[derive(Debug, Clone)]
pub struct Scheduling {
    /// Jobs without a context run at most this many at once, all together.
    pub adhoc_max_running: usize,
    pub adhoc_max_queued: usize,
    /// `num-cpu-cores` of a context that does not set it.
    pub context_num_cpu_cores: u32,
    /// Queue length of a context that does not set `max-queued-jobs`.
    pub context_max_queued_jobs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        let data_dir = PathBuf::from("jobserver-data");
        Settings {
            listen: "127.0.0.1:8090".into(),
            cache_dir: data_dir.join("compiled"),
            data_dir,
            database_url: None,
            database_max_connections: 20,
            server_name: None,
            server_lease: Duration::from_secs(30),
            limits: Limits {
                job_timeout: Duration::from_secs(600),
                job_memory: ByteSize::mib(256),
                max_job_memory: ByteSize::gib(4),
                result_max_size: ByteSize::mib(10),
                upload_max_size: ByteSize::mib(100),
                request_max_size: ByteSize::mib(1),
                job_log_max_size: ByteSize::mib(1),
                sync_timeout: Duration::from_secs(60),
                named_object_max_size: ByteSize::mib(16),
                named_objects_per_context: 10_000,
            },
            scheduling: Scheduling {
                adhoc_max_running: 4,
                adhoc_max_queued: 100,
                context_num_cpu_cores: 1,
                context_max_queued_jobs: 100,
            },
            job_retention: Duration::from_secs(7 * 86_400),
            log_format: LogFormat::Text,
            clusters: ClusterDefaults::default(),
        }
    }
}

/// The settings as flags and environment variables (`jobserver serve --help`).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct SettingsArgs {
    /// HOCON config file, like Spark Job Server's application.conf; settings go
    /// under `jobserver { ... }` with the flag names below as keys (`listen`,
    /// `data-dir`, `limits { job-timeout = 10m }`, ...: see the README).
    #[arg(long, env = "JOBSERVER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, `host:port` or just a port [default: 127.0.0.1:8090].
    #[arg(long, env = "JOBSERVER_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for local mode's PostgreSQL and the compiled-component cache
    /// [default: ./jobserver-data].
    #[arg(long, env = "JOBSERVER_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Cache of compiled components [default: DATA_DIR/compiled].
    #[arg(long, env = "JOBSERVER_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Postgres to use; without it the server runs a private PostgreSQL (local mode).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Run time of a job whose context sets no `job-timeout` [default: 10m].
    #[arg(long, env = "JOBSERVER_JOB_TIMEOUT", value_name = "DURATION")]
    pub job_timeout: Option<HumanDuration>,
    /// Memory of a job whose context sets no `memory-per-node` [default: 256m].
    #[arg(long, env = "JOBSERVER_JOB_MEMORY", value_name = "SIZE")]
    pub job_memory: Option<ByteSize>,
    /// Largest `memory-per-node` a context may set [default: 4g].
    #[arg(long, env = "JOBSERVER_MAX_JOB_MEMORY", value_name = "SIZE")]
    pub max_job_memory: Option<ByteSize>,
    /// Largest job result; a larger one ends the job ERROR [default: 10m].
    #[arg(long, env = "JOBSERVER_RESULT_MAX_SIZE", value_name = "SIZE")]
    pub result_max_size: Option<ByteSize>,
    /// Largest artifact upload; a larger one is refused with 413 [default: 100m].
    #[arg(long, env = "JOBSERVER_UPLOAD_MAX_SIZE", value_name = "SIZE")]
    pub upload_max_size: Option<ByteSize>,
    /// Largest job config or context settings body [default: 1m].
    #[arg(long, env = "JOBSERVER_REQUEST_MAX_SIZE", value_name = "SIZE")]
    pub request_max_size: Option<ByteSize>,
    /// What one job may log; later lines are dropped [default: 1m].
    #[arg(long, env = "JOBSERVER_JOB_LOG_MAX_SIZE", value_name = "SIZE")]
    pub job_log_max_size: Option<ByteSize>,
    /// How long `sync=true` waits without a `timeout` parameter [default: 60s].
    #[arg(long, env = "JOBSERVER_SYNC_TIMEOUT", value_name = "DURATION")]
    pub sync_timeout: Option<HumanDuration>,
    /// Largest named object a job may store [default: 16m].
    #[arg(long, env = "JOBSERVER_NAMED_OBJECT_MAX_SIZE", value_name = "SIZE")]
    pub named_object_max_size: Option<ByteSize>,
    /// How many named objects one context may hold [default: 10000].
    #[arg(long, env = "JOBSERVER_NAMED_OBJECTS_PER_CONTEXT", value_name = "N")]
    pub named_objects_per_context: Option<u32>,
    /// Ended jobs older than this are purged [default: 7d].
    #[arg(long, env = "JOBSERVER_JOB_RETENTION", value_name = "DURATION")]
    pub job_retention: Option<HumanDuration>,
    /// Jobs without a context that run at once [default: 4].
    #[arg(long, env = "JOBSERVER_ADHOC_MAX_RUNNING", value_name = "N")]
    pub adhoc_max_running: Option<usize>,
    /// Jobs without a context that may wait for a slot [default: 100].
    #[arg(long, env = "JOBSERVER_ADHOC_MAX_QUEUED", value_name = "N")]
    pub adhoc_max_queued: Option<usize>,
    /// `num-cpu-cores` of a context that does not set it [default: 1].
    #[arg(long, env = "JOBSERVER_CONTEXT_NUM_CPU_CORES", value_name = "N")]
    pub context_num_cpu_cores: Option<u32>,
    /// Queue length of a context that does not set `max-queued-jobs` [default: 100].
    #[arg(long, env = "JOBSERVER_CONTEXT_MAX_QUEUED_JOBS", value_name = "N")]
    pub context_max_queued_jobs: Option<u32>,
    /// Database connections to keep at most [default: 20].
    #[arg(long, env = "JOBSERVER_DATABASE_MAX_CONNECTIONS", value_name = "N")]
    pub database_max_connections: Option<u32>,
    /// This server's name among those sharing the database [default: HOST:PORT].
    #[arg(long, env = "JOBSERVER_SERVER_NAME", value_name = "NAME")]
    pub server_name: Option<String>,
    /// How long a server that stops renewing its lease counts as alive; then
    /// the others end its running jobs ERROR and run its waiting ones [default: 30s].
    #[arg(long, env = "JOBSERVER_SERVER_LEASE", value_name = "DURATION")]
    pub server_lease: Option<HumanDuration>,
    /// Log format on stderr [default: text].
    #[arg(long, env = "JOBSERVER_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// The `jobserver { ... }` block of a config file; the same names as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_max_connections: Option<u32>,
    log_format: Option<LogFormat>,
    job_retention: Option<HumanDuration>,
    server_name: Option<String>,
    server_lease: Option<HumanDuration>,
    limits: FileLimits,
    adhoc: FileAdhoc,
    contexts: FileContexts,
    kafka: clusters::FileKafka,
    cassandra: clusters::FileCassandra,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct FileLimits {
    job_timeout: Option<HumanDuration>,
    job_memory: Option<ByteSize>,
    max_job_memory: Option<ByteSize>,
    result_max_size: Option<ByteSize>,
    upload_max_size: Option<ByteSize>,
    request_max_size: Option<ByteSize>,
    job_log_max_size: Option<ByteSize>,
    sync_timeout: Option<HumanDuration>,
    named_object_max_size: Option<ByteSize>,
    named_objects_per_context: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct FileAdhoc {
    max_running: Option<usize>,
    max_queued: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct FileContexts {
    num_cpu_cores: Option<u32>,
    max_queued_jobs: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}, {source}")]
    Parse { path: PathBuf, source: hocon::ParseError },
    #[error("config file {path}: setting jobserver.{setting}: {message}")]
    Setting {
        path: PathBuf,
        setting: String,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl SettingsArgs {
    /// Defaults, then the config file, then the environment and flags.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let mut settings = Settings::default();
        let data_dir = self.data_dir.clone().or(file.data_dir);
        if let Some(dir) = data_dir {
            settings.cache_dir = dir.join("compiled");
            settings.data_dir = dir;
        }
        if let Some(dir) = self.cache_dir.clone().or(file.cache_dir) {
            settings.cache_dir = dir;
        }
        if let Some(listen) = self.listen.clone().or(file.listen) {
            settings.listen = normalise_listen(&listen)?;
        }
        set(
            &mut settings.database_url,
            self.database_url.clone().or(file.database_url).map(Some),
        );
        set(
            &mut settings.database_max_connections,
            self.database_max_connections.or(file.database_max_connections),
        );
        set(&mut settings.log_format, self.log_format.or(file.log_format));
        set(
            &mut settings.job_retention,
            self.job_retention.or(file.job_retention).map(|d| d.0),
        );
        set(
            &mut settings.server_name,
            self.server_name.clone().or(file.server_name).map(Some),
        );
        if settings
            .server_name
            .as_deref()
            .is_some_and(|name| name.trim().is_empty() || name.len() > 200)
        {
            return Err(ConfigError::Invalid(
                "server-name must be from 1 to 200 characters long".into(),
            ));
        }
        set(
            &mut settings.server_lease,
            self.server_lease.or(file.server_lease).map(|d| d.0),
        );
        if settings.server_lease < Duration::from_secs(1) {
            return Err(ConfigError::Invalid(format!(
                "server-lease must be at least 1s, not {}",
                HumanDuration(settings.server_lease)
            )));
        }

        let limits = &mut settings.limits;
        set(
            &mut limits.job_timeout,
            self.job_timeout.or(file.limits.job_timeout).map(|d| d.0),
        );
        set(&mut limits.job_memory, self.job_memory.or(file.limits.job_memory));
        set(
            &mut limits.max_job_memory,
            self.max_job_memory.or(file.limits.max_job_memory),
        );
        set(
            &mut limits.result_max_size,
            self.result_max_size.or(file.limits.result_max_size),
        );
        set(
            &mut limits.upload_max_size,
            self.upload_max_size.or(file.limits.upload_max_size),
        );
        set(
            &mut limits.request_max_size,
            self.request_max_size.or(file.limits.request_max_size),
        );
        set(
            &mut limits.job_log_max_size,
            self.job_log_max_size.or(file.limits.job_log_max_size),
        );
        set(
            &mut limits.sync_timeout,
            self.sync_timeout.or(file.limits.sync_timeout).map(|d| d.0),
        );

        set(
            &mut limits.named_object_max_size,
            self.named_object_max_size.or(file.limits.named_object_max_size),
        );
        set(
            &mut limits.named_objects_per_context,
            self.named_objects_per_context.or(file.limits.named_objects_per_context),
        );

        let scheduling = &mut settings.scheduling;
        set(
            &mut scheduling.adhoc_max_running,
            self.adhoc_max_running.or(file.adhoc.max_running),
        );
        set(
            &mut scheduling.adhoc_max_queued,
            self.adhoc_max_queued.or(file.adhoc.max_queued),
        );
        set(
            &mut scheduling.context_num_cpu_cores,
            self.context_num_cpu_cores.or(file.contexts.num_cpu_cores),
        );
        set(
            &mut scheduling.context_max_queued_jobs,
            self.context_max_queued_jobs.or(file.contexts.max_queued_jobs),
        );
        settings.clusters = self.clusters.resolve(file.kafka, file.cassandra)?;
        settings.check()?;
        Ok(settings)
    }
}

impl Settings {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.into()));
        if self.limits.job_timeout.is_zero() {
            return invalid("job-timeout must be longer than zero");
        }
        if self.limits.job_memory > self.limits.max_job_memory {
            return invalid("job-memory must not be more than max-job-memory");
        }
        if self.limits.job_memory < ByteSize::mib(1) {
            return invalid("job-memory must be at least 1m");
        }
        if self.limits.result_max_size.0 == 0
            || self.limits.upload_max_size.0 == 0
            || self.limits.request_max_size.0 == 0
        {
            return invalid("result-max-size, upload-max-size and request-max-size must be more than zero");
        }
        if self.scheduling.adhoc_max_running == 0 {
            return invalid("adhoc max-running must be at least 1");
        }
        if self.scheduling.context_num_cpu_cores == 0 {
            return invalid("contexts num-cpu-cores must be at least 1");
        }
        if self.database_max_connections < 2 {
            return invalid("database-max-connections must be at least 2");
        }
        Ok(())
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

/// `8090` alone means port 8090 on the loopback address.
fn normalise_listen(listen: &str) -> Result<String, ConfigError> {
    let listen = listen.trim();
    if let Ok(port) = listen.parse::<u16>() {
        return Ok(format!("127.0.0.1:{port}"));
    }
    match listen.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(listen.to_string()),
        _ => Err(ConfigError::Invalid(format!(
            "listen address '{listen}' is not host:port (for example 0.0.0.0:8090) or a port"
        ))),
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let document = hocon::parse_config_file(&text, dir).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let section = document.get("jobserver").cloned().unwrap_or_default();
    let section = if section.is_null() {
        serde_json::json!({})
    } else {
        section
    };
    serde_path_to_error::deserialize(section).map_err(|error| ConfigError::Setting {
        path: path.to_owned(),
        setting: error.path().to_string(),
        message: error.into_inner().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn defaults_apply_without_file_or_flags() {
        let settings = SettingsArgs::default().resolve().unwrap();
        assert_eq!(settings.listen, "127.0.0.1:8090");
        assert_eq!(settings.cache_dir, PathBuf::from("jobserver-data/compiled"));
        assert_eq!(settings.limits.job_memory, ByteSize::mib(256));
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let file = config_file(
            "spark.home = /opt/spark\n\
             jobserver {\n  listen = \"0.0.0.0:9000\"\n  data-dir = /var/lib/js\n\
               limits { job-timeout = 30 seconds, job-memory = 128m }\n  adhoc.max-running = 2\n}\n",
        );
        let args = SettingsArgs {
            config: Some(file.path().to_owned()),
            job_memory: Some(ByteSize::mib(64)),
            ..SettingsArgs::default()
        };
        let settings = args.resolve().unwrap();
        assert_eq!(settings.listen, "0.0.0.0:9000");
        assert_eq!(settings.data_dir, PathBuf::from("/var/lib/js"));
        assert_eq!(settings.cache_dir, PathBuf::from("/var/lib/js/compiled"));
        assert_eq!(settings.limits.job_timeout, Duration::from_secs(30));
        assert_eq!(settings.limits.job_memory, ByteSize::mib(64));
        assert_eq!(settings.scheduling.adhoc_max_running, 2);
    }

    #[test]
    fn file_errors_name_the_setting_or_the_position() {
        let file = config_file("jobserver {\n  limits { job-timout = 5s }\n}\n");
        let args = SettingsArgs {
            config: Some(file.path().to_owned()),
            ..SettingsArgs::default()
        };
        let message = args.resolve().unwrap_err().to_string();
        assert!(message.contains("jobserver.limits"), "{message}");
        assert!(message.contains("job-timout"), "{message}");

        let file = config_file("jobserver {\n  limits { job-memory = lots }\n}\n");
        let args = SettingsArgs {
            config: Some(file.path().to_owned()),
            ..SettingsArgs::default()
        };
        let message = args.resolve().unwrap_err().to_string();
        assert!(
            message.contains("limits.job-memory") && message.contains("not a size"),
            "{message}"
        );

        let file = config_file("jobserver {\n  listen = \n");
        let args = SettingsArgs {
            config: Some(file.path().to_owned()),
            ..SettingsArgs::default()
        };
        let message = args.resolve().unwrap_err().to_string();
        assert!(message.contains("line "), "{message}");
    }

    #[test]
    fn listen_accepts_a_bare_port() {
        assert_eq!(normalise_listen("9001").unwrap(), "127.0.0.1:9001");
        assert_eq!(normalise_listen("[::1]:9001").unwrap(), "[::1]:9001");
        assert!(normalise_listen("nonsense").is_err());
    }

    #[test]
    fn inconsistent_limits_are_refused() {
        let args = SettingsArgs {
            job_memory: Some(ByteSize::gib(8)),
            ..SettingsArgs::default()
        };
        assert!(args.resolve().unwrap_err().to_string().contains("max-job-memory"));
    }
}
