//! What goes over the wire: request parameters and response bodies, in Spark
//! Job Server's shapes (camelCase job reports, kebab-case context settings)
//! so its clients work unchanged. Store rows convert into these with `From`;
//! rows are never serialised directly.

mod clusters;

pub use clusters::{CassandraBody, KafkaBody};

use crate::runtime::Problem;
use crate::scheduler::ContextReport;
use crate::store::{AppVersionRow, EntryRow, JobLogRow, JobRow};
use crate::store::{JobStatus, ServerRow};
use crate::units::HumanDuration;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Every error: `status` is `ERROR`, `VALIDATION FAILED` or `NO SLOTS AVAILABLE`,
/// `result` says what is wrong.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub status: String,
    /// A message, or for `VALIDATION FAILED` an object with `message` and `problems`.
    pub result: Value,
    /// The jobs that stand in the way, when a delete is refused with 403.
    #[serde(rename = "jobIds", skip_serializing_if = "Option::is_none")]
    pub job_ids: Option<Vec<Uuid>>,
}

/// One thing wrong with a job config.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemBody {
    /// The config path it concerns; empty for the config as a whole.
    pub path: String,
    pub message: String,
}

impl From<Problem> for ProblemBody {
    fn from(problem: Problem) -> Self {
        ProblemBody {
            path: problem.path,
            message: problem.message,
        }
    }
}

/// A success with a message: `{"status": "SUCCESS", "result": ...}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusBody {
    pub status: String,
    pub result: Value,
}

impl StatusBody {
    pub fn success(result: impl Into<Value>) -> StatusBody {
        StatusBody {
            status: "SUCCESS".into(),
            result: result.into(),
        }
    }
}

pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `GET /binaries`: one app.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BinarySummary {
    #[serde(rename = "binary-type")]
    pub binary_type: String,
    #[serde(rename = "upload-time")]
    pub upload_time: String,
}

/// An entry (Spark Job Server's class path) of a component.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryBody {
    /// What to pass as `classPath`.
    pub name: String,
    pub description: String,
}

impl From<EntryRow> for EntryBody {
    fn from(entry: EntryRow) -> Self {
        EntryBody {
            name: entry.name,
            description: entry.description,
        }
    }
}

/// One uploaded version of an app.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BinaryVersion {
    #[serde(rename = "appName")]
    pub app_name: String,
    pub version: i32,
    #[serde(rename = "binary-type")]
    pub binary_type: String,
    #[serde(rename = "upload-time")]
    pub upload_time: String,
    /// sha-256 of the content; identical uploads share it and are stored once.
    pub hash: String,
    pub size: i64,
    pub entries: Vec<EntryBody>,
}

impl From<AppVersionRow> for BinaryVersion {
    fn from(row: AppVersionRow) -> Self {
        BinaryVersion {
            app_name: row.app_name,
            version: row.version,
            binary_type: row.binary_type,
            upload_time: timestamp(row.uploaded_at),
            hash: row.blob_hash,
            size: row.size,
            entries: row.entries.into_iter().map(EntryBody::from).collect(),
        }
    }
}

/// `GET /binaries/{appName}`: the app and all its versions, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BinaryDetail {
    #[serde(rename = "appName")]
    pub app_name: String,
    #[serde(rename = "binary-type")]
    pub binary_type: String,
    /// When the newest version was uploaded.
    #[serde(rename = "upload-time")]
    pub upload_time: String,
    pub versions: Vec<BinaryVersion>,
}

/// `POST /binaries/{appName}` and `POST /jars/{appName}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadBody {
    pub status: String,
    pub result: BinaryVersion,
}

/// Query of `POST /jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubmitParams {
    /// The app to run (its name at upload). `cp` is accepted too, as newer Spark Job Server clients send it.
    #[serde(rename = "appName", alias = "cp")]
    #[param(rename = "appName")]
    pub app_name: Option<String>,
    /// The entry to run; may be omitted when the app has exactly one. `mainClass` is accepted too.
    #[serde(rename = "classPath", alias = "mainClass")]
    #[param(rename = "classPath")]
    pub class_path: Option<String>,
    /// Version of the app to run; the newest when omitted.
    #[serde(rename = "appVersion")]
    #[param(rename = "appVersion")]
    pub app_version: Option<i32>,
    /// A persistent context to run in; without it the job gets an ad-hoc context of its own.
    pub context: Option<String>,
    /// Wait for the result (`true`) or answer at once with the job id (`false`, the default);
    /// any letter case.
    pub sync: Option<String>,
    /// With `sync=true`: how long to wait, in seconds or with a unit (`30s`, `2m`). When it
    /// passes, the answer is the job's current status and the job goes on.
    pub timeout: Option<String>,
}

/// Query of `GET /jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListJobsParams {
    /// How many jobs, newest first (default 50, at most 1000).
    pub limit: Option<i64>,
    /// Only jobs with this status: STARTED, RUNNING, FINISHED, ERROR or KILLED.
    pub status: Option<String>,
}

