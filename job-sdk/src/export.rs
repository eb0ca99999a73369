//! The run-time half of [`export_jobs!`](crate::export_jobs): the macro only
//! lists the jobs and wires the component's exports to the functions here,
//! which keeps its expansion small and lets these be tested natively.

use serde_json::Value;

use crate::__private::bindings::jobserver::job::types as wit;
use crate::{Config, Job, JobError, Problem};

/// One listed job, with its trait's items turned into values so that the
/// jobs of a component fit in one array.
#[doc(hidden)]
pub struct JobEntry {
    name: &'static str,
    description: &'static str,
    validate: fn(&Config) -> Result<(), Vec<Problem>>,
    run: fn(&Config) -> Result<Value, JobError>,
}

impl JobEntry {
    pub const fn of<J: Job>() -> Self {
        Self {
            name: J::NAME,
            description: J::DESCRIPTION,
            validate: J::validate,
            run: J::run,
        }
    }
}

/// Fails the build when two listed jobs share a name, since the server could
/// only ever reach the first of them.
pub const fn assert_unique_names(jobs: &[JobEntry]) {
    let mut i = 0;
    while i < jobs.len() {
        assert!(!jobs[i].name.is_empty(), "export_jobs!: a job's NAME is empty");
        let mut j = i + 1;
        while j < jobs.len() {
            assert!(
                !same(jobs[i].name, jobs[j].name),
                "export_jobs!: two of the jobs have the same NAME; entry names must be unique"
            );
            j += 1;
        }
        i += 1;
    }
}

/// `==` on `str` is not usable in a `const fn` yet.
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

pub fn entries(jobs: &[JobEntry]) -> Vec<wit::Entry> {
    jobs.iter()
        .map(|job| wit::Entry {
            name: job.name.to_owned(),
            description: job.description.to_owned(),
        })
        .collect()
}

pub fn validate(jobs: &[JobEntry], entry: &str, config: &str) -> Result<(), Vec<wit::Problem>> {
    let to_wit = |problems: Vec<Problem>| problems.into_iter().map(wit::Problem::from).collect();
    let job = find(jobs, entry).map_err(|problem| to_wit(vec![problem]))?;
    let config = Config::from_json(config).map_err(|problem| to_wit(vec![problem]))?;
    (job.validate)(&config).map_err(to_wit)
}

pub fn run(jobs: &[JobEntry], entry: &str, config: &str) -> Result<String, wit::JobError> {
    let job = find(jobs, entry).map_err(JobError::from)?;
    let config = Config::from_json(config).map_err(JobError::from)?;
    let result = (job.run)(&config)?;
    Ok(result.to_string())
}

impl From<JobError> for wit::JobError {
    fn from(error: JobError) -> Self {
        Self {
            class: error.class().to_owned(),
            message: error.message().to_owned(),
        }
    }
}

fn find<'a>(jobs: &'a [JobEntry], entry: &str) -> Result<&'a JobEntry, Problem> {
    jobs.iter().find(|job| job.name == entry).ok_or_else(|| {
        let names: Vec<&str> = jobs.iter().map(|job| job.name).collect();
        Problem::whole(format!(
            "no entry named {entry}; this component has: {}",
            names.join(", ")
        ))
    })
}

impl From<Problem> for wit::Problem {
    fn from(problem: Problem) -> Self {
        Self {
            path: problem.path,
            message: problem.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Hello;

    impl Job for Hello {
        const NAME: &'static str = "hello";
        const DESCRIPTION: &'static str = "Greets config.name";

        fn validate(config: &Config) -> Result<(), Vec<Problem>> {
            config.str("name")?;
            Ok(())
        }

        fn run(config: &Config) -> Result<Value, JobError> {
            Ok(json!({"greeting": format!("hello {}", config.str("name")?)}))
        }
    }

    struct Fails;

    impl Job for Fails {
        const NAME: &'static str = "fails";
        const DESCRIPTION: &'static str = "Always fails";

        fn run(_: &Config) -> Result<Value, JobError> {
            Err(JobError::with_class("BadInput", "on purpose"))
        }
    }

    const JOBS: &[JobEntry] = &[JobEntry::of::<Hello>(), JobEntry::of::<Fails>()];
    const _: () = assert_unique_names(JOBS);

    fn problems(result: Result<(), Vec<wit::Problem>>) -> Vec<(String, String)> {
        result.unwrap_err().into_iter().map(|p| (p.path, p.message)).collect()
    }

    #[test]
    fn entries_in_listed_order() {
        let entries: Vec<(String, String)> = entries(JOBS).into_iter().map(|e| (e.name, e.description)).collect();
        assert_eq!(
            entries,
            [
                ("hello".to_owned(), "Greets config.name".to_owned()),
                ("fails".to_owned(), "Always fails".to_owned()),
            ]
        );
    }

    #[test]
    fn validate_dispatches_by_entry_name() {
        assert!(validate(JOBS, "hello", r#"{"name": "x"}"#).is_ok());
        assert!(validate(JOBS, "fails", "{}").is_ok(), "default accepts all");
        assert_eq!(
            problems(validate(JOBS, "hello", "{}")),
            [("name".to_owned(), "is required".to_owned())]
        );
    }

    #[test]
    fn unknown_entry_lists_the_known_ones() {
        let expected = "no entry named nope; this component has: hello, fails";
        assert_eq!(
            problems(validate(JOBS, "nope", "{}")),
            [(String::new(), expected.to_owned())]
        );
        assert_eq!(run(JOBS, "nope", "{}").unwrap_err().message, expected);
    }

    #[test]
    fn invalid_json_is_reported() {
        let found = problems(validate(JOBS, "hello", "{name"));
        assert_eq!(found.len(), 1);
        assert!(found[0].1.starts_with("config is not valid JSON"), "{found:?}");
        let error = run(JOBS, "hello", "{name").unwrap_err().message;
        assert!(error.starts_with("config is not valid JSON"), "{error}");
    }

    #[test]
    fn run_serialises_the_result_or_passes_the_error() {
        assert_eq!(
            run(JOBS, "hello", r#"{"name": "x"}"#),
            Ok(r#"{"greeting":"hello x"}"#.to_owned())
        );
        let error = |entry, config| {
            let error = run(JOBS, entry, config).unwrap_err();
            (error.class, error.message)
        };
        assert_eq!(
            error("hello", "{}"),
            ("JobError".to_owned(), "name: is required".to_owned())
        );
        assert_eq!(error("fails", "{}"), ("BadInput".to_owned(), "on purpose".to_owned()));
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same("ab", "ab"));
        assert!(!same("ab", "abc"));
        assert!(!same("ab", "ac"));
    }
}
