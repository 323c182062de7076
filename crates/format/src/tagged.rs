//! [`tagged_enum!`]: the enums whose tags are stored or sent.

/// Declares a fieldless enum whose discriminants are tags of the stored
/// format or of the protocol, with `ALL` (every variant, in declaration
/// order, so that it cannot miss one) and `$from` (the variant of a tag,
/// `None` for an unknown tag). With a text per variant
/// (`Variant = tag => "text"`), also `name()` and `Display`.
macro_rules! tagged_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $repr:ident, $from:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $tag:literal => $text:literal ),+ $(,)?
        }
    ) => {
        $crate::tagged::tagged_enum! {
            $(#[$meta])*
            $vis enum $name: $repr, $from {
                $( $(#[$vmeta])* $variant = $tag ),+
            }
        }

        impl $name {
            /// The variant's name in text (definitions, messages, JSON).
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $repr:ident, $from:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $tag:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant = $tag, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The variant whose tag is `tag`; `None` for an unknown tag.
            pub fn $from(tag: $repr) -> Option<$name> {
                $name::ALL.into_iter().find(|v| *v as $repr == tag)
            }
        }
    };
}

pub(crate) use tagged_enum;

#[cfg(test)]
mod tests {
    use crate::protocol::{AdminOp, ErrorCode, Kind, Status, freshness::FreshnessStatus};
    use crate::schema::FeatureType;

    /// Each variant comes back from its tag, the tags are distinct, and
    /// an unused tag is no variant.
    fn round_trip<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        tag: impl Fn(T) -> u16,
        from: impl Fn(u16) -> Option<T>,
    ) {
        let mut tags: Vec<u16> = all.iter().map(|v| tag(*v)).collect();
        for v in all {
            assert_eq!(from(tag(*v)), Some(*v));
        }
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), all.len(), "{all:?}: two variants share a tag");
        let unused = (0..=u16::from(u8::MAX)).find(|t| !tags.contains(t));
        assert_eq!(unused.and_then(&from), None);
    }

    /// [`round_trip`] of each enum tagged by a `u8`.
    macro_rules! round_trip_u8 {
        ($($t:ident),*) => {$(
            round_trip(&$t::ALL, |v| v as u16, |t| $t::from_u8(t.try_into().ok()?));
        )*};
    }

    #[test]
    fn every_tagged_enum_round_trips_its_tags() {
        round_trip_u8!(AdminOp, Kind, Status, FreshnessStatus, FeatureType);
        round_trip(&ErrorCode::ALL, |v| v as u16, ErrorCode::from_u16);
        assert_eq!(ErrorCode::NotFound.to_string(), "NOT_FOUND");
        assert_eq!(FeatureType::MapStringInt64.name(), "map<string,int64>");
        assert_eq!(FeatureType::MapStringFloat64.name(), "map<string,float64>");
        assert_eq!(Status::ALL.len(), 5);
        assert_eq!(Status::Defaulted.name(), "DEFAULTED");
        assert_eq!(FeatureType::ALL.len(), 13);
    }
}
