//! Syntax: JSON, HOCON's relaxations, strings, paths, merging, and errors.

use super::*;

#[test]
fn spark_job_server_request_body() {
    assert_eq!(
        ok("input.string = a b c a b see"),
        json!({"input": {"string": "a b c a b see"}})
    );
}

#[test]
fn spark_job_server_application_conf() {
    let text = r#"
# Spark Job Server style settings
jobserver {
  listen = "0.0.0.0:8090"
  limits {
job-timeout = 10 minutes
job-memory = 256m
  }
}
spark.context-settings.num-cpu-cores = 2
spark.context-settings {
  memory-per-node = 512m   // per executor
  passthrough { spark.driver.allowMultipleContexts = true }
}
"#;
    assert_eq!(
        ok(text),
        json!({
            "jobserver": {
                "listen": "0.0.0.0:8090",
                "limits": {"job-timeout": "10 minutes", "job-memory": "256m"}
            },
            "spark": {"context-settings": {
                "num-cpu-cores": 2,
                "memory-per-node": "512m",
                "passthrough": {"spark": {"driver": {"allowMultipleContexts": true}}}
            }}
        })
    );
}

#[test]
fn json_gives_what_serde_json_gives() {
    let documents = [
        r#"{}"#,
        r#"{"a": 1, "b": -2, "c": 1.5, "d": -0.0, "e": 1e5, "f": 2E-3, "g": 1.5e+10}"#,
        r#"{"big": 123456789012345678901234567890, "max": 18446744073709551615, "min": -9223372036854775808}"#,
        r#"{"s": "x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00", "n": null, "t": true, "f": false}"#,
        "{\"nested\": {\"list\": [1, [2, [3, {}]], {\"k\": []}]},\n \"a.b\": \"dots stay\",\r\n \"${x}\": \"${not a substitution}\"}",
        "{\n  \"pretty\" : [\n    1,\n    2\n  ]\n}\n",
        r##"{"a" : "# not a comment", "b": "// nor this"}"##,
    ];
    for text in documents {
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ok(text), expected, "{text}");
    }
    // Integers stay integers and floats stay floats.
    let value = ok(r#"{"i": 3, "f": 3.0}"#);
    assert!(value["i"].is_u64());
    assert!(value["f"].is_f64());
    // Beyond u64 an integer becomes a float, as in serde_json.
    assert!(ok("big = 123456789012345678901234567890")["big"].is_f64());
}

#[test]
fn root_braces_are_optional() {
    assert_eq!(ok("{ a = 1 }"), ok("a = 1"));
    assert_eq!(ok("\n\n { a: 1 } \n\n"), json!({"a": 1}));
    assert_eq!(ok(""), json!({}));
    assert_eq!(ok("  \n# only a comment\n"), json!({}));
    assert_eq!(ok("\u{feff}a = 1"), json!({"a": 1}));
    // Unicode spaces separate like ASCII ones.
    assert_eq!(ok("a\u{a0}=\u{2003}x\u{3000}y"), json!({"a": "x\u{3000}y"}));
}

#[test]
fn comments() {
    let text = "# hash\n// slashes\na = 1 # trailing\nb = two words // trailing\nc = \"# kept\" # dropped\nd = x#y\n";
    assert_eq!(ok(text), json!({"a": 1, "b": "two words", "c": "# kept", "d": "x"}));
}

#[test]
fn separators() {
    assert_eq!(
        ok("a = 1\nb : 2\nc { d = 3 }\ne {}\nf = [1]\nf += 2\ng += x"),
        json!({"a": 1, "b": 2, "c": {"d": 3}, "e": {}, "f": [1, 2], "g": ["x"]})
    );
    // A key may be followed by its separator or value on a later line.
    assert_eq!(
        ok("a\n= 1\nb =\n  2\nc\n{ d = 3 }"),
        json!({"a": 1, "b": 2, "c": {"d": 3}})
    );
}

