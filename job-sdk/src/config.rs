//! A job's config and what can be wrong with it.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The config a job was submitted with: a JSON object (HOCON request bodies
/// reach the job already turned into JSON).
///
/// Paths are dotted: `input.string` finds `{"input": {"string": ..}}` and also
/// a literal top-level key `{"input.string": ..}`, because clients send both
/// shapes. A `null` value counts as absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    value: Value,
}

impl Config {
    /// Wraps a JSON value; handy for calling a job's `run` in unit tests.
    /// Paths find nothing in a value that is not an object.
    pub fn new(value: Value) -> Self {
        Self { value }
    }

    /// Parses the JSON text the host passes to a job.
    pub fn from_json(json: &str) -> Result<Self, Problem> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| Problem::whole(format!("config is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(Problem::whole(format!(
                "config must be a JSON object, not {}",
                kind_of(&value)
            )));
        }
        Ok(Self { value })
    }

    /// The whole config as JSON.
    pub fn raw(&self) -> &Value {
        &self.value
    }

    /// The value at `path`, `null` included; the empty path is the whole
    /// config.
    pub fn value(&self, path: &str) -> Option<&Value> {
        if path.is_empty() {
            Some(&self.value)
        } else {
            lookup(&self.value, path)
        }
    }

    /// The value at `path`, converted to `T`; a problem when it is missing
    /// (or `null`) or has the wrong type.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Problem> {
        self.get_opt(path)?.ok_or_else(|| Problem::new(path, "is required"))
    }

    /// Like [`get`](Self::get), but `None` when the value is missing.
    pub fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, Problem> {
        match self.value(path) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::deserialize(value)
                .map(Some)
                .map_err(|e| Problem::new(path, type_message(value, &e))),
        }
    }

    /// Like [`get`](Self::get), but `default` when the value is missing. A
    /// value of the wrong type is still a problem: silently ignoring it would
    /// run the job with a setting the user did not ask for.
    pub fn get_or<T: DeserializeOwned>(&self, path: &str, default: T) -> Result<T, Problem> {
        Ok(self.get_opt(path)?.unwrap_or(default))
    }

    /// The string at `path`, borrowed from the config.
    pub fn str(&self, path: &str) -> Result<&str, Problem> {
        match self.value(path) {
            None | Some(Value::Null) => Err(Problem::new(path, "is required")),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(Problem::new(path, "must be a string")),
        }
    }

    /// The whole config converted to `T`, typically a
    /// `#[derive(Deserialize)]` struct. Dotted keys are not expanded here.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        T::deserialize(&self.value).map_err(|e| Problem::whole(e.to_string()))
    }
}

/// Finds `path` in `value`, trying at each level the longest dotted key first
/// so that `{"a.b": 1}` and `{"a": {"b": 1}}` (and mixtures) both answer `a.b`.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    if let Some(found) = object.get(path) {
        return Some(found);
    }
    path.rmatch_indices('.')
        .find_map(|(dot, _)| lookup(object.get(&path[..dot])?, &path[dot + 1..]))
}

/// Says in a user's words why `value` does not fit the requested type.
///
/// serde only tells us what it expected in its message ("invalid type:
/// string \"x\", expected u32"), so that is what we read. For lists and
/// objects the failure may concern an element deep inside, so serde's own
/// message (which says what it found) is kept rather than guessed at.
fn type_message(value: &Value, error: &serde_json::Error) -> String {
    let message = error.to_string();
    if value.is_array() || value.is_object() {
        return message;
    }
    let Some((_, expected)) = message.rsplit_once(", expected ") else {
        return message;
    };
    if let Some(range) = integer_range(expected) {
        return if value.is_i64() || value.is_u64() {
            format!("must be a whole number from {range}")
        } else {
            "must be a whole number".to_owned()
        };
    }
    match expected {
        "a string" | "a borrowed string" => "must be a string".to_owned(),
        "f32" | "f64" => "must be a number".to_owned(),
        "a boolean" => "must be true or false".to_owned(),
        "a character" => "must be a single character".to_owned(),
        "a sequence" => "must be a list".to_owned(),
        "a map" => "must be an object".to_owned(),
        e if e.starts_with("struct ") => "must be an object".to_owned(),
        _ => message,
    }
}

