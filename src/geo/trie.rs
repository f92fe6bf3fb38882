//! A binary prefix trie of networks, one per address family.
//!
//! It answers, in one walk of at most 32 (IPv4) or 128 (IPv6) steps, both
//! the longest-prefix match for an address and how many leading bits of the
//! address that match depends on (see [`Walk::depth`]). The cost of a walk is
//! bounded by the address length, not by the number of networks, and a walk
//! allocates nothing: nodes are indices into one `Vec` built at load time.
//!
//! Every stored network also knows the nearest network enclosing it
//! ([`PrefixTrie::parent`]), so a caller can fall through from the most
//! specific match to ever more general ones without walking again.

use std::net::IpAddr;

use ipnet::IpNet;

/// No node or no entry.
const NONE: u32 = u32::MAX;

/// One trie node. Child index 0 means "no child": the root is node 0 and
/// is never anyone's child.
#[derive(Debug, Clone, Copy)]
struct Node {
    child: [u32; 2],
    /// Index into `entries` of the network ending here, or [`NONE`].
    entry: u32,
}

const EMPTY_NODE: Node = Node {
    child: [0, 0],
    entry: NONE,
};

/// A stored network and its value.
#[derive(Debug, Clone)]
struct Entry<T> {
    value: T,
    prefix: u8,
    /// The nearest entry whose network encloses this one, or [`NONE`].
    parent: u32,
}

/// The trie of one family.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
    /// Address length in bits (32 or 128).
    bits: u8,
}

impl Tree {
    fn new(bits: u8) -> Tree {
        Tree {
            nodes: vec![EMPTY_NODE],
            bits,
        }
    }

    /// Bit `i` (0 = most significant) of a left-aligned key.
    fn bit(key: u128, i: u8) -> usize {
        ((key >> (127 - i as u32)) & 1) as usize
    }
}

/// The result of walking an address down the trie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    /// The most specific network containing the address (an entry id for
    /// [`PrefixTrie::get`] and [`PrefixTrie::parent`]).
    pub best: Option<u32>,
    /// The fewest leading bits of the address such that every address
    /// sharing them has the same `best` (and so the same chain of enclosing
    /// networks): the depth at which the address's path leaves the trie,
    /// plus one when a network branches off the path there. 0 when the
    /// family holds no network at all.
    pub depth: u8,
}

/// Networks of both families mapped to values, built once at load time.
#[derive(Debug, Clone)]
pub struct PrefixTrie<T> {
    v4: Tree,
    v6: Tree,
    entries: Vec<Entry<T>>,
}

impl<T> Default for PrefixTrie<T> {
    fn default() -> Self {
        PrefixTrie {
            v4: Tree::new(32),
            v6: Tree::new(128),
            entries: Vec::new(),
        }
    }
}

/// An address as a left-aligned 128-bit key, with its family's tree.
fn key(addr: IpAddr) -> (u128, bool) {
    match addr {
        IpAddr::V4(a) => ((u32::from(a) as u128) << 96, true),
        IpAddr::V6(a) => (u128::from(a), false),
    }
}

impl<T> PrefixTrie<T> {
    /// Adds `net` (host bits are ignored). Returns the value it replaced
    /// when the same network was already stored.
    pub fn insert(&mut self, net: IpNet, value: T) -> Option<T> {
        let prefix = net.prefix_len();
        let (k, v4) = key(net.addr());
        let tree = if v4 { &mut self.v4 } else { &mut self.v6 };
        let mut node = 0usize;
        // The nearest enclosing entry seen on the way down.
        let mut enclosing = NONE;
        for i in 0..prefix {
            if tree.nodes[node].entry != NONE {
                enclosing = tree.nodes[node].entry;
            }
            let b = Tree::bit(k, i);
            let next = tree.nodes[node].child[b];
            node = if next == 0 {
                tree.nodes.push(EMPTY_NODE);
                let id = (tree.nodes.len() - 1) as u32;
                tree.nodes[node].child[b] = id;
                id as usize
            } else {
                next as usize
            };
        }
        let existing = tree.nodes[node].entry;
        if existing != NONE {
            let old = std::mem::replace(&mut self.entries[existing as usize].value, value);
            return Some(old);
        }
        let id = self.entries.len() as u32;
        self.entries.push(Entry {
            value,
            prefix,
            parent: enclosing,
        });
        tree.nodes[node].entry = id;
        // Entries below whose nearest enclosing entry was above us now have
        // us as their parent: walk the subtree, stopping at entries (their
        // own descendants already point at them).
        let mut stack: Vec<u32> = tree.nodes[node]
            .child
            .into_iter()
            .filter(|c| *c != 0)
            .collect();
        while let Some(n) = stack.pop() {
            let n = tree.nodes[n as usize];
            if n.entry != NONE {
                self.entries[n.entry as usize].parent = id;
            } else {
                stack.extend(n.child.into_iter().filter(|c| *c != 0));
            }
        }
        None
    }

