//! Value encodings shared by every annotation: Go-compatible bool and integer parsing, comma
//! lists, `k=v` maps with backslash escapes, CIDRs, string enums and edit distance.
//!
//! Every parser returns the bare message on failure; the caller prefixes the full annotation key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::num::IntErrorKind;
use std::str::FromStr;

/// The spellings Go's `strconv.ParseBool` accepts, true ones first.
const BOOL_TRUE: &[&str] = &["1", "t", "T", "TRUE", "true", "True"];
const BOOL_FALSE: &[&str] = &["0", "f", "F", "FALSE", "false", "False"];

/// Parses a bool the way Go's `strconv.ParseBool` does.
/// A bool whose `true` asks for something this controller does not build yet: refused, so
/// it is never accepted and then ignored. `what` names the missing piece.
pub fn parse_unbuilt_bool(raw: &str, what: &str) -> Result<bool, String> {
    if parse_bool(raw)? {
        Err(format!(
            "\"true\" is not supported yet: this controller does not build {what}; remove the annotation or set it to \"false\""
        ))
    } else {
        Ok(false)
    }
}

pub fn parse_bool(raw: &str) -> Result<bool, String> {
    if BOOL_TRUE.contains(&raw) {
        Ok(true)
    } else if BOOL_FALSE.contains(&raw) {
        Ok(false)
    } else {
        Err(format!(
            "cannot parse {raw:?} as a bool, want one of {}",
            BOOL_TRUE
                .iter()
                .chain(BOOL_FALSE)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn int_error(raw: &str, kind: &str, error: &std::num::ParseIntError) -> String {
    let reason = match error.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "value out of range",
        _ => "invalid syntax",
    };
    format!("cannot parse {raw:?} as an {kind}: {reason}")
}

/// Parses a base-10 int32 (optional sign, no spaces), like `strconv.ParseInt(raw, 10, 32)`.
pub fn parse_i32(raw: &str) -> Result<i32, String> {
    raw.parse::<i32>().map_err(|e| int_error(raw, "int32", &e))
}

/// Parses a base-10 int64, like `strconv.ParseInt(raw, 10, 64)`.
pub fn parse_i64(raw: &str) -> Result<i64, String> {
    raw.parse::<i64>().map_err(|e| int_error(raw, "int64", &e))
}

/// Parses a TCP port: an int32 within [1, 65535]; `what` names it in the range error.
pub fn parse_port(raw: &str, what: &str) -> Result<u16, String> {
    let value = parse_i32(raw)?;
    port_in_range(i64::from(value))
        .ok_or_else(|| format!("{what} must be within [1, 65535]: {value}"))
}

/// The value as a port if it is within [1, 65535].
pub fn port_in_range(value: i64) -> Option<u16> {
    u16::try_from(value).ok().filter(|port| *port >= 1)
}

/// A port written canonically (decimal digits, no sign, no leading zero) within [1, 65535].
pub fn strict_port(raw: &str) -> Option<u16> {
    if raw.is_empty() || raw.starts_with('0') || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u16>().ok()
}

/// Splits on `,`, trims every item and drops the empty ones (`"\t,  ,,"` is an empty list).
pub fn parse_string_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits a `k=v,k=v` value into its pairs, unescaping `\x` to `x`. A comma starts a new pair only
/// if the rest of the value contains `=`; a trailing comma belongs to the last value; once the rest
/// holds no `=` it is returned whole as one (malformed) pair.
fn split_pairs(raw: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut chars = raw.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => current.push(escaped),
                None => current.push(c),
            },
            ',' => {
                let rest = raw.get(at + 1..).unwrap_or_default().trim();
                if rest.contains('=') {
                    pairs.push(current.trim().to_owned());
                    current.clear();
                } else if !rest.is_empty() {
                    pairs.push(current.trim().to_owned());
                    pairs.push(rest.to_owned());
                    return pairs;
                } else {
                    current.push(c);
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        pairs.push(current.trim().to_owned());
    }
    pairs
}

/// Parses `k=v` pairs separated by commas: split on the first `=`, keys and values trimmed, a
/// backslash escapes the next character (`\,` embeds a comma). A pair without `=` or with an
/// empty key is an error. Later duplicates win.
pub fn parse_string_map(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for pair in split_pairs(raw) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "cannot parse {raw:?} as key=value pairs: {pair:?} has no '='"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!(
                "cannot parse {raw:?} as key=value pairs: {pair:?} has an empty key"
            ));
        }
        map.insert(key.to_owned(), value.trim().to_owned());
    }
    Ok(map)
}

/// An IP network in CIDR notation, parsed like Go's `net.ParseCIDR` (host bits may be set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The address as written (host bits kept).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix_len: u8,
}

impl Cidr {
    /// Whether this is an IPv4 network.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The network address: `addr` with the host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let invalid = || format!("invalid CIDR address: {raw}");
        let (addr, prefix) = raw.split_once('/').ok_or_else(invalid)?;
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = prefix
            .parse::<u8>()
            .ok()
            .filter(|len| *len <= max)
            .ok_or_else(invalid)?;
        Ok(Self { addr, prefix_len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Joins allowed values as `a, b or c`.
pub fn join_alternatives(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A value that is not one of an enum's spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}, want {}", join_alternatives(allowed))]
pub struct ParseEnumError {
    /// What the value is, e.g. `scheme`.
    pub what: &'static str,
    /// The rejected value.
    pub value: String,
    /// The accepted spellings.
    pub allowed: &'static [&'static str],
}

/// Declares a string-valued enum with `VALUES`, `as_str`, `FromStr` (exact spelling),
/// `Display`, and serde as the string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const VALUES: &'static [&'static str] = &[$($value),+];

            /// The annotation / AWS spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $value ),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::annotations::primitives::ParseEnumError;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                match raw {
                    $( $value => Ok(Self::$variant), )+
                    _ => Err($crate::annotations::primitives::ParseEnumError {
                        what: $what,
                        value: raw.to_owned(),
                        allowed: Self::VALUES,
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                raw.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;

/// Parses an enum value, turning the error into its message.
pub fn parse_enum<T: FromStr<Err = ParseEnumError>>(raw: &str) -> Result<T, String> {
    raw.parse().map_err(|e: ParseEnumError| e.to_string())
}

/// Levenshtein distance over chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(usize::from(ca != *cb));
            let delete = previous
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let insert = current
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

/// A plain string value (never fails).
pub fn ok_string(raw: &str) -> Result<String, String> {
    Ok(raw.to_owned())
}

/// A comma-list value (never fails).
pub fn ok_list(raw: &str) -> Result<Vec<String>, String> {
    Ok(parse_string_list(raw))
}
