//! Registry bodies (list, describe, search) and the export bodies.

use crate::error::Reader;
use crate::schema::{FeatureType, KeyType};
use crate::varint;

use super::frame::WireError;
use super::messages::expect_end;
use super::values::*;
use super::{DecodeLimits, ErrorCode};

/// An entity as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityInfo {
    pub name: String,
    pub description: String,
    pub join_keys: Vec<(String, KeyType)>,
}

/// A feature view as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSummary {
    /// `name` or `name@version`.
    pub name: String,
    pub version: u32,
    pub entities: Vec<String>,
    pub features: u32,
    pub ttl_micros: i64,
    pub description: String,
    pub owner: String,
    pub team: String,
    pub tags: Vec<String>,
    pub online: bool,
    /// The view's id in the store (version 4).
    pub id: u32,
    /// When the view was first applied and last changed, µs (version 4).
    pub created_at: Option<i64>,
    pub changed_at: Option<i64>,
}

/// The answer to `RegistryList`: the entities, and the views the token may read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryList {
    pub entities: Vec<EntityInfo>,
    pub views: Vec<ViewSummary>,
}

/// One feature of a described view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureInfo {
    pub name: String,
    pub ty: FeatureType,
    pub description: String,
    pub tags: Vec<String>,
}

/// The answer to `Describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewDescription {
    pub name: String,
    pub version: u32,
    pub entities: Vec<String>,
    /// The view's key: its entities' join keys, concatenated.
    pub join_keys: Vec<(String, KeyType)>,
    pub ttl_micros: i64,
    pub features: Vec<FeatureInfo>,
    /// Every other declared field, the value in TOML syntax.
    pub metadata: Vec<(String, String)>,
    /// The view's id in the store (version 4).
    pub id: u32,
    /// Every version of the view, as `name@N` names them (version 4).
    pub versions: Vec<String>,
    /// Where its data comes from, as lineage says it (version 4).
    pub source: String,
    /// The statistics of its last file ingest as JSON (`strata registry
    /// describe --json`'s `last_ingest`), or empty (version 4).
    pub last_ingest: String,
}

/// What a search hit is.
/// DO NOT CHANGE THESE TAGS: they are sent over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HitKind {
    Entity = 1,
    View = 2,
    Feature = 3,
}

/// A text search over names, descriptions and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub query: String,
    /// At most this many hits; 0 = the server's maximum.
    pub limit: u32,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub kind: HitKind,
    /// The view of a view or feature hit; empty for an entity.
    pub view: String,
    /// The entity, view or feature name.
    pub name: String,
    /// Where the query matched: `name`, `description`, `tags`, ...
    pub matched: String,
}

fn put_strs(out: &mut Vec<u8>, v: &[String]) {
    varint::put(out, v.len() as u64);
    for s in v {
        put_str(out, s);
    }
}

fn get_strs(r: &mut Reader<'_>) -> Result<Vec<String>, WireError> {
    let n = get_count(r, "strings", usize::MAX, 1)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(get_string(r, usize::MAX)?);
    }
    Ok(v)
}

fn put_keys(out: &mut Vec<u8>, keys: &[(String, KeyType)]) {
    varint::put(out, keys.len() as u64);
    for (n, t) in keys {
        put_str(out, n);
        out.push(*t as u8);
    }
}

fn get_keys(r: &mut Reader<'_>) -> Result<Vec<(String, KeyType)>, WireError> {
    let n = get_count(r, "join keys", usize::MAX, 2)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let name = get_string(r, usize::MAX)?;
        v.push((name, get_key_type(r)?));
    }
    Ok(v)
}

impl RegistryList {
    pub fn encode(&self, out: &mut Vec<u8>) {
        varint::put(out, self.entities.len() as u64);
        for e in &self.entities {
            put_str(out, &e.name);
            put_str(out, &e.description);
            put_keys(out, &e.join_keys);
        }
        varint::put(out, self.views.len() as u64);
        for v in &self.views {
            put_str(out, &v.name);
            out.extend_from_slice(&v.version.to_le_bytes());
            put_strs(out, &v.entities);
            out.extend_from_slice(&v.features.to_le_bytes());
            out.extend_from_slice(&v.ttl_micros.to_le_bytes());
            put_str(out, &v.description);
            put_str(out, &v.owner);
            put_str(out, &v.team);
            put_strs(out, &v.tags);
            out.push(u8::from(v.online));
            out.extend_from_slice(&v.id.to_le_bytes());
            put_opt_i64(out, v.created_at);
            put_opt_i64(out, v.changed_at);
        }
    }

