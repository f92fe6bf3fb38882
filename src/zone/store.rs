//! The compact zone store: every owner name and every RDATA of a zone in
//! wire form, in a few flat arrays, with one hash index over the names.
//!
//! Layout (sizes per entry, for a zone of N names):
//!
//! - `names`: lower-cased, uncompressed wire names back to back (~the
//!   name's length);
//! - `nodes`: per name, where its name sits, its cut flag and the range of
//!   its RRsets (12 bytes); empty non-terminals have an empty range;
//! - `rrsets`: per RRset, type, TTL, record count and where its RDATA
//!   starts (12 bytes), a node's RRsets contiguous and ordered by type code;
//! - `rdata`: per record a big-endian u16 length and the RDATA as it goes on
//!   the wire, names in it uncompressed and in the case they were written;
//! - `index`: a hash table of node numbers (4 bytes + 1 control byte per
//!   slot), hashed by the name's wire bytes.
//!
//! A 1M-record zone of A records takes ~60 MB this way, against ~1 GB as one
//! hickory `Record` per record in a `HashMap<Name, Node>`. Records become
//! hickory types only when asked ([`RecordSet::records`]): the full path
//! (and tools) pay for the decoding, the fast path never does.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, Restrict};

/// Hashing for the name index: zone data is the operator's and query names
/// are only looked up, never inserted, so a fast seeded hash is safe.
type NameHasher = foldhash::fast::RandomState;

/// Longest wire-form name (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;

/// Where a node's name and RRsets are.
#[derive(Debug, Clone, Copy)]
struct NodeEntry {
    /// Offset of the name in `names`.
    name: u32,
    /// Its length (≤ 255).
    name_len: u8,
    /// A delegation point (NS below the apex).
    cut: bool,
    /// Number of RRsets.
    rrset_count: u16,
    /// Index of the first in `rrsets`.
    rrsets: u32,
}

/// Where an RRset's records are.
#[derive(Debug, Clone, Copy)]
struct RrsetEntry {
    rtype: u16,
    count: u16,
    ttl: u32,
    /// Offset of the first record's length prefix in `rdata`.
    rdata: u32,
}

/// The arrays; see the module comment.
#[derive(Clone, Default)]
pub(crate) struct Store {
    names: Vec<u8>,
    nodes: Vec<NodeEntry>,
    rrsets: Vec<RrsetEntry>,
    rdata: Vec<u8>,
    index: HashTable<u32>,
    hasher: NameHasher,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("nodes", &self.nodes.len())
            .field("rrsets", &self.rrsets.len())
            .field("bytes", &self.heap_bytes())
            .finish()
    }
}

impl Store {
    /// An empty store with room for `names` names of `name_bytes` bytes in
    /// all (growing by doubling would hold up to twice the memory at a
    /// reload's peak).
    pub(crate) fn with_capacity(names: usize, name_bytes: usize) -> Store {
        Store {
            names: Vec::with_capacity(name_bytes),
            nodes: Vec::with_capacity(names),
            index: HashTable::with_capacity(names),
            ..Store::default()
        }
    }

    /// Makes room for `rrsets` RRsets holding `rdata` bytes.
    pub(crate) fn reserve_records(&mut self, rrsets: usize, rdata: usize) {
        self.rrsets.reserve_exact(rrsets);
        self.rdata.reserve_exact(rdata);
    }

    /// The wire name of node `id`.
    fn name_of(&self, id: u32) -> &[u8] {
        let node = &self.nodes[id as usize];
        &self.names[node.name as usize..node.name as usize + node.name_len as usize]
    }

    /// The node whose lower-case wire name is `wire`.
    pub(crate) fn find(&self, wire: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(wire);
        self.index
            .find(hash, |&id| self.name_of(id) == wire)
            .copied()
    }

    /// The node for `wire`, added (with no RRsets) if absent. Returns its
    /// number and whether it was added.
    pub(crate) fn intern(&mut self, wire: &[u8]) -> (u32, bool) {
        let hash = self.hasher.hash_one(wire);
        let Store {
            names,
            nodes,
            index,
            hasher,
            ..
        } = self;
        let name_at = |id: u32| {
            let node = &nodes[id as usize];
            &names[node.name as usize..node.name as usize + node.name_len as usize]
        };
        if let Some(&id) = index.find(hash, |&id| name_at(id) == wire) {
            return (id, false);
        }
        let id = nodes.len() as u32;
        let name = names.len() as u32;
        names.extend_from_slice(wire);
        nodes.push(NodeEntry {
            name,
            name_len: wire.len() as u8,
            cut: false,
            rrset_count: 0,
            rrsets: 0,
        });
        index.insert_unique(hash, id, |&id| {
            let node = &nodes[id as usize];
            hasher.hash_one(&names[node.name as usize..node.name as usize + node.name_len as usize])
        });
        (id, true)
    }

