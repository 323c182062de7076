//! Types and values of features and join keys.

use crate::tagged::tagged_enum;
use std::fmt;

tagged_enum! {
    /// The type of one feature. The tag is embedded in the catalog on disk.
    /// DO NOT CHANGE THESE TAGS: they are part of the stored format.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum FeatureType: u8, from_u8 {
        Int64 = 1 => "int64",
        Float64 = 2 => "float64",
        Float32 = 3 => "float32",
        Bool = 4 => "bool",
        String = 5 => "string",
        Bytes = 6 => "bytes",
        /// Microseconds since the Unix epoch, UTC.
        Timestamp = 7 => "timestamp",
        /// A list of `float32`, e.g. an embedding.
        ListFloat32 = 8 => "list<float32>",
        /// A list of strings, e.g. a `collect_set` or `last_k` of a string column.
        ListString = 9 => "list<string>",
        /// A list of `int64`.
        ListInt64 = 10 => "list<int64>",
        /// A list of `float64`.
        ListFloat64 = 11 => "list<float64>",
        /// Ordered (string key, `int64` count) entries, keys distinct: a histogram.
        MapStringInt64 = 12 => "map<string,int64>",
        /// Ordered (string key, `float64`) entries, keys distinct: a bucketed
        /// aggregation's value per bucket.
        MapStringFloat64 = 13 => "map<string,float64>",
    }
}

impl FeatureType {
    /// The width of a value of this type in a row, `None` when it varies
    /// (strings, bytes, lists, maps).
    pub fn fixed_width(self) -> Option<usize> {
        match self {
            FeatureType::Int64 | FeatureType::Float64 | FeatureType::Timestamp => Some(8),
            FeatureType::Float32 => Some(4),
            FeatureType::Bool => Some(1),
            FeatureType::String
            | FeatureType::Bytes
            | FeatureType::ListFloat32
            | FeatureType::ListString
            | FeatureType::ListInt64
            | FeatureType::ListFloat64
            | FeatureType::MapStringInt64
            | FeatureType::MapStringFloat64 => None,
        }
    }

    /// Whether values of this type are lists or maps.
    pub fn is_collection(self) -> bool {
        matches!(
            self,
            FeatureType::ListFloat32
                | FeatureType::ListString
                | FeatureType::ListInt64
                | FeatureType::ListFloat64
                | FeatureType::MapStringInt64
                | FeatureType::MapStringFloat64
        )
    }

    pub fn parse(name: &str) -> Option<FeatureType> {
        let n = name.trim();
        // `map<string, int64>` and `list< int64 >` name the same types.
        let compact: String = n.chars().filter(|c| !c.is_whitespace()).collect();
        FeatureType::ALL
            .into_iter()
            .find(|t| t.name() == compact)
            .or(match n {
                "list[float32]" | "list_float32" => Some(FeatureType::ListFloat32),
                _ => None,
            })
    }
}

/// The type of one join-key column.
/// DO NOT CHANGE THESE TAGS: they are part of the stored format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Int64 = 1,
    String = 2,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Int64 => "int64",
            KeyType::String => "string",
        }
    }

    pub fn parse(name: &str) -> Option<KeyType> {
        match name.trim() {
            "int64" => Some(KeyType::Int64),
            "string" => Some(KeyType::String),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One feature value. Every feature may be null.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int64(i64),
    Float64(f64),
    Float32(f32),
    Bool(bool),
    String(String),
    Bytes(Vec<u8>),
    Timestamp(i64),
    ListFloat32(Vec<f32>),
    ListString(Vec<String>),
    ListInt64(Vec<i64>),
    ListFloat64(Vec<f64>),
    /// Entries in their stored order; keys are distinct.
    MapStringInt64(Vec<(String, i64)>),
    /// Entries in their stored order; keys are distinct.
    MapStringFloat64(Vec<(String, f64)>),
}

impl Value {
    /// The type this value has, `None` for null.
    pub fn feature_type(&self) -> Option<FeatureType> {
        Some(match self {
            Value::Null => return None,
            Value::Int64(_) => FeatureType::Int64,
            Value::Float64(_) => FeatureType::Float64,
            Value::Float32(_) => FeatureType::Float32,
            Value::Bool(_) => FeatureType::Bool,
            Value::String(_) => FeatureType::String,
            Value::Bytes(_) => FeatureType::Bytes,
            Value::Timestamp(_) => FeatureType::Timestamp,
            Value::ListFloat32(_) => FeatureType::ListFloat32,
            Value::ListString(_) => FeatureType::ListString,
            Value::ListInt64(_) => FeatureType::ListInt64,
            Value::ListFloat64(_) => FeatureType::ListFloat64,
            Value::MapStringInt64(_) => FeatureType::MapStringInt64,
            Value::MapStringFloat64(_) => FeatureType::MapStringFloat64,
        })
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A number's value as an `f64` (what sums and means add up); `None`
    /// for anything else.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Int64(x) => Some(*x as f64),
            Value::Float64(x) => Some(*x),
            Value::Float32(x) => Some(f64::from(*x)),
            _ => None,
        }
    }
}

/// One join-key value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyValue {
    Int64(i64),
    String(String),
}

impl KeyValue {
    pub fn key_type(&self) -> KeyType {
        match self {
            KeyValue::Int64(_) => KeyType::Int64,
            KeyValue::String(_) => KeyType::String,
        }
    }

    /// Parses the text form of a key column (as typed on a command line).
    pub fn parse(ty: KeyType, text: &str) -> Option<KeyValue> {
        match ty {
            KeyType::Int64 => text.trim().parse().ok().map(KeyValue::Int64),
            KeyType::String => Some(KeyValue::String(text.to_string())),
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::Int64(v) => write!(f, "{v}"),
            KeyValue::String(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for t in FeatureType::ALL {
            assert_eq!(FeatureType::parse(t.name()), Some(t));
        }
        assert_eq!(FeatureType::parse("int32"), None);
        assert_eq!(
            FeatureType::parse(" map<string, int64>"),
            Some(FeatureType::MapStringInt64)
        );
        assert_eq!(
            FeatureType::parse("list< int64 >"),
            Some(FeatureType::ListInt64)
        );
        assert_eq!(FeatureType::parse("list<int32>"), None);
        assert_eq!(KeyType::parse("string"), Some(KeyType::String));
        assert_eq!(KeyType::parse("float64"), None);
    }
}