/// The range of the Rust integer type serde names in its messages.
fn integer_range(type_name: &str) -> Option<String> {
    macro_rules! range {
        ($($t:ident)*) => {
            match type_name {
                $(stringify!($t) => Some(format!("{} to {}", $t::MIN, $t::MAX)),)*
                _ => None,
            }
        };
    }
    range!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One thing wrong with a config: the WIT `problem` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The config path it concerns, such as `input.string`; empty when it
    /// concerns the config as a whole.
    pub path: String,
    /// What is wrong, in words a user can act on, such as "is required".
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A problem with the config as a whole rather than one value in it.
    pub fn whole(message: impl Into<String>) -> Self {
        Self::new("", message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Problem {}

/// Lets `validate` use `?` on a single check.
impl From<Problem> for Vec<Problem> {
    fn from(problem: Problem) -> Self {
        vec![problem]
    }
}

/// Collects every problem of a config, so that the user can fix them all at
/// once instead of one per submission.
///
/// ```
/// use job_sdk::{Config, Problem, Problems, json};
///
/// fn validate(config: &Config) -> Result<(), Vec<Problem>> {
///     let mut problems = Problems::new();
///     problems.check(config.str("name"));
///     if let Some(count) = problems.check(config.get::<u32>("count"))
///         && count == 0
///     {
///         problems.push(Problem::new("count", "must be at least 1"));
///     }
///     problems.into_result()
/// }
///
/// let problems = validate(&Config::new(json!({"count": 0}))).unwrap_err();
/// assert_eq!(problems.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the problem of a failed check; the value of one that passed.
    pub fn check<T>(&mut self, result: Result<T, Problem>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(problem) => {
                self.0.push(problem);
                None
            }
        }
    }

    pub fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What `validate` returns: `Ok` when nothing was found.
    pub fn into_result(self) -> Result<(), Vec<Problem>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    fn config(value: Value) -> Config {
        Config::new(value)
    }

    fn problem(path: &str, message: &str) -> Problem {
        Problem::new(path, message)
    }

    #[test]
    fn dotted_path_finds_nested_objects() {
        let c = config(json!({"input": {"string": "a b"}}));
        assert_eq!(c.str("input.string"), Ok("a b"));
    }

    #[test]
    fn dotted_path_finds_flat_dotted_keys() {
        let c = config(json!({"input.string": "a b"}));
        assert_eq!(c.str("input.string"), Ok("a b"));
    }

    #[test]
    fn dotted_path_finds_mixtures() {
        let c = config(json!({"a": {"b.c": {"d": 1}}, "x.y": {"z": 2}}));
        assert_eq!(c.get::<u32>("a.b.c.d"), Ok(1));
        assert_eq!(c.get::<u32>("x.y.z"), Ok(2));
    }

    #[test]
    fn literal_key_wins_over_nesting() {
        let c = config(json!({"a.b": 1, "a": {"b": 2}}));
        assert_eq!(c.get::<u32>("a.b"), Ok(1));
    }

    #[test]
    fn empty_path_is_the_whole_config() {
        let c = config(json!({"a": 1}));
        assert_eq!(c.value(""), Some(&json!({"a": 1})));
    }

    #[test]
    fn missing_and_null_are_required() {
        let c = config(json!({"input": {"other": 1}, "n": null}));
        assert_eq!(c.str("input.string"), Err(problem("input.string", "is required")));
        assert_eq!(c.get::<u32>("n"), Err(problem("n", "is required")));
        assert_eq!(
            c.get::<u32>("input.other.deeper"),
            Err(problem("input.other.deeper", "is required"))
        );
    }

    #[test]
    fn optional_values() {
        let c = config(json!({"n": 3, "gone": null}));
        assert_eq!(c.get_opt::<u32>("n"), Ok(Some(3)));
        assert_eq!(c.get_opt::<u32>("m"), Ok(None));
        assert_eq!(c.get_opt::<u32>("gone"), Ok(None));
        assert_eq!(c.get_or("m", 7u32), Ok(7));
        assert_eq!(c.get_or("n", 7u32), Ok(3));
    }

    #[test]
    fn wrong_type_is_a_problem_even_with_a_default() {
        let c = config(json!({"n": "ten"}));
        assert_eq!(c.get_or("n", 7u32), Err(problem("n", "must be a whole number")));
    }

    #[test]
    fn wrong_types_are_named_in_users_words() {
        let c = config(json!({
            "number": 10,
            "float": 1.5,
            "negative": -1,
            "text": "10 items",
            "flag": "yes",
            "list": "a,b",
            "object": 3,
        }));
        assert_eq!(c.str("number"), Err(problem("number", "must be a string")));
        assert_eq!(c.get::<String>("number"), Err(problem("number", "must be a string")));
        assert_eq!(c.get::<u32>("text"), Err(problem("text", "must be a whole number")));
        assert_eq!(c.get::<i64>("float"), Err(problem("float", "must be a whole number")));
        assert_eq!(
            c.get::<u8>("negative"),
            Err(problem("negative", "must be a whole number from 0 to 255"))
        );
        assert_eq!(c.get::<f64>("text"), Err(problem("text", "must be a number")));
        assert_eq!(c.get::<bool>("flag"), Err(problem("flag", "must be true or false")));
        assert_eq!(c.get::<Vec<String>>("list"), Err(problem("list", "must be a list")));
        assert_eq!(
            c.get::<std::collections::BTreeMap<String, u32>>("object"),
            Err(problem("object", "must be an object"))
        );
    }

    #[test]
    fn numbers_are_not_read_from_strings() {
        // HOCON `n = 10` arrives as a number but `n = "10"` as a string; the
        // user should hear that rather than have the job guess.
        let c = config(json!({"n": "10"}));
        assert_eq!(c.get::<u32>("n"), Err(problem("n", "must be a whole number")));
    }

    #[test]
    fn problems_inside_lists_keep_serdes_message() {
        let c = config(json!({"ids": [1, "two"]}));
        let p = c.get::<Vec<u32>>("ids").unwrap_err();
        assert_eq!(p.path, "ids");
        assert!(p.message.contains("expected u32"), "{}", p.message);
    }

    #[test]
    fn whole_config_into_a_struct() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Settings {
            name: String,
            count: u32,
        }
        let c = config(json!({"name": "x", "count": 2}));
        assert_eq!(
            c.deserialize::<Settings>(),
            Ok(Settings {
                name: "x".into(),
                count: 2
            })
        );
        let missing = config(json!({"name": "x"})).deserialize::<Settings>();
        assert_eq!(missing.unwrap_err().message, "missing field `count`");
    }

    #[test]
    fn from_json_accepts_objects_only() {
        assert_eq!(
            Config::from_json(r#"{"a": 1}"#).map(|c| c.raw().clone()),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            Config::from_json("[1]"),
            Err(Problem::whole("config must be a JSON object, not a list"))
        );
        let invalid = Config::from_json("{").unwrap_err();
        assert_eq!(invalid.path, "");
        assert!(
            invalid.message.starts_with("config is not valid JSON: "),
            "{}",
            invalid.message
        );
    }

    #[test]
    fn problem_display() {
        assert_eq!(problem("a.b", "is required").to_string(), "a.b: is required");
        assert_eq!(Problem::whole("bad").to_string(), "bad");
    }

    #[test]
    fn problems_collects_all() {
        let c = config(json!({"count": "x"}));
        let mut problems = Problems::new();
        assert_eq!(problems.check(c.str("name")), None);
        assert_eq!(problems.check(c.get::<u32>("count")), None);
        assert_eq!(
            problems.into_result(),
            Err(vec![
                problem("name", "is required"),
                problem("count", "must be a whole number"),
            ])
        );
        assert_eq!(Problems::new().into_result(), Ok(()));
    }
}
