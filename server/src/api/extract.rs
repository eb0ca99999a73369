//! Reading requests: query parameters, bodies with a size limit, job configs in
//! HOCON or JSON, and path values. Every failure is an `ApiError` that says
//! which part of the request is wrong.

use super::error::ApiError;
use crate::hocon;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// Query parameters deserialised into `T`; a bad one is a 400 naming it.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Params)
            .map_err(|error| {
                let parameter = error.path().to_string();
                let message = error.into_inner().to_string();
                ApiError::BadRequest(query_error(query, &parameter, &message))
            })
    }
}

/// Words for a query that does not deserialise. serde's messages speak of
/// fields and Rust's integer parsing; these speak of the request.
fn query_error(query: &str, parameter: &str, message: &str) -> String {
    if parameter == "." {
        if let Some(rest) = message.strip_prefix("duplicate field `") {
            let name = rest.trim_end_matches('`');
            // serde names an alias by its canonical name.
            let aliases = match name {
                "appName" => " (cp is another name for it)",
                "classPath" => " (mainClass is another name for it)",
                _ => "",
            };
            return format!("query parameter '{name}' is given more than once{aliases}");
        }
        return format!("bad query parameters: {message}");
    }
    // serde_path_to_error names an unknown parameter as the path too.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, expected)) = rest.split_once("`, ")
    {
        return format!("unknown query parameter '{name}'; {expected}");
    }
    let value = || {
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == parameter)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    match message {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            format!(
                "query parameter '{parameter}' must be a whole number, not '{}'",
                value()
            )
        }
        "number too large to fit in target type" => {
            format!("query parameter '{parameter}' is too large: '{}'", value())
        }
        "number too small to fit in target type" => {
            format!("query parameter '{parameter}' is too small: '{}'", value())
        }
        _ => format!("query parameter '{parameter}': {message}"),
    }
}

/// Every query parameter as a pair, in order.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(QueryPairs(
            form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
        ))
    }
}

/// Reads a whole body, refusing with 413 past `limit` bytes.
pub async fn read_body(body: Body, limit: u64, what: &str) -> Result<Vec<u8>, ApiError> {
    match Limited::new(body, limit as usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge(format!(
            "the {what} is larger than this server's limit of {} bytes",
            limit
        ))),
        Err(error) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {error}"
        ))),
    }
}

/// A job config or settings body: HOCON (of which JSON is a part) whose root
/// is an object. An empty body is an empty config.
pub fn parse_config(body: &[u8], what: &str) -> Result<serde_json::Map<String, Value>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|error| ApiError::BadRequest(format!("the {what} is not UTF-8 text: {error}")))?;
    if text.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    // Most clients send JSON: serde_json reads it many times faster than the
    // HOCON parser, and HOCON would read it to the same value.
    if text.trim_start().starts_with('{')
        && let Ok(Value::Object(map)) = serde_json::from_str(text)
    {
        return Ok(map);
    }
    match hocon::parse(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(format!("the {what} must be an object"))),
        Err(error) => Err(ApiError::BadRequest(format!("the {what} does not parse: {error}"))),
    }
}

pub fn parse_job_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::BadRequest(format!("'{text}' is not a job id; job ids are UUIDs")))
}

pub const MAX_APP_NAME_LEN: usize = 100;

/// App names appear in URLs and reports: letters, digits, `-`, `_` and `.`.
pub fn check_app_name(name: &str) -> Result<(), ApiError> {
    // Not echoed back when it is long: the message is about its length.
    if name.len() > MAX_APP_NAME_LEN {
        return Err(ApiError::BadRequest(format!(
            "app names are at most {MAX_APP_NAME_LEN} characters long; this one has {}",
            name.chars().count()
        )));
    }
    let valid = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "'{name}' is not a valid app name: use 1 to {MAX_APP_NAME_LEN} letters, digits, '-', '_' or '.', \
             starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_errors_name_the_parameter_and_value() {
        let message = query_error("limit=ten", "limit", "invalid digit found in string");
        assert_eq!(message, "query parameter 'limit' must be a whole number, not 'ten'");
        let message = query_error("limit=", "limit", "cannot parse integer from empty string");
        assert_eq!(message, "query parameter 'limit' must be a whole number, not ''");
        let message = query_error(
            "appVersion=99999999999",
            "appVersion",
            "number too large to fit in target type",
        );
        assert_eq!(message, "query parameter 'appVersion' is too large: '99999999999'");
        let message = query_error("cp=a&appName=b", ".", "duplicate field `appName`");
        assert_eq!(
            message,
            "query parameter 'appName' is given more than once (cp is another name for it)"
        );
        let message = query_error("limit=1&limit=2", ".", "duplicate field `limit`");
        assert_eq!(message, "query parameter 'limit' is given more than once");
        let message = query_error("x=1", "x", "unknown field `x`, expected one of `limit`");
        assert_eq!(message, "unknown query parameter 'x'; expected one of `limit`");
        let message = query_error("", ".", "something else");
        assert_eq!(message, "bad query parameters: something else");
    }
}