    /// Starts node `id`'s RRsets at the next RRset to be pushed.
    pub(crate) fn begin_node(&mut self, id: u32, cut: bool) {
        let first = self.rrsets.len() as u32;
        let node = &mut self.nodes[id as usize];
        node.rrsets = first;
        node.rrset_count = 0;
        node.cut = cut;
    }

    /// Adds an RRset to the node begun last; `rdata` are its records.
    pub(crate) fn push_rrset<'r>(
        &mut self,
        id: u32,
        rtype: u16,
        ttl: u32,
        rdata: impl Iterator<Item = &'r [u8]>,
    ) {
        let start = self.rdata.len() as u32;
        let mut count = 0u16;
        for data in rdata {
            self.rdata
                .extend_from_slice(&(data.len() as u16).to_be_bytes());
            self.rdata.extend_from_slice(data);
            count += 1;
        }
        self.rrsets.push(RrsetEntry {
            rtype,
            count,
            ttl,
            rdata: start,
        });
        self.nodes[id as usize].rrset_count += 1;
    }

    /// Number of nodes.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Gives back spare capacity (the arrays grew by doubling).
    pub(crate) fn shrink(&mut self) {
        self.names.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.rrsets.shrink_to_fit();
        self.rdata.shrink_to_fit();
        let Store {
            names,
            nodes,
            index,
            hasher,
            ..
        } = self;
        index.shrink_to_fit(|&id| {
            let node = &nodes[id as usize];
            hasher.hash_one(&names[node.name as usize..node.name as usize + node.name_len as usize])
        });
    }

    /// Bytes held on the heap (for logs and benchmarks).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.names.capacity()
            + self.nodes.capacity() * size_of::<NodeEntry>()
            + self.rrsets.capacity() * size_of::<RrsetEntry>()
            + self.rdata.capacity()
            + self.index.capacity() * (size_of::<u32>() + 1)
    }
}

/// A name of a zone: a view into the store, `Copy` and free to make.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    store: &'a Store,
    id: u32,
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({}", self.name())?;
        for set in self.rrsets() {
            write!(f, " {}", set.rtype())?;
        }
        write!(f, ")")
    }
}

impl<'a> Node<'a> {
    pub(crate) fn new(store: &'a Store, id: u32) -> Node<'a> {
        Node { store, id }
    }

    fn entry(&self) -> &'a NodeEntry {
        &self.store.nodes[self.id as usize]
    }

    /// True when this is a delegation point (NS records below the apex).
    pub fn is_cut(&self) -> bool {
        self.entry().cut
    }

    /// True for an empty non-terminal (no RRsets).
    pub fn is_empty(&self) -> bool {
        self.entry().rrset_count == 0
    }

    /// The lower-cased name in uncompressed wire form.
    pub fn name_wire(&self) -> &'a [u8] {
        self.store.name_of(self.id)
    }

    /// The lower-cased name (allocates: decoded from the wire form).
    pub fn name(&self) -> Name {
        name_from_wire(self.name_wire())
    }

    /// Position of this node in the zone's store, stable for the zone's
    /// life (0..[`Zone::name_count`](super::Zone::name_count)).
    pub fn index(&self) -> usize {
        self.id as usize
    }

    /// The RRsets at this name, ordered by type code.
    pub fn rrsets(&self) -> impl ExactSizeIterator<Item = RecordSet<'a>> + use<'a> {
        let entry = self.entry();
        let store = self.store;
        (entry.rrsets..entry.rrsets + entry.rrset_count as u32)
            .map(move |id| RecordSet { store, id })
    }

    /// The RRset of type `rtype` at this name, if any.
    pub fn get(&self, rtype: RecordType) -> Option<RecordSet<'a>> {
        let code = u16::from(rtype);
        self.rrsets().find(|set| set.entry().rtype == code)
    }
}

