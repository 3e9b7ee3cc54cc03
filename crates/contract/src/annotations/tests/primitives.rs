use crate::annotations::primitives::{
    Cidr, edit_distance, join_alternatives, parse_bool, parse_i32, parse_i64, parse_port,
    parse_string_list, parse_string_map, strict_port,
};
use std::collections::BTreeMap;

#[test]
fn bool_accepts_exactly_go_spellings() {
    for raw in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(parse_bool(raw), Ok(true), "{raw}");
    }
    for raw in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(parse_bool(raw), Ok(false), "{raw}");
    }
    for raw in ["", "yes", "no", "tRUE", " true", "true ", "2", "on"] {
        let err = parse_bool(raw).expect_err(raw);
        assert!(
            err.starts_with(&format!("cannot parse {raw:?} as a bool")),
            "{err}"
        );
    }
}

#[test]
fn int32_is_base10_with_sign_and_range() {
    let cases: &[(&str, Result<i32, &str>)] = &[
        ("0", Ok(0)),
        ("42", Ok(42)),
        ("+42", Ok(42)),
        ("-1000", Ok(-1000)),
        ("2147483647", Ok(i32::MAX)),
        ("-2147483648", Ok(i32::MIN)),
        (
            "2147483648",
            Err("cannot parse \"2147483648\" as an int32: value out of range"),
        ),
        (
            "0x10",
            Err("cannot parse \"0x10\" as an int32: invalid syntax"),
        ),
        (
            "1_000",
            Err("cannot parse \"1_000\" as an int32: invalid syntax"),
        ),
        (" 1", Err("cannot parse \" 1\" as an int32: invalid syntax")),
        ("", Err("cannot parse \"\" as an int32: invalid syntax")),
        (
            "1.5",
            Err("cannot parse \"1.5\" as an int32: invalid syntax"),
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(parse_i32(raw), want.map_err(str::to_owned), "{raw:?}");
    }
    assert_eq!(parse_i64("604800"), Ok(604_800));
    assert_eq!(parse_i64("9223372036854775807"), Ok(i64::MAX));
    assert!(parse_i64("9223372036854775808").is_err());
}

#[test]
fn ports() {
    assert_eq!(parse_port("443", "listen port"), Ok(443));
    assert_eq!(
        parse_port("0", "listen port"),
        Err("listen port must be within [1, 65535]: 0".to_owned())
    );
    assert_eq!(
        parse_port("65536", "x"),
        Err("x must be within [1, 65535]: 65536".to_owned())
    );
    assert_eq!(strict_port("8080"), Some(8080));
    for raw in ["", "0", "08080", "+80", "65536", "80 ", "8a"] {
        assert_eq!(strict_port(raw), None, "{raw:?}");
    }
}

#[test]
fn string_list_trims_and_drops_empty_items() {
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        ("\t,  ,,,,,", &[]),
        ("subnet-a", &["subnet-a"]),
        ("subnet-xxxx, mySubnet", &["subnet-xxxx", "mySubnet"]),
        (" a ,b,, c ", &["a", "b", "c"]),
    ];
    for (raw, want) in cases {
        assert_eq!(parse_string_list(raw), *want, "{raw:?}");
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn string_map_pairs_escapes_and_commas() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("", &[]),
        ("k=v", &[("k", "v")]),
        (
            "key1=value1, key2=value2, key3/with-slash=value3, key4/empty-value=",
            &[
                ("key1", "value1"),
                ("key2", "value2"),
                ("key3/with-slash", "value3"),
                ("key4/empty-value", ""),
            ],
        ),
        (
            "key1=Mjk5NzkyNDU4Cg==, foo=ZGF=0=ZQo=, res=value_:/=+-@",
            &[
                ("key1", "Mjk5NzkyNDU4Cg=="),
                ("foo", "ZGF=0=ZQo="),
                ("res", "value_:/=+-@"),
            ],
        ),
        // an escaped comma stays in the value
        (r"a=x\,y,b=z", &[("a", "x,y"), ("b", "z")]),
        // a comma not followed by another pair belongs to the value
        ("a=b,", &[("a", "b,")]),
        // a backslash escapes any character, but an escaped '=' still splits the pair (as in Go)
        (r"a\=b=c", &[("a", "b=c")]),
        (r"a=\x\\y", &[("a", r"x\y")]),
        (r"a=b\", &[("a", r"b\")]),
        // later duplicates win; keys and values are trimmed
        (" a = 1 , a=2", &[("a", "2")]),
        (
            "routing.http2.enabled=true,idle_timeout.timeout_seconds=600",
            &[
                ("idle_timeout.timeout_seconds", "600"),
                ("routing.http2.enabled", "true"),
            ],
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(parse_string_map(raw), Ok(map(want)), "{raw:?}");
    }
}

#[test]
fn string_map_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "key1,key2",
            "cannot parse \"key1,key2\" as key=value pairs: \"key1\" has no '='",
        ),
        (
            "=value",
            "cannot parse \"=value\" as key=value pairs: \"=value\" has an empty key",
        ),
        (
            "key1=value1, invalid",
            "cannot parse \"key1=value1, invalid\" as key=value pairs: \"invalid\" has no '='",
        ),
        (
            "a=b,,c=d",
            "cannot parse \"a=b,,c=d\" as key=value pairs: \"\" has no '='",
        ),
        (
            "   ",
            "cannot parse \"   \" as key=value pairs: \"\" has no '='",
        ),
        (
            " =x",
            "cannot parse \" =x\" as key=value pairs: \"=x\" has an empty key",
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(parse_string_map(raw), Err((*want).to_owned()), "{raw:?}");
    }
}

#[test]
fn cidr_parses_like_go() {
    let ok = [
        "10.0.0.0/8",
        "10.0.0.1/8",
        "0.0.0.0/0",
        "::/0",
        "2001:db8::/32",
        "192.168.1.1/32",
        "::ffff:1.2.3.4/128",
    ];
    for raw in ok {
        let cidr: Cidr = raw.parse().expect(raw);
        assert_eq!(cidr.to_string(), raw);
    }
    let bad = [
        "10.0.0.0",
        "10.0.0.0/33",
        "::/129",
        "10.0.0/8",
        "10.0.0.0/+8",
        "10.0.0.0/",
        "/8",
        "010.0.0.0/8",
        "fe80::1%eth0/64",
        "10.0.0.0/8/8",
    ];
    for raw in bad {
        assert_eq!(
            raw.parse::<Cidr>(),
            Err(format!("invalid CIDR address: {raw}")),
            "{raw}"
        );
    }
    let cidr: Cidr = "10.1.2.3/8".parse().expect("valid");
    assert_eq!(cidr.network().to_string(), "10.0.0.0");
    assert!(cidr.is_ipv4());
    let v6: Cidr = "2001:db8::1/32".parse().expect("valid");
    assert_eq!(v6.network().to_string(), "2001:db8::");
    let all: Cidr = "1.2.3.4/0".parse().expect("valid");
    assert_eq!(all.network().to_string(), "0.0.0.0");
}

#[test]
fn alternatives_and_distance() {
    assert_eq!(join_alternatives(&["a"]), "a");
    assert_eq!(join_alternatives(&["a", "b"]), "a or b");
    assert_eq!(join_alternatives(&["a", "b", "c"]), "a, b or c");
    assert_eq!(edit_distance("", ""), 0);
    assert_eq!(edit_distance("scheme", "schema"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("ab", ""), 2);
}