#[test]
fn commas_and_newlines() {
    assert_eq!(ok("a = 1, b = 2,"), json!({"a": 1, "b": 2}));
    assert_eq!(ok("{a = 1\n\n b = 2\n,c = 3,}"), json!({"a": 1, "b": 2, "c": 3}));
    assert_eq!(ok("x = [1\n, 2\n, 3\n]"), json!({"x": [1, 2, 3]}));
    fails("a = 1\n,\n,b = 2", 3, 1, "expected a key");
    assert_eq!(ok("x = [1, 2, 3,]"), json!({"x": [1, 2, 3]}));
    assert_eq!(ok("x = [\n 1\n 2\n\n 3\n]"), json!({"x": [1, 2, 3]}));
    assert_eq!(ok("x = [1 2 3]"), json!({"x": ["1 2 3"]}));
    assert_eq!(ok("x = [[1, 2] [3, 4]]"), json!({"x": [[1, 2, 3, 4]]}));
    fails("x = [1,,2]", 1, 8, "expected a value or ']' in the array, found ','");
    fails("x = [,1]", 1, 6, "expected a value or ']'");
    fails("x = [1,2,,]", 1, 10, "expected a value or ']'");
    fails("a = 1,, b = 2", 1, 7, "expected a key (a field name), found ','");
    fails("{, a = 1}", 1, 2, "expected a key");
}

#[test]
fn path_keys() {
    assert_eq!(ok("a.b.c = 1"), json!({"a": {"b": {"c": 1}}}));
    assert_eq!(ok("a.b = 1, a.c = 2"), json!({"a": {"b": 1, "c": 2}}));
    assert_eq!(ok("\"a.b\".c = 1"), json!({"a.b": {"c": 1}}));
    assert_eq!(ok("a.\"\".b = 1"), json!({"a": {"": {"b": 1}}}));
    assert_eq!(ok("a b c = 1"), json!({"a b c": 1}));
    assert_eq!(ok("foo\"10.0\" = 1"), json!({"foo10.0": 1}));
    assert_eq!(
        ok("10.0foo = 1, true = 2, 3.14 = 3"),
        json!({"10": {"0foo": 1}, "true": 2, "3": {"14": 3}})
    );
    assert_eq!(
        ok("akka.actor.default-dispatcher.fork_join = 1"),
        json!({"akka": {"actor": {"default-dispatcher": {"fork_join": 1}}}})
    );
    assert_eq!(
        ok("\"include\" = 1, foo include = 2, bar = include, include.x = 3"),
        json!({"include": {"x": 3}, "foo include": 2, "bar": "include"})
    );
    fails("{ \"a.b\" }", 1, 9, "expected '=' or ':' after key \"a.b\", found '}'");
    fails("a..b = 1", 1, 1, "invalid path \"a..b\": it has an empty element");
    fails("x = 1\n  .a = 1", 2, 3, "empty element");
    fails("a. = 1", 1, 1, "empty element");
}