    /// Walks `addr` down its family's trie (see [`Walk`]).
    pub fn walk(&self, addr: IpAddr) -> Walk {
        let (k, v4) = key(addr);
        let tree = if v4 { &self.v4 } else { &self.v6 };
        let mut node = tree.nodes[0];
        let mut depth = 0u8;
        let mut best = NONE;
        loop {
            if node.entry != NONE {
                best = node.entry;
            }
            if depth == tree.bits {
                break;
            }
            let next = node.child[Tree::bit(k, depth)];
            if next == 0 {
                break;
            }
            node = tree.nodes[next as usize];
            depth += 1;
        }
        // Below `depth` the path has left the trie. If a network still
        // branches off this node, the next bit decides whether the
        // address is inside it.
        if node.child != [0, 0] {
            depth += 1;
        }
        Walk {
            best: (best != NONE).then_some(best),
            depth,
        }
    }

    /// The value and prefix length of entry `id`.
    pub fn get(&self, id: u32) -> (&T, u8) {
        let e = &self.entries[id as usize];
        (&e.value, e.prefix)
    }

    /// The nearest network enclosing entry `id`, if any.
    pub fn parent(&self, id: u32) -> Option<u32> {
        let p = self.entries[id as usize].parent;
        (p != NONE).then_some(p)
    }

    /// The value of the most specific network containing `addr`, with that
    /// network's prefix length.
    pub fn lookup(&self, addr: IpAddr) -> Option<(&T, u8)> {
        self.walk(addr).best.map(|id| self.get(id))
    }

    /// True when the trie holds no network.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many networks it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every stored value, in insertion order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|e| &e.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trie(nets: &[&str]) -> PrefixTrie<String> {
        let mut t = PrefixTrie::default();
        for n in nets {
            t.insert(n.parse().unwrap(), n.to_string());
        }
        t
    }

    #[test]
    fn longest_match_and_parents() {
        let t = trie(&["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "2001:db8::/32"]);
        let w = t.walk(ip("10.1.2.3"));
        let (v, p) = t.get(w.best.unwrap());
        assert_eq!((v.as_str(), p), ("10.1.2.0/24", 24));
        let chain: Vec<&str> = std::iter::successors(w.best, |id| t.parent(*id))
            .map(|id| t.get(id).0.as_str())
            .collect();
        assert_eq!(chain, ["10.1.2.0/24", "10.1.0.0/16", "10.0.0.0/8"]);
        assert_eq!(t.lookup(ip("10.2.0.1")).map(|(_, p)| p), Some(8));
        assert_eq!(t.lookup(ip("192.0.2.1")), None);
        assert_eq!(t.lookup(ip("2001:db8::1")).map(|(_, p)| p), Some(32));
    }

    #[test]
    fn parents_are_fixed_when_a_wider_network_comes_later() {
        let t = trie(&["10.1.2.0/24", "10.1.0.0/16", "10.0.0.0/8", "10.1.0.0/16"]);
        let w = t.walk(ip("10.1.2.3"));
        let chain: Vec<u8> = std::iter::successors(w.best, |id| t.parent(*id))
            .map(|id| t.get(id).1)
            .collect();
        assert_eq!(chain, [24, 16, 8]);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn depth_is_where_the_path_leaves_the_trie() {
        let t = trie(&["10.0.0.0/8", "10.1.0.0/16"]);
        // 10.2/16 is beside 10.1/16: bit 15 tells them apart.
        assert_eq!(t.walk(ip("10.2.0.0")).depth, 15);
        // Inside 10.1/16 nothing is deeper.
        assert_eq!(t.walk(ip("10.1.7.0")).depth, 16);
        // Outside 10/8: 11/8 differs from 10/8 in bit 7.
        assert_eq!(t.walk(ip("11.0.0.0")).depth, 8);
        assert_eq!(t.walk(ip("192.0.2.1")).depth, 1);
        // No IPv6 network at all: nothing depends on the address.
        assert_eq!(t.walk(ip("2001:db8::1")).depth, 0);
    }
}
