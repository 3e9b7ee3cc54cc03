//! JSON decoding that behaves like Go's `encoding/json` for the annotation types: object keys
//! match struct fields case-insensitively (an exact match wins), unknown fields are ignored,
//! `null` leaves a field unset, and later duplicates win in document order.
//!
//! The input is first read into an order-preserving tree, then rewritten against a [`Shape`]
//! (the known field names at every level) into a `serde_json::Value` with canonical keys, and
//! finally deserialised into the target type with plain serde.

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// The JSON layout of a target type, as far as field-name matching needs it.
#[derive(Debug)]
pub enum Shape {
    /// A scalar, or anything whose keys are taken as written.
    Leaf,
    /// A Go struct: keys are matched against these fields; others are dropped.
    Struct(&'static [Field]),
    /// An array of the inner shape.
    List(&'static Shape),
    /// A Go map: keys are kept as written, values follow the inner shape.
    Map(&'static Shape),
}

/// One struct field: its canonical JSON name and shape.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
}

/// Shorthand for a leaf field.
pub const fn leaf(name: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Leaf,
    }
}

/// JSON read with object entries in document order.
enum Node {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Number::from_f64(v)
            .map(Node::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Object(entries))
    }
}

/// Finds the struct field a JSON key decodes into: exact match first, then case-insensitive.
fn match_field<'f>(fields: &'f [Field], key: &str) -> Option<&'f Field> {
    fields.iter().find(|f| f.name == key).or_else(|| {
        let lower = key.to_lowercase();
        fields.iter().find(|f| f.name.to_lowercase() == lower)
    })
}

fn plain(node: Node) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Number(n) => Value::Number(n),
        Node::String(s) => Value::String(s),
        Node::Array(items) => Value::Array(items.into_iter().map(plain).collect()),
        Node::Object(entries) => {
            Value::Object(entries.into_iter().map(|(k, v)| (k, plain(v))).collect())
        }
    }
}

fn kind_of(node: &Node) -> &'static str {
    match node {
        Node::Null => "null",
        Node::Bool(_) => "bool",
        Node::Number(_) => "number",
        Node::String(_) => "string",
        Node::Array(_) => "array",
        Node::Object(_) => "object",
    }
}

/// Rewrites `node` against `shape` (see the module docs). A non-object where a struct is
/// expected is an error, as in Go (serde would read an array into a struct).
fn canonical(node: Node, shape: &Shape) -> Result<Value, String> {
    Ok(match (shape, node) {
        (Shape::Struct(_) | Shape::Map(_), Node::Null) => Value::Object(Map::new()),
        (Shape::List(_), Node::Null) => Value::Array(Vec::new()),
        (Shape::Struct(fields), Node::Object(entries)) => {
            let mut out = Map::new();
            for (key, value) in entries {
                let Some(field) = match_field(fields, &key) else {
                    continue;
                };
                match value {
                    Node::Null => {
                        out.remove(field.name);
                    }
                    value => {
                        let value = canonical(value, &field.shape)
                            .map_err(|e| format!("{}: {e}", field.name))?;
                        out.insert(field.name.to_owned(), value);
                    }
                }
            }
            Value::Object(out)
        }
        (Shape::Struct(_), node) => {
            return Err(format!("cannot decode {} into an object", kind_of(&node)));
        }
        (Shape::List(inner), Node::Array(items)) => Value::Array(
            items
                .into_iter()
                .map(|item| canonical(item, inner))
                .collect::<Result<_, _>>()?,
        ),
        (Shape::Map(inner), Node::Object(entries)) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| Ok((key, canonical(value, inner)?)))
                .collect::<Result<_, String>>()?,
        ),
        (_, node) => plain(node),
    })
}

/// Decodes `raw` into `T` with Go's matching rules; the error is the bare message.
pub fn decode<T: DeserializeOwned>(raw: &str, shape: &Shape) -> Result<T, String> {
    let node: Node = serde_json::from_str(raw).map_err(|e| format!("invalid JSON: {e}"))?;
    let value = canonical(node, shape).map_err(|e| format!("invalid JSON: {e}"))?;
    serde_json::from_value(value).map_err(|e| format!("invalid JSON: {e}"))
}

/// Kubernetes' IntOrString: a JSON number (int32) or a JSON string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

impl IntOrString {
    /// Turns a string holding a base-10 int32 into the number, like `intstr.Parse`.
    pub fn normalized(self) -> Self {
        match self {
            Self::String(s) => match s.parse::<i32>() {
                Ok(n) => Self::Int(n),
                Err(_) => Self::String(s),
            },
            int => int,
        }
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

impl serde::Serialize for IntOrString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(n) => serializer.serialize_i32(*n),
            Self::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntOrStringVisitor;

        impl Visitor<'_> for IntOrStringVisitor {
            type Value = IntOrString;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an int32 or a string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("{v} is out of range for an int32")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("{v} is out of range for an int32")))
            }

            fn visit_str<E>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_owned()))
            }
        }

        deserializer.deserialize_any(IntOrStringVisitor)
    }
}
