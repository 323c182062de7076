//! Arrow columns of the list and map feature types.
//!
//! | feature type        | Arrow type                                        |
//! |---------------------|---------------------------------------------------|
//! | `list<float32>`     | `List<Float32>`                                   |
//! | `list<float64>`     | `List<Float64>`                                   |
//! | `list<int64>`       | `List<Int64>`                                     |
//! | `list<string>`      | `List<Utf8>`                                      |
//! | `map<string,int64>` | `Map<Utf8, Int64>` (entries `keys`, `values`; unsorted) |
//! | `map<string,float64>` | `Map<Utf8, Float64>` (likewise)                 |
//!
//! List items and map values are never null. A map keeps its entries in
//! the stored order (a histogram's: by count, largest first; a bucketed
//! aggregation's: by key, ascending).

use std::sync::Arc;

use arrow_array::builder::{
    Float32Builder, Float64Builder, Int64Builder, ListBuilder, MapBuilder, StringBuilder,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use strata_format::schema::{FeatureType, Value};

/// A builder of one list or map column.
pub struct CollectionBuilder(Inner);

enum Inner {
    F32(ListBuilder<Float32Builder>),
    F64(ListBuilder<Float64Builder>),
    I64(ListBuilder<Int64Builder>),
    Str(ListBuilder<StringBuilder>),
    Map(MapBuilder<StringBuilder, Int64Builder>),
    MapF64(MapBuilder<StringBuilder, Float64Builder>),
}

impl CollectionBuilder {
    /// A builder for `ty`, `None` if `ty` is not a list or map type.
    pub fn new(ty: FeatureType, rows: usize) -> Option<CollectionBuilder> {
        Some(CollectionBuilder(match ty {
            FeatureType::ListFloat32 => Inner::F32(ListBuilder::with_capacity(
                Float32Builder::with_capacity(rows),
                rows,
            )),
            FeatureType::ListFloat64 => Inner::F64(ListBuilder::with_capacity(
                Float64Builder::with_capacity(rows),
                rows,
            )),
            FeatureType::ListInt64 => Inner::I64(ListBuilder::with_capacity(
                Int64Builder::with_capacity(rows),
                rows,
            )),
            FeatureType::ListString => Inner::Str(ListBuilder::with_capacity(
                StringBuilder::with_capacity(rows, rows * 8),
                rows,
            )),
            FeatureType::MapStringInt64 => Inner::Map(MapBuilder::with_capacity(
                None,
                StringBuilder::new(),
                Int64Builder::new(),
                rows,
            )),
            FeatureType::MapStringFloat64 => Inner::MapF64(MapBuilder::with_capacity(
                None,
                StringBuilder::new(),
                Float64Builder::new(),
                rows,
            )),
            _ => return None,
        }))
    }

    pub fn push_null(&mut self) {
        match &mut self.0 {
            Inner::F32(b) => b.append_null(),
            Inner::F64(b) => b.append_null(),
            Inner::I64(b) => b.append_null(),
            Inner::Str(b) => b.append_null(),
            // Cannot fail: keys and values stay of equal length.
            Inner::Map(b) => drop(b.append(false)),
            Inner::MapF64(b) => drop(b.append(false)),
        }
    }

    /// Appends a value; `false` if it is neither null nor of the column's type.
    pub fn push(&mut self, v: &Value) -> bool {
        match (&mut self.0, v) {
            (_, Value::Null) => self.push_null(),
            (Inner::F32(b), Value::ListFloat32(l)) => {
                b.values().append_slice(l);
                b.append(true);
            }
            (Inner::F64(b), Value::ListFloat64(l)) => {
                b.values().append_slice(l);
                b.append(true);
            }
            (Inner::I64(b), Value::ListInt64(l)) => {
                b.values().append_slice(l);
                b.append(true);
            }
            (Inner::Str(b), Value::ListString(l)) => {
                for s in l {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            (Inner::Map(b), Value::MapStringInt64(m)) => {
                for (k, n) in m {
                    b.keys().append_value(k);
                    b.values().append_value(*n);
                }
                // Cannot fail: one value was appended per key.
                let _ = b.append(true);
            }
            (Inner::MapF64(b), Value::MapStringFloat64(m)) => {
                for (k, x) in m {
                    b.keys().append_value(k);
                    b.values().append_value(*x);
                }
                // Cannot fail: one value was appended per key.
                let _ = b.append(true);
            }
            _ => return false,
        }
        true
    }

    pub fn finish(&mut self) -> ArrayRef {
        match &mut self.0 {
            Inner::F32(b) => Arc::new(b.finish()),
            Inner::F64(b) => Arc::new(b.finish()),
            Inner::I64(b) => Arc::new(b.finish()),
            Inner::Str(b) => Arc::new(b.finish()),
            Inner::Map(b) => Arc::new(b.finish()),
            Inner::MapF64(b) => Arc::new(b.finish()),
        }
    }
}

/// The Arrow type of a list or map feature column (what
/// [`CollectionBuilder`] builds); `None` for other types.
pub fn collection_arrow_type(ty: FeatureType) -> Option<DataType> {
    CollectionBuilder::new(ty, 0).map(|mut b| b.finish().data_type().clone())
}

/// The item type of a list type, or the (key, value) types of the map type.
pub fn item_types(ty: FeatureType) -> Option<(FeatureType, Option<FeatureType>)> {
    Some(match ty {
        FeatureType::ListFloat32 => (FeatureType::Float32, None),
        FeatureType::ListFloat64 => (FeatureType::Float64, None),
        FeatureType::ListInt64 => (FeatureType::Int64, None),
        FeatureType::ListString => (FeatureType::String, None),
        FeatureType::MapStringInt64 => (FeatureType::String, Some(FeatureType::Int64)),
        FeatureType::MapStringFloat64 => (FeatureType::String, Some(FeatureType::Float64)),
        _ => return None,
    })
}

/// The list value of type `ty` holding `items` (each of the list's item
/// type, see [`item_types`]; items of another type are skipped: the caller
/// converted them to the item type).
pub fn list_value(ty: FeatureType, items: &[Value]) -> Value {
    macro_rules! collect {
        ($variant:ident, $item:ident) => {
            Value::$variant(
                items
                    .iter()
                    .filter_map(|x| match x {
                        Value::$item(v) => Some(v.clone()),
                        _ => None,
                    })
                    .collect(),
            )
        };
    }
    match ty {
        FeatureType::ListFloat64 => collect!(ListFloat64, Float64),
        FeatureType::ListInt64 => collect!(ListInt64, Int64),
        FeatureType::ListString => collect!(ListString, String),
        _ => collect!(ListFloat32, Float32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_build_their_declared_types() {
        for ty in FeatureType::ALL {
            let Some(mut b) = CollectionBuilder::new(ty, 2) else {
                assert!(!ty.is_collection());
                continue;
            };
            let v = match ty {
                FeatureType::ListFloat32 => Value::ListFloat32(vec![1.0]),
                FeatureType::ListFloat64 => Value::ListFloat64(vec![1.0, 2.0]),
                FeatureType::ListInt64 => Value::ListInt64(vec![]),
                FeatureType::ListString => Value::ListString(vec!["a".into()]),
                FeatureType::MapStringFloat64 => {
                    Value::MapStringFloat64(vec![("b".into(), 0.5), ("a".into(), -2.0)])
                }
                _ => Value::MapStringInt64(vec![("a".into(), 2), ("b".into(), 1)]),
            };
            assert!(b.push(&v));
            assert!(b.push(&Value::Null));
            assert!(!b.push(&Value::Int64(1)));
            let a = b.finish();
            assert_eq!(Some(a.data_type().clone()), collection_arrow_type(ty));
            assert_eq!(a.len(), 2);
            assert!(a.is_null(1) && !a.is_null(0));
            // Ingest reads the column back as the same values.
            assert_eq!(
                crate::read::convert::convert(a.as_ref(), ty),
                Ok(vec![v, Value::Null])
            );
        }
    }

    #[test]
    fn ingest_refuses_null_items_and_repeated_keys() {
        use crate::read::convert::{ColumnError, convert};
        use arrow_array::builder::{ListBuilder, MapBuilder};
        let mut b = ListBuilder::new(StringBuilder::new());
        b.values().append_value("a");
        b.append(true);
        b.values().append_value("a");
        b.values().append_null();
        b.append(true);
        let e = convert(&b.finish(), FeatureType::ListString).unwrap_err();
        assert!(
            matches!(&e, ColumnError::Cell(1, why) if why.contains("item 2 is null")),
            "{e:?}"
        );
        let mut m = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        for k in ["k", "k"] {
            m.keys().append_value(k);
            m.values().append_value(1);
        }
        m.append(true).unwrap();
        let e = convert(&m.finish(), FeatureType::MapStringInt64).unwrap_err();
        assert!(
            matches!(&e, ColumnError::Cell(0, why) if why.contains("appears twice")),
            "{e:?}"
        );
        // An Int32 list is read as list<int64>, a string list is not.
        let ints = arrow_array::ListArray::from_iter_primitive::<arrow_array::types::Int32Type, _, _>(
            vec![Some(vec![Some(1), Some(2)])],
        );
        assert_eq!(
            convert(&ints, FeatureType::ListInt64),
            Ok(vec![Value::ListInt64(vec![1, 2])])
        );
        assert!(matches!(
            convert(&ints, FeatureType::ListString),
            Err(ColumnError::Type(_))
        ));
    }
}