/// All records of one type at one name: a view into the store.
#[derive(Clone, Copy)]
pub struct RecordSet<'a> {
    store: &'a Store,
    id: u32,
}

impl std::fmt::Debug for RecordSet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordSet({} x{})", self.rtype(), self.len())
    }
}

impl<'a> RecordSet<'a> {
    fn entry(&self) -> &'a RrsetEntry {
        &self.store.rrsets[self.id as usize]
    }

    /// The type shared by every record.
    pub fn rtype(&self) -> RecordType {
        RecordType::from(self.entry().rtype)
    }

    /// The type code.
    pub fn type_code(&self) -> u16 {
        self.entry().rtype
    }

    /// The TTL of every record (the lowest given, per RFC 2181 §5.2).
    pub fn ttl(&self) -> u32 {
        self.entry().ttl
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.entry().count as usize
    }

    /// True when the set has no records (never, for a built zone).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each record's RDATA in wire form (names uncompressed). No allocation.
    pub fn rdata_wire(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let entry = self.entry();
        let arena = &self.store.rdata[..];
        let mut at = entry.rdata as usize;
        (0..entry.count).map(move |_| {
            let len = u16::from_be_bytes([arena[at], arena[at + 1]]) as usize;
            let data = &arena[at + 2..at + 2 + len];
            at += 2 + len;
            data
        })
    }

    /// Each record's RDATA decoded into hickory's type (allocates).
    pub fn rdatas(&self) -> impl Iterator<Item = RData> + use<'a> {
        let rtype = self.rtype();
        self.rdata_wire()
            .filter_map(move |wire| decode_rdata(rtype, wire))
    }

    /// The records as hickory `Record`s owned by `owner` (allocates: the
    /// full path and tools use this; the fast path reads [`Self::rdata_wire`]).
    pub fn records(&self, owner: &Name) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.len());
        self.push_records(owner, &mut out);
        out
    }

    /// Appends the records, owned by `owner`, to `out`.
    pub fn push_records(&self, owner: &Name, out: &mut Vec<Record>) {
        let ttl = self.ttl();
        out.extend(
            self.rdatas()
                .map(|data| Record::from_rdata(owner.clone(), ttl, data)),
        );
    }
}

/// Decodes one RDATA; `None` only if it is not what the store wrote (the
/// store only holds RDATA hickory encoded or validated, so never in practice).
pub(crate) fn decode_rdata(rtype: RecordType, wire: &[u8]) -> Option<RData> {
    let mut decoder = BinDecoder::new(wire);
    RData::read(&mut decoder, rtype, Restrict::new(wire.len() as u16)).ok()
}

/// A wire name (as the store keeps them) as a hickory `Name`.
pub(crate) fn name_from_wire(wire: &[u8]) -> Name {
    let mut decoder = BinDecoder::new(wire);
    Name::read(&mut decoder).unwrap_or_else(|_| Name::root())
}

/// Lower-cased uncompressed wire form of `name`, owned (the key every name
/// table — zone store, fast table, signatures — compares names by).
pub fn wire_lower(name: &Name) -> Vec<u8> {
    let mut buf = [0u8; MAX_NAME_LEN];
    let len = wire_lower_into(name, &mut buf);
    buf[..len].to_vec()
}

/// Writes `name` lower-cased in uncompressed wire form into `buf`; returns
/// the length (a `Name` never exceeds 255 bytes).
pub fn wire_lower_into(name: &Name, buf: &mut [u8; MAX_NAME_LEN]) -> usize {
    let mut at = 0;
    for label in name.iter() {
        if at + 1 + label.len() >= MAX_NAME_LEN {
            break;
        }
        buf[at] = label.len() as u8;
        for (i, b) in label.iter().enumerate() {
            buf[at + 1 + i] = b.to_ascii_lowercase();
        }
        at += 1 + label.len();
    }
    buf[at] = 0;
    at + 1
}

/// True when wire name `name` is `origin` or below it (both lower-case).
pub(crate) fn wire_in_zone(name: &[u8], origin: &[u8]) -> bool {
    let mut at = 0;
    while at < name.len() {
        if name[at..] == *origin {
            return true;
        }
        at += 1 + name[at] as usize;
    }
    false
}

/// The parent of wire name `name` (empty for the root).
pub(crate) fn wire_parent(name: &[u8]) -> &[u8] {
    match name.first() {
        Some(&len) if len > 0 => &name[1 + len as usize..],
        _ => &[],
    }
}
