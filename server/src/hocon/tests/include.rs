//! `include` in the server's own config file, and nowhere else.

use super::*;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn files_are_included_relative_to_the_file_that_includes_them() {
    let dir = dir_with(&[
        (
            "base.conf",
            "jobserver { listen = \"0.0.0.0:8090\", limits.job-timeout = 10m }\ninclude \"sub/more.conf\"",
        ),
        (
            "sub/more.conf",
            "jobserver.limits.job-memory = 512m\ninclude file(\"last.conf\")",
        ),
        ("sub/last.conf", "jobserver.adhoc.max-running = 8"),
    ]);
    let text = "include required(file(\"base.conf\"))\njobserver.limits.job-timeout = 30m\nport = ${jobserver.listen}";
    let value = parse_config_file(text, dir.path()).unwrap();
    assert_eq!(
        value,
        json!({
            "jobserver": {
                "listen": "0.0.0.0:8090",
                "limits": {"job-timeout": "30m", "job-memory": "512m"},
                "adhoc": {"max-running": 8}
            },
            "port": "0.0.0.0:8090"
        })
    );
    // Inside an object, the included fields are that object's.
    let dir = dir_with(&[("limits.conf", "job-timeout = 1m")]);
    let value = parse_config_file("jobserver { limits { include \"limits.conf\" } }", dir.path()).unwrap();
    assert_eq!(value, json!({"jobserver": {"limits": {"job-timeout": "1m"}}}));
}

#[test]
fn a_missing_file_is_skipped_unless_required_and_errors_say_which_file() {
    let dir = dir_with(&[("bad.conf", "a = {"), ("loop.conf", "include \"loop.conf\"")]);
    assert_eq!(
        parse_config_file("include \"absent.conf\"\na = 1", dir.path()).unwrap(),
        json!({"a": 1})
    );
    let error = parse_config_file("a = 1\ninclude required(\"absent.conf\")", dir.path()).unwrap_err();
    assert_eq!((error.line, error.column), (2, 1), "{error}");
    assert!(
        error.message.contains("cannot read the included file") && error.message.contains("absent.conf"),
        "{error}"
    );
    let error = parse_config_file("include \"bad.conf\"", dir.path()).unwrap_err();
    assert!(
        error.message.contains("in the included file") && error.message.contains("bad.conf"),
        "{error}"
    );
    assert!(error.message.contains("line 1, column"), "{error}");
    let error = parse_config_file("include \"loop.conf\"", dir.path()).unwrap_err();
    assert!(error.message.contains("includes itself"), "{error}");
    for bad in ["include url(\"http://x/a.conf\")", "include classpath(\"a.conf\")"] {
        let error = parse_config_file(bad, dir.path()).unwrap_err();
        assert!(error.message.contains("only files can be included"), "{bad}: {error}");
    }
    let error = parse_config_file("include file(\"a.conf\"", dir.path()).unwrap_err();
    assert!(error.message.contains("an include is written"), "{error}");
}

#[test]
fn text_from_clients_never_includes() {
    let dir = dir_with(&[("secret.conf", "password = hunter2")]);
    let inside = dir.path().join("secret.conf");
    let error = parse(&format!("include \"{}\"", inside.display())).unwrap_err();
    assert!(error.message.contains("include is not supported here"), "{error}");
}