    pub fn decode(body: &[u8]) -> Result<RegistryList, WireError> {
        let mut r = Reader::new(body, "registry list");
        let n = get_count(&mut r, "entities", usize::MAX, 3)?;
        let mut entities = Vec::with_capacity(n);
        for _ in 0..n {
            entities.push(EntityInfo {
                name: get_string(&mut r, usize::MAX)?,
                description: get_string(&mut r, usize::MAX)?,
                join_keys: get_keys(&mut r)?,
            });
        }
        let n = get_count(&mut r, "views", usize::MAX, 33)?;
        let mut views = Vec::with_capacity(n);
        for _ in 0..n {
            views.push(ViewSummary {
                name: get_string(&mut r, usize::MAX)?,
                version: r.u32()?,
                entities: get_strs(&mut r)?,
                features: r.u32()?,
                ttl_micros: r.i64()?,
                description: get_string(&mut r, usize::MAX)?,
                owner: get_string(&mut r, usize::MAX)?,
                team: get_string(&mut r, usize::MAX)?,
                tags: get_strs(&mut r)?,
                online: get_bool(&mut r)?,
                id: r.u32()?,
                created_at: get_opt_i64(&mut r)?,
                changed_at: get_opt_i64(&mut r)?,
            });
        }
        expect_end(&r)?;
        Ok(RegistryList { entities, views })
    }
}

/// A `Describe` request body: the view's name.
pub fn encode_name(out: &mut Vec<u8>, name: &str) {
    put_str(out, name);
}

pub fn decode_name(body: &[u8], lim: &DecodeLimits) -> Result<String, WireError> {
    let mut r = Reader::new(body, "describe");
    let s = get_string(&mut r, lim.max_name)?;
    expect_end(&r)?;
    Ok(s)
}

impl ViewDescription {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_str(out, &self.name);
        out.extend_from_slice(&self.version.to_le_bytes());
        put_strs(out, &self.entities);
        put_keys(out, &self.join_keys);
        out.extend_from_slice(&self.ttl_micros.to_le_bytes());
        varint::put(out, self.features.len() as u64);
        for f in &self.features {
            put_str(out, &f.name);
            out.push(f.ty as u8);
            put_str(out, &f.description);
            put_strs(out, &f.tags);
        }
        varint::put(out, self.metadata.len() as u64);
        for (k, v) in &self.metadata {
            put_str(out, k);
            put_str(out, v);
        }
        out.extend_from_slice(&self.id.to_le_bytes());
        put_strs(out, &self.versions);
        put_str(out, &self.source);
        put_str(out, &self.last_ingest);
    }

    pub fn decode(body: &[u8]) -> Result<ViewDescription, WireError> {
        let mut r = Reader::new(body, "view description");
        let name = get_string(&mut r, usize::MAX)?;
        let version = r.u32()?;
        let entities = get_strs(&mut r)?;
        let join_keys = get_keys(&mut r)?;
        let ttl_micros = r.i64()?;
        let n = get_count(&mut r, "features", usize::MAX, 4)?;
        let mut features = Vec::with_capacity(n);
        for _ in 0..n {
            features.push(FeatureInfo {
                name: get_string(&mut r, usize::MAX)?,
                ty: get_feature_type(&mut r)?,
                description: get_string(&mut r, usize::MAX)?,
                tags: get_strs(&mut r)?,
            });
        }
        let n = get_count(&mut r, "metadata", usize::MAX, 2)?;
        let mut metadata = Vec::with_capacity(n);
        for _ in 0..n {
            let k = get_string(&mut r, usize::MAX)?;
            metadata.push((k, get_string(&mut r, usize::MAX)?));
        }
        let id = r.u32()?;
        let versions = get_strs(&mut r)?;
        let source = get_string(&mut r, usize::MAX)?;
        let last_ingest = get_string(&mut r, usize::MAX)?;
        expect_end(&r)?;
        Ok(ViewDescription {
            name,
            version,
            entities,
            join_keys,
            ttl_micros,
            features,
            metadata,
            id,
            versions,
            source,
            last_ingest,
        })
    }
}

impl SearchRequest {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_str(out, &self.query);
        out.extend_from_slice(&self.limit.to_le_bytes());
    }

    pub fn decode(body: &[u8], lim: &DecodeLimits) -> Result<SearchRequest, WireError> {
        let mut r = Reader::new(body, "search");
        let query = get_string(&mut r, lim.max_name)?;
        let limit = r.u32()?;
        expect_end(&r)?;
        Ok(SearchRequest { query, limit })
    }
}

