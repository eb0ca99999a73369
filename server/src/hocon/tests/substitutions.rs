//! Substitutions, the environment, self-references, and what stops hostile input.

use super::*;

#[test]
fn substitutions() {
    assert_eq!(ok("a = 1\nb = ${a}"), json!({"a": 1, "b": 1}));
    assert_eq!(ok("b = ${a}\na = {x: [1]}"), json!({"b": {"x": [1]}, "a": {"x": [1]}}));
    // A later definition wins, wherever the substitution is.
    assert_eq!(ok("a = 1\nb = ${a}\na = 2"), json!({"a": 2, "b": 2}));
    assert_eq!(
        ok("a { x = 1 }\nb = ${a}\na { y = 2 }"),
        json!({"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 2}})
    );
    assert_eq!(ok("a.b.c = 5\nd = ${a.b.c}"), json!({"a": {"b": {"c": 5}}, "d": 5}));
    assert_eq!(ok("\"x.y\" = 1\nz = ${\"x.y\"}"), json!({"x.y": 1, "z": 1}));
    assert_eq!(
        ok("name = world\ngreeting = hello ${name}\"!!\""),
        ok("name = world\ngreeting = \"hello world!!\"")
    );
    assert_eq!(
        ok("n = 8090\nport = ${n}\nlisten = \"0.0.0.0:\"${n}"),
        json!({"n": 8090, "port": 8090, "listen": "0.0.0.0:8090"})
    );
    assert_eq!(ok("x = [${a}, ${a}]\na = 1"), json!({"x": [1, 1], "a": 1}));
    assert_eq!(ok("x = ${ a }\na = 1"), json!({"x": 1, "a": 1}));
    assert_eq!(ok("a = null\nb = ${a} x"), json!({"a": null, "b": "null x"}));
}

#[test]
fn object_and_array_inheritance_through_substitutions() {
    let text = "defaults { cores = 2, memory = 512m }\n\
                ctx = ${defaults} { memory = 1g }\n\
                ctx2 = ${defaults}\nctx2.name = two\nctx2.alias = ${ctx2.name}-${ctx2.cores}\n\
                paths = [/bin]\npaths = ${paths} [/usr/bin]";
    assert_eq!(
        ok(text),
        json!({
            "defaults": {"cores": 2, "memory": "512m"},
            "ctx": {"cores": 2, "memory": "1g"},
            "ctx2": {"cores": 2, "memory": "512m", "name": "two", "alias": "two-2"},
            "paths": ["/bin", "/usr/bin"]
        })
    );
    // Objects may refer to their own fields, and to each other.
    assert_eq!(
        ok("bar { foo = 42, baz = ${bar.foo} }\nbar { foo = 43 }"),
        json!({"bar": {"foo": 43, "baz": 43}})
    );
    assert_eq!(
        ok("bar : { a : ${foo.d}, b : 1 }\nbar.b = 3\nfoo : { c : ${bar.b}, d : 2 }\nfoo.d = 4"),
        json!({"bar": {"a": 4, "b": 3}, "foo": {"c": 3, "d": 4}})
    );
}

#[test]
fn optional_substitutions() {
    assert_eq!(ok("a = ${?missing}"), json!({}));
    assert_eq!(ok("a = 1\na = ${?missing}"), json!({"a": 1}));
    assert_eq!(ok("a { x = 1 }\na = ${?missing}"), json!({"a": {"x": 1}}));
    assert_eq!(ok("a = [1, ${?missing}, 2]"), json!({"a": [1, 2]}));
    assert_eq!(ok("a = ${?missing}${?other}"), json!({}));
    assert_eq!(ok("a = x ${?missing} y"), json!({"a": "x  y"}));
    assert_eq!(ok("a = {p: 1} ${?missing}"), json!({"a": {"p": 1}}));
    assert_eq!(ok("a = 5\nb = ${?a}"), json!({"a": 5, "b": 5}));
}

#[test]
fn environment_variables_are_the_fallback() {
    assert_eq!(
        ok("home = ${HOME}\nuser = ${?JOB_USER}"),
        json!({"home": "/home/spark", "user": "ana"})
    );
    // The document wins over the environment, even with null.
    assert_eq!(ok("HOME = /x\nh = ${HOME}"), json!({"HOME": "/x", "h": "/x"}));
    assert_eq!(ok("HOME = null\nh = ${HOME}"), json!({"HOME": null, "h": null}));
    assert_eq!(ok("PATH = ${PATH}\":/usr/bin\""), json!({"PATH": "/bin:/usr/bin"}));
    // The config file's parse reads the process environment; PATH is always set.
    assert!(parse_config_file("p = ${PATH}", std::path::Path::new(".")).unwrap()["p"].is_string());
}

#[test]
fn self_references_look_at_the_earlier_value() {
    assert_eq!(ok("path = [a]\npath = ${path} [x]"), json!({"path": ["a", "x"]}));
    assert_eq!(ok("path = \"a:b:c\"\npath = ${path}\":d\""), json!({"path": "a:b:c:d"}));
    assert_eq!(ok("path = ${?path}\"more\""), json!({"path": "more"}));
    assert_eq!(ok("a = ${?a}foo"), json!({"a": "foo"}));
    assert_eq!(ok("foo = ${?foo}"), json!({}));
    assert_eq!(ok("a = [1]\na += 2\na += {b: 3}"), json!({"a": [1, 2, {"b": 3}]}));
    assert_eq!(ok("x { list += 1 }\nx { list += 2 }"), json!({"x": {"list": [1, 2]}}));
    assert_eq!(ok("a = 1\na = ${a} ${a}"), json!({"a": "1 1"}));
    assert_eq!(
        ok("foo { a { c = 1 } }\nfoo = ${foo.a}\nfoo { a = 2 }"),
        json!({"foo": {"c": 1, "a": 2}})
    );
    assert_eq!(ok("foo { a = 1 }\nfoo = ${foo}"), json!({"foo": {"a": 1}}));
    assert_eq!(ok("a = ${b}\nb = 1\nb = ${b} 2"), json!({"a": "1 2", "b": "1 2"}));
    // Hidden by a later non-object, a broken value is never looked at.
    assert_eq!(ok("foo = ${does-not-exist}\nfoo = 42"), json!({"foo": 42}));
    assert_eq!(ok("foo = ${foo}\nfoo = 42"), json!({"foo": 42}));
    fails("a = 1\na += 2", 2, 1, "cannot concatenate an array with a number");
    fails("foo = ${foo}", 1, 7, "could not resolve substitution ${foo}");
    // Reversed, the self-reference comes before any value, as the spec says.
    fails(
        "foo = ${foo}\nfoo { a = 1 }",
        1,
        7,
        "could not resolve substitution ${foo}",
    );
}

#[test]
fn substitution_errors() {
    let error = fails(
        "a = 1\nb = x ${nope.x}",
        2,
        7,
        "could not resolve substitution ${nope.x}",
    );
    assert!(error.message.contains("${?nope.x}"), "{error}");
    let error = fails("a = ${b}\nb = ${c}\nc = ${a}", 1, 5, "substitution cycle");
    assert_eq!(error.message, "substitution cycle: ${b} -> ${c} -> ${a} -> ${b}");
    let error = fails("x = ${p}\np = ${a}\na = ${b}\nb = ${a}", 4, 5, "cycle");
    assert_eq!(error.message, "substitution cycle: ${a} -> ${b} -> ${a}");
    fails("a = { b = ${a} }", 1, 11, "substitution cycle: ${a}");
    fails("a = [${a}]", 1, 6, "substitution cycle");
    fails(
        "a = ${b}\nb = { c = ${a} }",
        1,
        5,
        "substitution cycle: ${b} -> ${a} -> ${b}",
    );
    fails("a = ${}", 1, 7, "expected a path such as ${a.b}");
    fails("a = ${b", 1, 5, "unterminated substitution");
    fails("a = ${b\n}", 1, 5, "unterminated substitution");
    fails("a = ${b.}", 1, 7, "empty element");
    fails("${a} = 1", 1, 1, "expected a key (a field name), found '${'");
    fails(
        "o = {x: 1}\ns = str ${o}",
        2,
        9,
        "cannot concatenate an object with a string",
    );
}

#[test]
fn structural_errors() {
    let error = fails(
        "a = 1\nb = 2\ninput.string 5",
        3,
        15,
        "expected '=' or ':' after key \"input.string 5\"",
    );
    assert_eq!(error.message, "expected '=' or ':' after key \"input.string 5\"");
    fails("a {\n  b = 1\n  c\n}", 3, 4, "expected '=' or ':' after key \"c\"");
    fails(
        "a = 1\ninput.string , x",
        2,
        14,
        "expected '=' or ':' after key \"input.string\", found ','",
    );
    fails(
        "a {\n b = 1\n",
        3,
        1,
        "expected '}' to close the object opened at line 1, column 3",
    );
    fails(
        "a = [1, 2",
        1,
        10,
        "expected ']' to close the array opened at line 1, column 5",
    );
    fails("a = 1\n}", 2, 1, "unexpected '}': no object is open here");
    fails("a = 1 ]", 1, 7, "expected ',' or a newline after a field, found ']'");
    fails(
        "{ a = 1 ]",
        1,
        9,
        "expected ',', a newline or '}' after a field, found ']'",
    );
    fails(
        "a = [1 }",
        1,
        8,
        "expected ',', a newline or ']' after an array element, found '}'",
    );
    fails(
        "a =",
        1,
        4,
        "expected a value for key \"a\", found the end of the input",
    );
    fails("a = }", 1, 5, "expected a value for key \"a\"");
    fails(
        "{ a = 1 } b = 2",
        1,
        11,
        "expected nothing after the closing '}' of the root object",
    );
    fails("[1, 2]", 1, 1, "the root of a config must be an object, not an array");
    fails("a = 1\ninclude \"other.conf\"", 2, 1, "include is not supported");
    fails("include required(\"x\")", 1, 1, "include is not supported");
    fails("a = `x`", 1, 5, "reserved character '`'");
}

#[test]
fn error_display_names_line_and_column() {
    let error = parse("a = 1\nb = \"open").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2, column 5: unterminated quoted string: it must end on the same line (use \"\"\" for a multi-line string)"
    );
}

#[test]
fn columns_count_characters_and_crlf_works() {
    fails("é = \"é\\x\"", 1, 7, "invalid escape");
    assert_eq!(ok("a = 1\r\nb = two words \r\n"), json!({"a": 1, "b": "two words"}));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = MAX_DEPTH - 5;
    let nested = format!("a = {}1{}", "[".repeat(depth), "]".repeat(depth));
    assert!(ok(&nested)["a"].is_array());
    fails(
        &format!("a = {}", "[".repeat(100_000)),
        1,
        4 + MAX_DEPTH,
        "nesting is too deep",
    );
    // Each `{a:` is two levels: the object and the key path element.
    fails(
        &format!("a = {}", "{a:".repeat(100_000)),
        1,
        3 + 3 * MAX_DEPTH / 2,
        "nesting is too deep",
    );
    let long_key = vec!["k"; 10_000].join(".");
    fails(&format!("{long_key} = 1"), 1, 1, "too long");
    let deep_keys = format!("{} = 1", vec!["a"; MAX_DEPTH].join(" { ") + " { b");
    fails(&deep_keys, 1, 1 + 4 * (MAX_DEPTH / 2), "nesting is too deep");
}

#[test]
fn long_substitution_chains_are_an_error_not_a_crash() {
    let mut text = String::from("v0 = x\n");
    for i in 1..5_000 {
        text.push_str(&format!("v{i} = [${{v{}}}]\n", i - 1));
    }
    let error = parse_with_env(&text, &env).unwrap_err();
    assert!(error.message.contains("nests more than 200 levels"), "{error}");
    // Many appends to one field are fine.
    let appends = "a += 1\n".repeat(5_000);
    assert_eq!(ok(&appends)["a"].as_array().unwrap().len(), 5_000);
    // A chain of self-references that cannot be flattened hits the limit.
    let chain = format!("b = [0]\na = ${{b}}\n{}", "a = ${a} [1]\n".repeat(1_000));
    let error = parse_with_env(&chain, &env).unwrap_err();
    assert!(error.message.contains("nest too deeply"), "{error}");
    let chain = format!("b = [0]\na = ${{b}}\n{}", "a = ${a} [1]\n".repeat(250));
    assert_eq!(ok(&chain)["a"].as_array().unwrap().len(), 251);
}

#[test]
fn exploding_substitutions_are_stopped() {
    let mut text = String::from("a0 = \"0123456789abcdef\"\n");
    for i in 1..64 {
        text.push_str(&format!("a{i} = ${{a{}}}${{a{}}}\n", i - 1, i - 1));
    }
    assert!(parse_with_env(&text, &env).unwrap_err().message.contains("too large"));
    let doubling = format!("a = {{}}\n{}", "a = ${a} ${a}\n".repeat(60));
    assert!(
        parse_with_env(&doubling, &env)
            .unwrap_err()
            .message
            .contains("too large")
    );
}

const SAMPLES: [&str; 4] = [
    "jobserver {\n  listen = \"0.0.0.0:8090\"\n  limits {\n    job-timeout = 10 minutes\n    job-memory = 256m\n  }\n}\nspark.context-settings.num-cpu-cores = 2\n",
    "{\"a\": [1, 2.5, -3e2, {\"b\": \"c\\u00e9\\n\"}], \"d\": null, \"e\": true}",
    "defaults { x = 1 }\na = ${defaults} { y = \"\"\"multi\nline\"\"\" }\na.z += ${?nope} 5\nb = ${a.x} seconds // c\n# d\nc = [1, 2] [${HOME}]\n",
    "input.string = a b c a b see\np = ${?path}\"more\"\nq = ${p}, r : [ {s: 1}, {t: ${q}} ]",
];

#[test]
fn every_prefix_of_the_samples_parses_or_fails_cleanly() {
    for sample in SAMPLES {
        assert!(parse_with_env(sample, &env).is_ok(), "{sample}");
        for (end, _) in sample.char_indices() {
            let _ = parse_with_env(&sample[..end], &env);
            let _ = parse_with_env(&sample[end..], &env);
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    // A small fixed-seed generator keeps the run reproducible without a crate.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    let alphabet: Vec<char> = "{}[]:=,+$?\"\\#/ \n\t.ab1-e\u{e9}".chars().collect();
    for _ in 0..3_000 {
        let mut chars: Vec<char> = SAMPLES[next(SAMPLES.len())].chars().collect();
        for _ in 0..1 + next(6) {
            let at = next(chars.len() + 1);
            match next(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = alphabet[next(alphabet.len())],
                _ => chars.insert(at, alphabet[next(alphabet.len())]),
            }
        }
        let text: String = chars.into_iter().collect();
        if let Err(error) = parse_with_env(&text, &env) {
            assert!(error.line >= 1 && error.column >= 1, "{text:?}: {error}");
            assert!(!error.message.is_empty());
        }
    }
    for _ in 0..2_000 {
        let text: String = (0..next(40)).map(|_| alphabet[next(alphabet.len())]).collect();
        let _ = parse_with_env(&text, &env);
    }
}

#[test]
fn client_text_never_reads_the_environment() {
    // PATH is set in every environment these tests run in.
    assert!(std::env::var("PATH").is_ok());
    let error = parse("leak = ${PATH}").unwrap_err();
    assert!(error.message.contains("${PATH}"), "{error}");
    assert!(
        error.message.contains("do not read its environment variables"),
        "{error}"
    );
    assert_eq!(parse("leak = ${?PATH}").unwrap(), json!({}));
    assert!(parse_config_file("path = ${PATH}", std::path::Path::new(".")).unwrap()["path"].is_string());
}