/// Query of `POST /contexts/{name}`; the same keys may come in a HOCON or JSON body.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // only documents the parameters; they are read as pairs
pub struct ContextParams {
    /// How many of the context's jobs run at once (default 1).
    #[serde(rename = "num-cpu-cores")]
    #[param(rename = "num-cpu-cores")]
    pub num_cpu_cores: Option<u32>,
    /// Memory limit of each of its jobs, e.g. `512m` (default: the server's job memory).
    #[serde(rename = "memory-per-node")]
    #[param(rename = "memory-per-node")]
    pub memory_per_node: Option<String>,
    /// Run-time limit of each of its jobs, e.g. `30s`, `10m` (default: the server's job timeout).
    #[serde(rename = "job-timeout")]
    #[param(rename = "job-timeout")]
    pub job_timeout: Option<String>,
    /// How many of its jobs may wait for a slot before submissions get 503 (default 100).
    #[serde(rename = "max-queued-jobs")]
    #[param(rename = "max-queued-jobs")]
    pub max_queued_jobs: Option<u32>,
    /// Kafka brokers of its jobs, `host:port[,host:port]` (default: the server's). A context
    /// with brokers of its own gets none of the server's Kafka options or credentials.
    /// Options go in `kafka.options.<librdkafka option>`, such as `kafka.options.security.protocol`.
    #[serde(rename = "kafka.brokers")]
    #[param(rename = "kafka.brokers")]
    pub kafka_brokers: Option<String>,
    /// `false` turns Kafka off for its jobs.
    #[serde(rename = "kafka.enabled")]
    #[param(rename = "kafka.enabled")]
    pub kafka_enabled: Option<bool>,
    /// How long one Kafka request may take, e.g. `30s` (default: the server's).
    #[serde(rename = "kafka.timeout")]
    #[param(rename = "kafka.timeout")]
    pub kafka_timeout: Option<String>,
    /// Cassandra nodes of its jobs, `host:port[,host:port]` (default: the server's). A context
    /// with nodes of its own gets none of the server's Cassandra credentials.
    #[serde(rename = "cassandra.nodes")]
    #[param(rename = "cassandra.nodes")]
    pub cassandra_nodes: Option<String>,
    /// Keyspace of sessions that name none.
    #[serde(rename = "cassandra.keyspace")]
    #[param(rename = "cassandra.keyspace")]
    pub cassandra_keyspace: Option<String>,
    #[serde(rename = "cassandra.username")]
    #[param(rename = "cassandra.username")]
    pub cassandra_username: Option<String>,
    /// Never shown again: `GET /contexts/{name}` masks it. Better given in the body than in the URL.
    #[serde(rename = "cassandra.password")]
    #[param(rename = "cassandra.password")]
    pub cassandra_password: Option<String>,
    /// A CQL consistency level such as `LOCAL_QUORUM` or `ONE`.
    #[serde(rename = "cassandra.consistency")]
    #[param(rename = "cassandra.consistency")]
    pub cassandra_consistency: Option<String>,
    /// `false` turns Cassandra off for its jobs.
    #[serde(rename = "cassandra.enabled")]
    #[param(rename = "cassandra.enabled")]
    pub cassandra_enabled: Option<bool>,
    #[serde(rename = "cassandra.timeout")]
    #[param(rename = "cassandra.timeout")]
    pub cassandra_timeout: Option<String>,
}

/// A context's settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContextSettingsBody {
    #[serde(rename = "num-cpu-cores")]
    pub num_cpu_cores: u32,
    #[serde(rename = "memory-per-node")]
    pub memory_per_node: String,
    #[serde(rename = "job-timeout")]
    pub job_timeout: String,
    #[serde(rename = "max-queued-jobs")]
    pub max_queued_jobs: u32,
    /// The Kafka its jobs reach: its own settings or the server's.
    pub kafka: KafkaBody,
    /// The Cassandra its jobs reach.
    pub cassandra: CassandraBody,
}

/// `GET /contexts/{name}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContextBody {
    pub name: String,
    /// Always `RUNNING`: a context exists until it is deleted.
    pub state: String,
    pub settings: ContextSettingsBody,
    #[serde(rename = "startTime")]
    pub start_time: String,
    #[serde(rename = "runningJobs")]
    pub running_jobs: Vec<Uuid>,
    /// Waiting jobs, in the order they will run.
    #[serde(rename = "queuedJobs")]
    pub queued_jobs: Vec<Uuid>,
}

