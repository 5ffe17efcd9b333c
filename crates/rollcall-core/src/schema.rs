//! Schema in the metadata (NebulaGraph's tags and edge types): per space,
//! named tags and edge types, each with typed properties and a version
//! that counts its changes. This module holds the records and the pure
//! rules (names, types, what an alteration may do); the replicated state
//! applies them (`state/schema.rs`) and agents cache them
//! ([`crate::MetadataSnapshot::tag`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most properties one tag or edge type may have.
pub const MAX_PROPERTIES: usize = 64;

/// Most tags and edge types one space may have (with [`MAX_PROPERTIES`],
/// a whole space's schema stays well inside one metadata answer).
pub const MAX_ITEMS_PER_SPACE: usize = 512;

/// The type of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropType {
    /// UTF-8 text.
    String,
    /// A 64-bit signed integer.
    Int,
    /// A 64-bit float.
    Double,
    /// true or false.
    Bool,
    /// Seconds since the Unix epoch, as an integer.
    Timestamp,
}

impl PropType {
    /// Every type, in the order documentation lists them.
    pub const ALL: [PropType; 5] = [
        PropType::String,
        PropType::Int,
        PropType::Double,
        PropType::Bool,
        PropType::Timestamp,
    ];

    /// The type's name: `string`, `int`, `double`, `bool`, `timestamp`.
    pub fn as_str(self) -> &'static str {
        match self {
            PropType::String => "string",
            PropType::Int => "int",
            PropType::Double => "double",
            PropType::Bool => "bool",
            PropType::Timestamp => "timestamp",
        }
    }

    /// The type named `name` (case-insensitive).
    pub fn parse(name: &str) -> Result<PropType, SchemaError> {
        PropType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| SchemaError::UnknownType(name.to_string()))
    }
}

impl fmt::Display for SchemaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SchemaKind::Tag => "tag",
            SchemaKind::Edge => "edge type",
        })
    }
}

impl fmt::Display for PropType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a schema item is a tag (on vertices) or an edge type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaKind {
    /// A tag: a set of properties a vertex may carry.
    Tag,
    /// An edge type.
    Edge,
}

impl SchemaKind {
    /// `tag` or `edge`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaKind::Tag => "tag",
            SchemaKind::Edge => "edge",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<SchemaKind> {
        match name {
            "tag" => Some(SchemaKind::Tag),
            "edge" => Some(SchemaKind::Edge),
            _ => None,
        }
    }
}

/// One typed property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    /// Name, unique within its tag or edge type.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub ty: PropType,
}

impl Property {
    /// Parses `NAME:TYPE` (as the CLI takes it).
    pub fn parse(spec: &str) -> Result<Property, SchemaError> {
        let (name, ty) = spec
            .split_once(':')
            .ok_or_else(|| SchemaError::BadProperty(spec.to_string()))?;
        check_name("property", name)?;
        Ok(Property {
            name: name.to_string(),
            ty: PropType::parse(ty)?,
        })
    }
}

/// Where a schema item lives: its space and its name (tags and edge types
/// share one namespace per space, so a name is either).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SchemaKey {
    /// The space.
    pub space: String,
    /// The tag's or edge type's name.
    pub name: String,
}

/// A tag or an edge type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaItem {
    /// Tag or edge type.
    pub kind: SchemaKind,
    /// Space and name.
    pub key: SchemaKey,
    /// 1 when created, +1 on each alteration.
    pub version: u64,
    /// The properties, in the order they were added.
    pub properties: Vec<Property>,
    /// The metadata version of its last change (deltas carry items
    /// changed after an agent's version).
    pub changed_at: u64,
}

