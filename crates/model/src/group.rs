//! IngressGroup identity: which group an Ingress belongs to, how members are ordered, and the
//! finalizer that ties an Ingress to its group's AWS resources.

use std::cmp::Ordering;
use std::fmt;

/// Finalizer prefix of explicit groups: `group.ingress.k8s.aws/<group>`.
pub const EXPLICIT_GROUP_FINALIZER_PREFIX: &str = "group.ingress.k8s.aws/";
/// Finalizer of implicit (single-Ingress) groups.
pub const IMPLICIT_GROUP_FINALIZER: &str = "ingress.k8s.aws/resources";
/// Longest accepted explicit group name.
pub const MAX_GROUP_NAME_LENGTH: usize = 63;
/// Smallest accepted `group.order`.
pub const MIN_GROUP_ORDER: i64 = -1000;
/// Largest accepted `group.order`.
pub const MAX_GROUP_ORDER: i64 = 1000;
/// `group.order` of an Ingress that does not set it.
pub const DEFAULT_GROUP_ORDER: i64 = 0;

/// The identity of an IngressGroup. It is also the stack ID and the `ingress.k8s.aws/stack` tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupId {
    /// A named group (`group.name` annotation or IngressClassParams `group.name`).
    Explicit { name: String },
    /// The group of one Ingress that names no group.
    Implicit { namespace: String, name: String },
}

impl GroupId {
    /// An explicit group, after checking the name.
    pub fn explicit(name: impl Into<String>) -> Result<Self, GroupNameError> {
        let name = name.into();
        validate_group_name(&name)?;
        Ok(Self::Explicit { name })
    }

    /// The implicit group of the Ingress `namespace/name`.
    pub fn implicit(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self::Implicit {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn is_explicit(&self) -> bool {
        matches!(self, Self::Explicit { .. })
    }

    /// The namespace part: empty for explicit groups.
    pub fn namespace(&self) -> &str {
        match self {
            Self::Explicit { .. } => "",
            Self::Implicit { namespace, .. } => namespace,
        }
    }

    /// The group name, or the Ingress name of an implicit group.
    pub fn name(&self) -> &str {
        match self {
            Self::Explicit { name } | Self::Implicit { name, .. } => name,
        }
    }

    /// The finalizer that members of this group carry.
    pub fn finalizer(&self) -> String {
        match self {
            Self::Explicit { name } => format!("{EXPLICIT_GROUP_FINALIZER_PREFIX}{name}"),
            Self::Implicit { .. } => IMPLICIT_GROUP_FINALIZER.to_owned(),
        }
    }

    /// The group that a finalizer on the Ingress `namespace/name` stands for, if it is one of
    /// ours. Used to find the groups an Ingress being deleted must still be removed from.
    pub fn from_finalizer(finalizer: &str, namespace: &str, name: &str) -> Option<Self> {
        if finalizer == IMPLICIT_GROUP_FINALIZER {
            return Some(Self::implicit(namespace, name));
        }
        let group = finalizer.strip_prefix(EXPLICIT_GROUP_FINALIZER_PREFIX)?;
        if group.is_empty() {
            return None;
        }
        Some(Self::Explicit {
            name: group.to_owned(),
        })
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit { name } => f.write_str(name),
            Self::Implicit { namespace, name } => write!(f, "{namespace}/{name}"),
        }
    }
}

/// A group name that breaks upstream's rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupNameError {
    #[error(
        "groupName must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    )]
    InvalidCharacters,
    #[error("groupName must be no more than {MAX_GROUP_NAME_LENGTH} characters")]
    TooLong,
}

/// Checks a group name against `^([a-z0-9][-a-z0-9.]*)?[a-z0-9]$` and the 63-character limit.
// TODO(model): reuse the annotation parser's validator once `contract::annotations` has one.
fn validate_group_name(name: &str) -> Result<(), GroupNameError> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err(GroupNameError::InvalidCharacters);
    };
    let inner_ok = bytes.iter().all(|&b| alnum(b) || b == b'-' || b == b'.');
    if !(alnum(first) && alnum(last) && inner_ok) {
        return Err(GroupNameError::InvalidCharacters);
    }
    if name.len() > MAX_GROUP_NAME_LENGTH {
        return Err(GroupNameError::TooLong);
    }
    Ok(())
}

/// A `group.order` outside [-1000, 1000].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "explicit Ingress group order must be within [{MIN_GROUP_ORDER}:{MAX_GROUP_ORDER}], Ingress: {namespace}/{name}, order: {order}"
)]
pub struct GroupOrderError {
    pub namespace: String,
    pub name: String,
    pub order: i64,
}

/// Checks an explicit `group.order` of the Ingress `namespace/name`.
pub fn validate_group_order(
    namespace: &str,
    name: &str,
    order: i64,
) -> Result<(), GroupOrderError> {
    if (MIN_GROUP_ORDER..=MAX_GROUP_ORDER).contains(&order) {
        Ok(())
    } else {
        Err(GroupOrderError {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            order,
        })
    }
}