impl From<ContextReport> for ContextBody {
    fn from(report: ContextReport) -> Self {
        ContextBody {
            name: report.name,
            state: "RUNNING".into(),
            settings: ContextSettingsBody {
                num_cpu_cores: report.settings.num_cpu_cores,
                memory_per_node: report.settings.memory_per_node.to_string(),
                job_timeout: HumanDuration(report.settings.job_timeout).to_string(),
                max_queued_jobs: report.settings.max_queued_jobs,
                kafka: KafkaBody::from(&report.connections),
                cassandra: CassandraBody::from(&report.connections),
            },
            start_time: timestamp(report.created_at),
            running_jobs: report.running,
            queued_jobs: report.queued,
        }
    }
}

/// How far a running job says it has come.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProgressBody {
    /// From 0.0 to 1.0.
    pub fraction: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A job report, as Spark Job Server gives it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobReport {
    #[serde(rename = "jobId")]
    pub job_id: Uuid,
    /// STARTED (accepted, waiting for a slot), RUNNING, FINISHED, ERROR or KILLED.
    pub status: String,
    #[serde(rename = "classPath")]
    pub class_path: String,
    #[serde(rename = "appName")]
    pub app_name: String,
    /// The version of the app this job runs.
    #[serde(rename = "appVersion")]
    pub app_version: i32,
    pub context: String,
    /// When the job started running; when it was accepted, while it waits.
    #[serde(rename = "startTime")]
    pub start_time: String,
    #[serde(rename = "submitTime")]
    pub submit_time: String,
    #[serde(rename = "endTime", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// `"16.264 secs"`, or `"Job not done yet"`.
    pub duration: String,
    /// The job's result when FINISHED; `{"message", "errorClass"}` when it ended ERROR
    /// or KILLED; `{"jobId", "context"}` in the answer to an async submission.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressBody>,
    /// The server that runs or ran the job (`JOBSERVER_SERVER_NAME`); absent while it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

impl JobReport {
    /// A report without the result: what job lists show.
    pub fn summary(row: JobRow) -> JobReport {
        let mut report = JobReport::from(row);
        if report.status == JobStatus::Finished.as_str() {
            report.result = None;
        }
        report
    }
}

impl From<JobRow> for JobReport {
    fn from(row: JobRow) -> Self {
        let start = row.started_at.unwrap_or(row.submitted_at);
        let duration = match row.ended_at {
            Some(end) => format!("{:.3} secs", (end - start).num_milliseconds().max(0) as f64 / 1000.0),
            None => "Job not done yet".into(),
        };
        let result = match row.status {
            JobStatus::Finished => row.result,
            JobStatus::Error | JobStatus::Killed => Some(json!({
                "message": row.error_message.unwrap_or_default(),
                "errorClass": row.error_class.unwrap_or_default(),
            })),
            JobStatus::Started | JobStatus::Running => None,
        };
        let progress = match row.progress {
            Some(fraction) => Some(ProgressBody {
                fraction,
                message: row.progress_message,
            }),
            None => None,
        };
        JobReport {
            job_id: row.id,
            status: row.status.to_string(),
            class_path: row.class_path,
            app_name: row.app_name,
            app_version: row.app_version,
            context: row.context,
            start_time: timestamp(start),
            submit_time: timestamp(row.submitted_at),
            end_time: row.ended_at.map(timestamp),
            duration,
            result,
            progress,
            server: row.server_name,
        }
    }
}

/// A line a job logged.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogLineBody {
    pub time: String,
    /// TRACE, DEBUG, INFO, WARN or ERROR from the log import; STDOUT or STDERR for printed text.
    pub level: String,
    pub message: String,
}

impl From<JobLogRow> for LogLineBody {
    fn from(row: JobLogRow) -> Self {
        LogLineBody {
            time: timestamp(row.logged_at),
            level: row.level,
            message: row.message,
        }
    }
}

/// `GET /jobs/{id}/logs`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobLogsBody {
    #[serde(rename = "jobId")]
    pub job_id: Uuid,
    pub logs: Vec<LogLineBody>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthBody {
    /// `OK`, or `UNAVAILABLE` when the database does not answer.
    pub status: String,
}

/// A server of those sharing the database.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServerBody {
    pub name: String,
    /// Where clients reach it.
    pub address: String,
    #[serde(rename = "startTime")]
    pub start_time: String,
    #[serde(rename = "lastHeartbeat")]
    pub last_heartbeat: String,
    /// When it counts as gone unless it renews its lease.
    #[serde(rename = "leaseExpires")]
    pub lease_expires: String,
    /// Whether this is the server that answered.
    #[serde(rename = "thisServer")]
    pub this_server: bool,
    #[serde(rename = "runningJobs")]
    pub running_jobs: Vec<Uuid>,
}

impl ServerBody {
    pub fn from_row(row: ServerRow, answering: &str) -> ServerBody {
        ServerBody {
            this_server: row.name == answering,
            name: row.name,
            address: row.address,
            start_time: timestamp(row.started_at),
            last_heartbeat: timestamp(row.heartbeat_at),
            lease_expires: timestamp(row.expires_at),
            running_jobs: row.running_jobs,
        }
    }
}