impl SchemaItem {
    /// The property named `name`.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// A schema change that cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SchemaError {
    /// A type name that is not one of the five.
    #[error("unknown property type {0:?}: use string, int, double, bool or timestamp")]
    UnknownType(String),
    /// Not `NAME:TYPE`.
    #[error("property {0:?} is not NAME:TYPE (for example name:string)")]
    BadProperty(String),
    /// A name that is not an identifier.
    #[error("{what} name {name:?}: use 1 to 64 letters, digits or '_', not starting with a digit")]
    BadName {
        /// What was named (tag, edge, property).
        what: String,
        /// The name.
        name: String,
    },
    /// The same property twice.
    #[error("property {0:?} is given twice")]
    DuplicateProperty(String),
    /// A tag or edge type of that name exists in the space.
    #[error("{kind} {name:?} already exists in space {space:?}")]
    Exists {
        /// What exists under the name.
        kind: SchemaKind,
        /// Space.
        space: String,
        /// Name.
        name: String,
    },
    /// No tag (or edge type) of that name in the space.
    #[error("no {kind} {name:?} in space {space:?}; `rollcall schema list {space}` lists them")]
    Unknown {
        /// What was looked for.
        kind: SchemaKind,
        /// Space.
        space: String,
        /// Name.
        name: String,
    },
    /// Adding a property the item has.
    #[error("{kind} {name:?} already has a property {prop:?}")]
    PropertyExists {
        /// Tag or edge.
        kind: SchemaKind,
        /// The item.
        name: String,
        /// The property.
        prop: String,
    },
    /// Dropping a property the item does not have.
    #[error("{kind} {name:?} has no property {prop:?}")]
    NoSuchProperty {
        /// Tag or edge.
        kind: SchemaKind,
        /// The item.
        name: String,
        /// The property.
        prop: String,
    },
    /// An alteration that changes nothing.
    #[error("nothing to alter: give --add PROP:TYPE or --drop PROP")]
    EmptyAlter,
    /// More properties than a tag or edge type may have.
    #[error("at most {max} properties per tag or edge type ({count} asked for)")]
    TooManyProperties {
        /// The bound.
        max: usize,
        /// What was asked for.
        count: usize,
    },
    /// More tags and edge types than a space may have.
    #[error("space {space:?} already has {max} tags and edge types, the most it may have")]
    TooManyItems {
        /// The space.
        space: String,
        /// The bound.
        max: usize,
    },
}

/// Checks a tag, edge type or property name: an identifier of 1 to 64
/// ASCII letters, digits or `_`, not starting with a digit.
pub fn check_name(what: &'static str, name: &str) -> Result<(), SchemaError> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(SchemaError::BadName {
            what: what.to_string(),
            name: name.to_string(),
        })
    }
}