pub fn encode_hits(out: &mut Vec<u8>, hits: &[SearchHit]) {
    varint::put(out, hits.len() as u64);
    for h in hits {
        out.push(h.kind as u8);
        put_str(out, &h.view);
        put_str(out, &h.name);
        put_str(out, &h.matched);
    }
}

pub fn decode_hits(body: &[u8]) -> Result<Vec<SearchHit>, WireError> {
    let mut r = Reader::new(body, "search result");
    let n = get_count(&mut r, "hits", usize::MAX, 4)?;
    let mut hits = Vec::with_capacity(n);
    for _ in 0..n {
        let b = r.u8()?;
        let kind = match b {
            1 => HitKind::Entity,
            2 => HitKind::View,
            3 => HitKind::Feature,
            _ => return Err(r.invalid(format!("hit kind {b}")).into()),
        };
        hits.push(SearchHit {
            kind,
            view: get_string(&mut r, usize::MAX)?,
            name: get_string(&mut r, usize::MAX)?,
            matched: get_string(&mut r, usize::MAX)?,
        });
    }
    expect_end(&r)?;
    Ok(hits)
}

/// Which versions an export may see (`--as-known-at`, `--no-future-writes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportKnownAt {
    #[default]
    Unbounded,
    At(i64),
    EventTime,
}

/// The first frame of an export; `ExportData` frames carrying the entity
/// table as an Arrow IPC stream and an empty `ExportEnd` follow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportStart {
    pub features: Vec<String>,
    pub full_feature_names: bool,
    pub known_at: ExportKnownAt,
}

impl ExportStart {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_strs(out, &self.features);
        out.push(u8::from(self.full_feature_names));
        match self.known_at {
            ExportKnownAt::Unbounded => out.push(0),
            ExportKnownAt::At(t) => {
                out.push(1);
                out.extend_from_slice(&t.to_le_bytes());
            }
            ExportKnownAt::EventTime => out.push(2),
        }
    }

    pub fn decode(body: &[u8], lim: &DecodeLimits) -> Result<ExportStart, WireError> {
        let mut r = Reader::new(body, "export start");
        let n = get_count(&mut r, "features per export", lim.max_features, 1)?;
        let mut features = Vec::with_capacity(n);
        for _ in 0..n {
            features.push(get_string(&mut r, lim.max_name)?);
        }
        let full_feature_names = get_bool(&mut r)?;
        let known_at = match r.u8()? {
            0 => ExportKnownAt::Unbounded,
            1 => ExportKnownAt::At(r.i64()?),
            2 => ExportKnownAt::EventTime,
            b => return Err(r.invalid(format!("known-at tag {b}")).into()),
        };
        expect_end(&r)?;
        Ok(ExportStart {
            features,
            full_feature_names,
            known_at,
        })
    }
}

/// The last frame of a successful export.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportDone {
    pub rows: u64,
    /// Per view, the rows that got a version.
    pub matched: Vec<(String, u64)>,
}

impl ExportDone {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.rows.to_le_bytes());
        super::messages::encode_stats(out, &self.matched);
    }

    pub fn decode(body: &[u8]) -> Result<ExportDone, WireError> {
        let rows = Reader::new(body, "export done").u64()?;
        let matched = super::messages::decode_stats(body.get(8..).unwrap_or(&[]))?;
        Ok(ExportDone { rows, matched })
    }
}

/// Decodes the body of any frame a client may send, as the server would,
/// and returns the error code it would answer with. For the fuzz target and
/// tests: the server calls the decoders one by one.
pub fn check_request(kind: super::Kind, body: &[u8], lim: &DecodeLimits) -> Result<(), ErrorCode> {
    use super::Kind as K;
    use super::messages as m;
    let r: Result<(), WireError> = match kind {
        K::Hello => m::Hello::decode(body, lim).map(drop),
        K::Lookup => super::lookup::LookupRequest::decode(body, lim).map(drop),
        K::History => super::rows::HistoryRequest::decode(body, lim).map(drop),
        K::Push => super::rows::PushRequest::decode(body, lim).map(drop),
        K::ExportStart => ExportStart::decode(body, lim).map(drop),
        K::ExportData => Ok(()),
        K::ExportEnd | K::RegistryList | K::Stats | K::Health => {
            m::decode_empty(body, "empty request")
        }
        K::Describe => decode_name(body, lim).map(drop),
        K::Search => SearchRequest::decode(body, lim).map(drop),
        K::Freshness => return super::freshness::check(body),
        K::Admin => super::admin::AdminRequest::decode(body, lim).map(drop),
        _ => return Err(ErrorCode::UnknownRequest),
    };
    r.map_err(|e| e.code())
}