#[test]
fn duplicate_keys_merge_objects_and_otherwise_the_last_wins() {
    assert_eq!(ok("a = 1, a = 2"), json!({"a": 2}));
    assert_eq!(
        ok("a { x = 1, y { z = 1 } }\na { y { w = 2 } }"),
        json!({"a": {"x": 1, "y": {"z": 1, "w": 2}}})
    );
    assert_eq!(ok("a { x = 1 }\na = null\na { y = 2 }"), json!({"a": {"y": 2}}));
    assert_eq!(ok("a = 5\na.b = 1"), json!({"a": {"b": 1}}));
    assert_eq!(ok("a { b = 1 }\na = [1]"), json!({"a": [1]}));
    // The order of first definition is kept.
    let value = ok("b = 1\na = 2\nb = 3");
    assert_eq!(value.as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "a"]);
    // JSON with duplicate keys follows HOCON.
    assert_eq!(ok(r#"{"a": {"x": 1}, "a": {"y": 2}}"#), json!({"a": {"x": 1, "y": 2}}));
}

#[test]
fn quoted_strings() {
    assert_eq!(
        ok(r#"a = "tab\there \u00e9 \ud83d\ude00 \/ \\ \"""#),
        json!({"a": "tab\there é 😀 / \\ \""})
    );
    assert_eq!(ok(r#"a = """#), json!({"a": ""}));
    assert_eq!(
        ok("a = \"x = y, z: ${w} [1] {}\""),
        json!({"a": "x = y, z: ${w} [1] {}"})
    );
    fails("a = \"bad \\q escape\"", 1, 10, "invalid escape '\\q' in quoted string");
    fails("a = \"\\u12G4\"", 1, 6, "four hexadecimal digits");
    fails("a = \"\\ud83d\"", 1, 6, "surrogate");
    fails("a = \"\\udc00\"", 1, 6, "surrogate");
    fails("a = \"tab\there\"", 1, 9, "control character U+0009");
    fails("input = \"abc", 1, 9, "unterminated quoted string");
    fails("a = 1\nb = \"abc\nc = 2\"", 2, 5, "unterminated quoted string");
    fails("a = \"abc\\", 1, 5, "unterminated quoted string");
}

#[test]
fn multi_line_strings() {
    assert_eq!(
        ok("sql = \"\"\"\n  SELECT \"x\"\n  FROM t -- ${not} # kept \\n\n\"\"\""),
        json!({"sql": "\n  SELECT \"x\"\n  FROM t -- ${not} # kept \\n\n"})
    );
    assert_eq!(ok("a = \"\"\"x\"\"\"\""), json!({"a": "x\""}));
    assert_eq!(ok("a = \"\"\"\"\"x\"\"\"\"\""), json!({"a": "\"\"x\"\""}));
    assert_eq!(ok("a = \"\"\"\"\"\""), json!({"a": ""}));
    let error = fails("a = 1\nb = \"\"\"never\nclosed", 2, 5, "unterminated multi-line string");
    assert_eq!(
        error.to_string(),
        "line 2, column 5: unterminated multi-line string: missing the closing \"\"\""
    );
}

#[test]
fn scalars() {
    assert_eq!(
        ok("t = true, f = false, n = null, i = 42, neg = -7, fl = 2.5, e = 1e+5, z = 0"),
        json!({"t": true, "f": false, "n": null, "i": 42, "neg": -7, "fl": 2.5, "e": 1e5, "z": 0})
    );
    // Only exact JSON literals convert; the rest stay strings.
    assert_eq!(
        ok(
            "a = yes, b = no, c = on, d = off, e = True, f = 01, g = 1.2.3, h = -, i = truex, j = 0x10, k = .5, l = 1e400"
        ),
        json!({"a": "yes", "b": "no", "c": "on", "d": "off", "e": "True", "f": "01",
               "g": "1.2.3", "h": "-", "i": "truex", "j": "0x10", "k": ".5", "l": "1e400"})
    );
    assert_eq!(ok("q = \"42\", r = \"true\""), json!({"q": "42", "r": "true"}));
}

#[test]
fn unquoted_strings_and_the_reserved_characters() {
    assert_eq!(
        ok("path = /usr/local/bin\nhost = 10.0.0.1\nv = a.b-c_d~e%f\nw = x/y"),
        json!({"path": "/usr/local/bin", "host": "10.0.0.1", "v": "a.b-c_d~e%f", "w": "x/y"})
    );
    // ':' is reserved outside quotes, and `//` would start a comment anyway,
    // so a URL or host:port must be quoted, as the spec says.
    fails(
        "url = http://host:9000/x",
        1,
        11,
        "':' is not allowed in an unquoted value",
    );
    fails(
        "listen = 0.0.0.0:8090",
        1,
        17,
        "':' is not allowed in an unquoted value",
    );
    assert_eq!(ok("url = \"http://host:9000/x\""), json!({"url": "http://host:9000/x"}));
    assert_eq!(ok("a = x//comment"), json!({"a": "x"}));
    fails("a = b!", 1, 6, "reserved character '!' is not allowed outside quotes");
    fails("a = 50%+", 1, 8, "'+' may only appear in '+='");
    fails("a = $HOME", 1, 5, "'$' may only start a substitution");
    fails("a = 1 b = 2", 1, 9, "unexpected '=' in a value");
}

#[test]
fn value_concatenation() {
    assert_eq!(ok("x = foo \"bar\" 1"), json!({"x": "foo bar 1"}));
    assert_eq!(ok("x = a  \t b   "), json!({"x": "a  \t b"}));
    assert_eq!(ok("timeout = 10 seconds"), json!({"timeout": "10 seconds"}));
    assert_eq!(ok("x = 1.50 true null"), json!({"x": "1.50 true null"}));
    assert_eq!(ok("x = \"a\"\"b\"c"), json!({"x": "abc"}));
    assert_eq!(ok("x = {a: 1} {b: 2} {a: 3}"), json!({"x": {"a": 3, "b": 2}}));
    assert_eq!(ok("x = [1] [2, 3] []"), json!({"x": [1, 2, 3]}));
    // A newline ends a value, so these are not concatenated.
    fails("x = [1]\n[2]", 2, 1, "expected a key (a field name), found '['");
    fails("x = [1] foo", 1, 9, "cannot concatenate a string with an array");
    fails("x = {a: 1} [2]", 1, 12, "cannot concatenate an array with an object");
    fails("x = foo {a: 1}", 1, 9, "cannot concatenate an object with a string");
}