/// Checks a new item's properties: valid, distinct names, at most
/// [`MAX_PROPERTIES`].
pub fn check_properties(props: &[Property]) -> Result<(), SchemaError> {
    if props.len() > MAX_PROPERTIES {
        return Err(SchemaError::TooManyProperties {
            max: MAX_PROPERTIES,
            count: props.len(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for p in props {
        check_name("property", &p.name)?;
        if !seen.insert(p.name.as_str()) {
            return Err(SchemaError::DuplicateProperty(p.name.clone()));
        }
    }
    Ok(())
}

/// The properties of `item` after adding `add` and dropping `drop`:
/// every added name must be new, every dropped name present.
pub fn altered(
    item: &SchemaItem,
    add: &[Property],
    drop: &[String],
) -> Result<Vec<Property>, SchemaError> {
    if add.is_empty() && drop.is_empty() {
        return Err(SchemaError::EmptyAlter);
    }
    check_properties(add)?;
    let mut dropped = std::collections::HashSet::new();
    if let Some(twice) = drop.iter().find(|d| !dropped.insert(d.as_str())) {
        return Err(SchemaError::DuplicateProperty(twice.clone()));
    }
    let mut props = item.properties.clone();
    for d in drop {
        let before = props.len();
        props.retain(|p| &p.name != d);
        if props.len() == before {
            return Err(SchemaError::NoSuchProperty {
                kind: item.kind,
                name: item.key.name.clone(),
                prop: d.clone(),
            });
        }
    }
    for a in add {
        if props.iter().any(|p| p.name == a.name) {
            return Err(SchemaError::PropertyExists {
                kind: item.kind,
                name: item.key.name.clone(),
                prop: a.name.clone(),
            });
        }
        props.push(a.clone());
    }
    if props.len() > MAX_PROPERTIES {
        return Err(SchemaError::TooManyProperties {
            max: MAX_PROPERTIES,
            count: props.len(),
        });
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(props: &[&str]) -> SchemaItem {
        SchemaItem {
            kind: SchemaKind::Tag,
            key: SchemaKey {
                space: "s".into(),
                name: "player".into(),
            },
            version: 1,
            properties: props.iter().map(|p| Property::parse(p).unwrap()).collect(),
            changed_at: 1,
        }
    }

    #[test]
    fn properties_parse_with_their_types_and_refuse_the_rest() {
        assert_eq!(
            Property::parse("age:INT"),
            Ok(Property {
                name: "age".into(),
                ty: PropType::Int
            })
        );
        for t in PropType::ALL {
            assert_eq!(PropType::parse(t.as_str()), Ok(t));
        }
        assert_eq!(
            Property::parse("age:integer"),
            Err(SchemaError::UnknownType("integer".into()))
        );
        assert_eq!(
            Property::parse("age"),
            Err(SchemaError::BadProperty("age".into()))
        );
        assert!(matches!(
            Property::parse("1st:int"),
            Err(SchemaError::BadName { .. })
        ));
        assert!(check_name("tag", "player_2").is_ok());
        assert!(check_name("tag", "").is_err());
        assert!(check_name("tag", "a-b").is_err());
        assert!(check_name("tag", &"x".repeat(65)).is_err());
    }

    #[test]
    fn duplicates_are_refused() {
        let p = |s| Property::parse(s).unwrap();
        assert_eq!(
            check_properties(&[p("a:int"), p("a:string")]),
            Err(SchemaError::DuplicateProperty("a".into()))
        );
    }

    #[test]
    fn alterations_add_new_and_drop_existing_properties() {
        let i = item(&["name:string", "age:int"]);
        let add = [Property::parse("score:double").unwrap()];
        let props = altered(&i, &add, &["age".into()]).unwrap();
        let names: Vec<&str> = props.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["name", "score"]);
        assert_eq!(
            altered(&i, &[], &["nope".into()]),
            Err(SchemaError::NoSuchProperty {
                kind: SchemaKind::Tag,
                name: "player".into(),
                prop: "nope".into()
            })
        );
        assert!(matches!(
            altered(&i, &[Property::parse("name:int").unwrap()], &[]),
            Err(SchemaError::PropertyExists { .. })
        ));
        // Drop then re-add with another type, in one alteration.
        let props = altered(
            &i,
            &[Property::parse("age:string").unwrap()],
            &["age".into()],
        )
        .unwrap();
        assert_eq!(i.property("age").map(|p| p.ty), Some(PropType::Int));
        assert_eq!(props[1].ty, PropType::String);
        assert_eq!(altered(&i, &[], &[]), Err(SchemaError::EmptyAlter));
        assert_eq!(
            altered(&i, &[], &["age".into(), "age".into()]),
            Err(SchemaError::DuplicateProperty("age".into()))
        );
    }

    #[test]
    fn a_tag_has_at_most_max_properties_however_it_grows() {
        let many: Vec<Property> = (0..=MAX_PROPERTIES)
            .map(|i| Property::parse(&format!("p{i}:int")).unwrap())
            .collect();
        assert!(matches!(
            check_properties(&many),
            Err(SchemaError::TooManyProperties { .. })
        ));
        let mut full = item(&[]);
        full.properties = many[..MAX_PROPERTIES].to_vec();
        assert!(check_properties(&full.properties).is_ok());
        assert!(matches!(
            altered(&full, &[Property::parse("one_more:int").unwrap()], &[]),
            Err(SchemaError::TooManyProperties { .. })
        ));
    }
}