/// What decides a member's place in its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberKey<'a> {
    pub order: i64,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl MemberKey<'_> {
    /// Upstream's member order: `group.order` ascending, then the string `namespace/name`
    /// ascending (compared as one string, so `a-b/x` sorts before `a/x`).
    pub fn cmp_order(&self, other: &Self) -> Ordering {
        self.order.cmp(&other.order).then_with(|| {
            let mine = [self.namespace.as_bytes(), b"/", self.name.as_bytes()];
            let theirs = [other.namespace.as_bytes(), b"/", other.name.as_bytes()];
            mine.iter()
                .flat_map(|part| part.iter())
                .cmp(theirs.iter().flat_map(|part| part.iter()))
        })
    }
}

/// Sorts group members into upstream's order (see [`MemberKey::cmp_order`]).
pub fn sort_members<T>(members: &mut [T], key: impl for<'a> Fn(&'a T) -> MemberKey<'a>) {
    members.sort_by(|a, b| key(a).cmp_order(&key(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_group_name_or_namespaced_name() {
        let explicit = GroupId::explicit("my-group").expect("valid name");
        assert_eq!(explicit.to_string(), "my-group");
        assert_eq!(explicit.namespace(), "");
        assert!(explicit.is_explicit());
        let implicit = GroupId::implicit("ns-1", "ing-1");
        assert_eq!(implicit.to_string(), "ns-1/ing-1");
        assert_eq!(implicit.name(), "ing-1");
        assert!(!implicit.is_explicit());
    }

    #[test]
    fn finalizers_follow_group_kind() {
        let explicit = GroupId::explicit("team.a").expect("valid name");
        assert_eq!(explicit.finalizer(), "group.ingress.k8s.aws/team.a");
        assert_eq!(
            GroupId::implicit("ns", "ing").finalizer(),
            "ingress.k8s.aws/resources"
        );
    }

    #[test]
    fn finalizer_maps_back_to_group() {
        let cases: &[(&str, Option<GroupId>)] = &[
            (
                "ingress.k8s.aws/resources",
                Some(GroupId::implicit("ns", "ing")),
            ),
            (
                "group.ingress.k8s.aws/g1",
                Some(GroupId::Explicit { name: "g1".into() }),
            ),
            ("group.ingress.k8s.aws/", None),
            ("elbv2.k8s.aws/resources", None),
            ("kubernetes", None),
        ];
        for (finalizer, want) in cases {
            assert_eq!(
                &GroupId::from_finalizer(finalizer, "ns", "ing"),
                want,
                "{finalizer}"
            );
        }
    }

    #[test]
    fn group_name_validation() {
        let too_long = "a".repeat(64);
        let longest = "a".repeat(63);
        let cases: &[(&str, Result<(), GroupNameError>)] = &[
            ("a", Ok(())),
            ("0", Ok(())),
            ("my-group.v2", Ok(())),
            ("a--b..c", Ok(())),
            (&longest, Ok(())),
            ("", Err(GroupNameError::InvalidCharacters)),
            ("-a", Err(GroupNameError::InvalidCharacters)),
            ("a-", Err(GroupNameError::InvalidCharacters)),
            (".a", Err(GroupNameError::InvalidCharacters)),
            ("a.", Err(GroupNameError::InvalidCharacters)),
            ("My-group", Err(GroupNameError::InvalidCharacters)),
            ("a_b", Err(GroupNameError::InvalidCharacters)),
            ("a b", Err(GroupNameError::InvalidCharacters)),
            ("grüppe", Err(GroupNameError::InvalidCharacters)),
            (&too_long, Err(GroupNameError::TooLong)),
        ];
        for (name, want) in cases {
            assert_eq!(&validate_group_name(name), want, "{name:?}");
            assert_eq!(GroupId::explicit(*name).is_ok(), want.is_ok(), "{name:?}");
        }
    }

    #[test]
    fn group_name_error_messages() {
        assert_eq!(
            GroupNameError::InvalidCharacters.to_string(),
            "groupName must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        );
        assert_eq!(
            GroupNameError::TooLong.to_string(),
            "groupName must be no more than 63 characters"
        );
    }

    #[test]
    fn group_order_range() {
        for order in [-1000, -1, 0, 1000] {
            assert!(validate_group_order("ns", "n", order).is_ok(), "{order}");
        }
        let err = validate_group_order("ns", "n", 1001).expect_err("out of range");
        assert_eq!(
            err.to_string(),
            "explicit Ingress group order must be within [-1000:1000], Ingress: ns/n, order: 1001"
        );
        assert!(validate_group_order("ns", "n", -1001).is_err());
    }

    #[test]
    fn members_sort_by_order_then_namespaced_name() {
        struct M(&'static str, &'static str, i64);
        let mut members = vec![
            M("ns-b", "ing", 0),
            M("a", "x", 0),
            M("ns-a", "ing-2", 0),
            M("ns-z", "first", -5),
            M("a-b", "x", 0),
            M("ns-a", "ing-1", 0),
            M("ns-0", "last", 10),
        ];
        sort_members(&mut members, |m| MemberKey {
            namespace: m.0,
            name: m.1,
            order: m.2,
        });
        let got: Vec<String> = members.iter().map(|m| format!("{}/{}", m.0, m.1)).collect();
        assert_eq!(
            got,
            [
                "ns-z/first",
                // '-' (0x2d) sorts before '/' (0x2f): compared as "a-b/x" vs "a/x".
                "a-b/x",
                "a/x",
                "ns-a/ing-1",
                "ns-a/ing-2",
                "ns-b/ing",
                "ns-0/last",
            ]
        );
    }
}
