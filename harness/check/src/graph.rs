//! The dependency graph between transactions: edges labelled with a bit set of kinds
//! (ww, wr, rw, realtime), strongly connected components (iterative Tarjan, so 100k-node
//! histories do not overflow the stack) and shortest paths restricted to edge kinds and
//! to one component — what the cycle search in `elle` is built from.

use crate::model::EdgeKind;

pub(crate) const WW: u8 = 1;
pub(crate) const WR: u8 = 2;
pub(crate) const RW: u8 = 4;
/// Process order: the same client's next op (after an ok one).
pub(crate) const PR: u8 = 8;
pub(crate) const RT: u8 = 16;

const UNSEEN: u32 = u32::MAX;

/// The weakest kind among `mask`'s bits (ww < wr < rw < process < realtime), so a cycle is
/// classified by the kinds it cannot avoid.
pub(crate) fn weakest(mask: u8) -> u8 {
    mask & mask.wrapping_neg()
}

pub(crate) fn kind_of(bit: u8) -> EdgeKind {
    match bit {
        WW => EdgeKind::Ww,
        WR => EdgeKind::Wr,
        RW => EdgeKind::Rw,
        PR => EdgeKind::Process,
        _ => EdgeKind::Realtime,
    }
}

/// Compressed adjacency: the out-edges of node `v` are `offsets[v]..offsets[v+1]`.
pub(crate) struct Graph {
    offsets: Vec<u32>,
    targets: Vec<u32>,
    masks: Vec<u8>,
}

impl Graph {
    /// Builds from `(from, to, kind bits)`; parallel edges merge their bits.
    pub(crate) fn build(nodes: usize, mut edges: Vec<(u32, u32, u8)>) -> Graph {
        edges.sort_unstable_by_key(|&(a, b, _)| (a, b));
        let mut offsets = vec![0u32; nodes + 1];
        let mut targets = Vec::with_capacity(edges.len());
        let mut masks: Vec<u8> = Vec::with_capacity(edges.len());
        let mut last: Option<(u32, u32)> = None;
        for (a, b, m) in edges {
            if last == Some((a, b)) {
                if let Some(x) = masks.last_mut() {
                    *x |= m;
                }
                continue;
            }
            last = Some((a, b));
            offsets[a as usize + 1] += 1;
            targets.push(b);
            masks.push(m);
        }
        for v in 0..nodes {
            offsets[v + 1] += offsets[v];
        }
        Graph {
            offsets,
            targets,
            masks,
        }
    }

    pub(crate) fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    pub(crate) fn edges(&self, v: u32) -> impl Iterator<Item = (u32, u8)> + '_ {
        let r = self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize;
        self.targets[r.clone()]
            .iter()
            .copied()
            .zip(self.masks[r].iter().copied())
    }

    #[cfg(test)]
    pub(crate) fn mask(&self, a: u32, b: u32) -> u8 {
        self.edges(a).find(|&(t, _)| t == b).map_or(0, |(_, m)| m)
    }
}

/// Reusable buffers for SCC and path searches over one graph; each search touches and
/// resets only the nodes it visits.
pub(crate) struct Search {
    index: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    parent: Vec<(u32, u8)>,
    seen_stamp: Vec<u32>,
    stamp: u32,
    /// Membership of the current restriction: `member[v] == member_id`.
    member: Vec<u32>,
    member_id: u32,
    /// Total edge visits, for callers that bound their work.
    pub(crate) work: u64,
}

impl Search {
    pub(crate) fn new(nodes: usize) -> Search {
        Search {
            index: vec![UNSEEN; nodes],
            low: vec![0; nodes],
            on_stack: vec![false; nodes],
            parent: vec![(UNSEEN, 0); nodes],
            seen_stamp: vec![0; nodes],
            stamp: 0,
            member: vec![0; nodes],
            member_id: 0,
            work: 0,
        }
    }

    /// Restricts later searches to `nodes` (`None`: every node).
    pub(crate) fn restrict(&mut self, nodes: Option<&[u32]>) {
        self.member_id += 1;
        match nodes {
            Some(ns) => {
                for &v in ns {
                    self.member[v as usize] = self.member_id;
                }
            }
            None => self.member.iter_mut().for_each(|m| *m = self.member_id),
        }
    }

    pub(crate) fn is_member(&self, v: u32) -> bool {
        self.member[v as usize] == self.member_id
    }

    /// Components with more than one node among `nodes` (all members when `None`),
    /// following only edges with a bit in `allowed`.
    pub(crate) fn sccs(&mut self, g: &Graph, nodes: &[u32], allowed: u8) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        let mut counter = 0u32;
        let mut stack: Vec<u32> = Vec::new();
        let mut calls: Vec<(u32, u32)> = Vec::new();
        let mut touched: Vec<u32> = Vec::new();
        for &root in nodes {
            if self.index[root as usize] != UNSEEN || !self.is_member(root) {
                continue;
            }
            self.index[root as usize] = counter;
            self.low[root as usize] = counter;
            counter += 1;
            touched.push(root);
            stack.push(root);
            self.on_stack[root as usize] = true;
            calls.push((root, g.offsets[root as usize]));
            while let Some(&mut (v, ref mut ei)) = calls.last_mut() {
                if *ei < g.offsets[v as usize + 1] {
                    let (w, m) = (g.targets[*ei as usize], g.masks[*ei as usize]);
                    *ei += 1;
                    self.work += 1;
                    if m & allowed == 0 || !self.is_member(w) {
                        continue;
                    }
                    if self.index[w as usize] == UNSEEN {
                        self.index[w as usize] = counter;
                        self.low[w as usize] = counter;
                        counter += 1;
                        touched.push(w);
                        stack.push(w);
                        self.on_stack[w as usize] = true;
                        calls.push((w, g.offsets[w as usize]));
                    } else if self.on_stack[w as usize] {
                        self.low[v as usize] = self.low[v as usize].min(self.index[w as usize]);
                    }
                } else {
                    calls.pop();
                    if let Some(&(u, _)) = calls.last() {
                        self.low[u as usize] = self.low[u as usize].min(self.low[v as usize]);
                    }
                    if self.low[v as usize] == self.index[v as usize] {
                        let mut comp = Vec::new();
                        while let Some(w) = stack.pop() {
                            self.on_stack[w as usize] = false;
                            comp.push(w);
                            if w == v {
                                break;
                            }
                        }
                        if comp.len() > 1 {
                            out.push(comp);
                        }
                    }
                }
            }
        }
        for v in touched {
            self.index[v as usize] = UNSEEN;
        }
        out
    }

    /// The shortest path `from` → `to` over member nodes and `allowed` edges, as
    /// `(node, kind bit of the edge to the next node)`, ending with `to` (kind 0).
    pub(crate) fn path(
        &mut self,
        g: &Graph,
        from: u32,
        to: u32,
        allowed: u8,
    ) -> Option<Vec<(u32, u8)>> {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen_stamp.iter_mut().for_each(|s| *s = 0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        let mut queue = std::collections::VecDeque::new();
        self.seen_stamp[from as usize] = stamp;
        queue.push_back(from);
        while let Some(v) = queue.pop_front() {
            if v == to {
                let mut rev = vec![(to, 0u8)];
                let mut cur = to;
                while cur != from {
                    let (p, k) = self.parent[cur as usize];
                    rev.push((p, k));
                    cur = p;
                }
                rev.reverse();
                return Some(rev);
            }
            for (w, m) in g.edges(v) {
                self.work += 1;
                let m = m & allowed;
                if m == 0 || !self.is_member(w) || self.seen_stamp[w as usize] == stamp {
                    continue;
                }
                self.seen_stamp[w as usize] = stamp;
                self.parent[w as usize] = (v, weakest(m));
                queue.push_back(w);
            }
        }
        None
    }
}

/// Which cycles a constrained path search may close.
#[derive(Clone, Copy)]
pub(crate) struct PathRules {
    pub allowed: u8,
    /// No two consecutive rw edges (the closing edge counts: it is rw when `closing_rw`).
    pub nonadjacent: bool,
    pub closing_rw: bool,
    /// The path must use an edge with one of these bits (0: no constraint), unless the
    /// closing edge already has one (`closing_has_need`).
    pub need: u8,
    pub closing_has_need: bool,
}

/// Breadth-first search over states (node, previous edge was rw, need met): the
/// shortest path `from` → `to` obeying `rules`, in `path`'s format. Edges are labelled
/// with the kind the rules made them use. `member` restricts nodes; `work` counts edge
/// visits and the search stops (returning `None`, `true`) beyond `max_work`.
pub(crate) struct StatePaths {
    seen: Vec<u32>,
    parent: Vec<(u32, u8)>,
    stamp: u32,
}

impl StatePaths {
    pub(crate) fn new(nodes: usize) -> StatePaths {
        StatePaths {
            seen: vec![0; nodes * 4],
            parent: vec![(UNSEEN, 0); nodes * 4],
            stamp: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path(
        &mut self,
        g: &Graph,
        s: &mut Search,
        from: u32,
        to: u32,
        rules: PathRules,
        max_work: u64,
    ) -> (Option<Vec<(u32, u8)>>, bool) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.iter_mut().for_each(|x| *x = 0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        let state = |v: u32, rw: bool, met: bool| v * 4 + (rw as u32) * 2 + met as u32;
        let start_met = rules.need == 0 || rules.closing_has_need;
        let start = state(from, rules.closing_rw, start_met);
        self.seen[start as usize] = stamp;
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(start);
        while let Some(st) = queue.pop_front() {
            let (v, rw, met) = (st / 4, st & 2 != 0, st & 1 != 0);
            if v == to && met && !(rules.nonadjacent && rules.closing_rw && rw) {
                let mut rev = vec![(to, 0u8)];
                let mut cur = st;
                while cur != start {
                    let (p, k) = self.parent[cur as usize];
                    rev.push((p / 4, k));
                    cur = p;
                }
                rev.reverse();
                return (Some(rev), false);
            }
            for (w, m) in g.edges(v) {
                s.work += 1;
                if s.work > max_work {
                    return (None, true);
                }
                let m = m & rules.allowed;
                if m == 0 || !s.is_member(w) {
                    continue;
                }
                // Each kind the edge has leads to its own state; try the weakest first.
                let mut bits = m;
                while bits != 0 {
                    let bit = weakest(bits);
                    bits &= !bit;
                    let is_rw = bit == RW;
                    if rules.nonadjacent && is_rw && rw {
                        continue;
                    }
                    let next = state(w, is_rw, met || bit & rules.need != 0);
                    if self.seen[next as usize] == stamp {
                        continue;
                    }
                    self.seen[next as usize] = stamp;
                    self.parent[next as usize] = (st, bit);
                    queue.push_back(next);
                }
            }
        }
        (None, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_paths_follow_allowed_kinds() {
        // 0 -ww-> 1 -wr-> 2 -rw-> 0, and 3 -ww-> 4 alone.
        let g = Graph::build(
            5,
            vec![(0, 1, WW), (1, 2, WR), (2, 0, RW), (3, 4, WW), (0, 1, RW)],
        );
        assert_eq!(g.mask(0, 1), WW | RW);
        let mut s = Search::new(g.nodes());
        s.restrict(None);
        let all: Vec<u32> = (0..5).collect();
        let sccs = s.sccs(&g, &all, WW | WR | RW);
        assert_eq!(sccs.len(), 1);
        let mut c = sccs[0].clone();
        c.sort();
        assert_eq!(c, vec![0, 1, 2]);
        assert!(s.sccs(&g, &all, WW | WR).is_empty());
        let p = s.path(&g, 0, 2, WW | WR).unwrap();
        assert_eq!(p, vec![(0, WW), (1, WR), (2, 0)]);
        s.restrict(Some(&[0, 2]));
        assert!(s.path(&g, 0, 2, WW | WR | RW).is_none());
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let n = 200_000u32;
        let mut edges: Vec<(u32, u32, u8)> = (0..n - 1).map(|i| (i, i + 1, WW)).collect();
        edges.push((n - 1, 0, WR));
        let g = Graph::build(n as usize, edges);
        let mut s = Search::new(g.nodes());
        s.restrict(None);
        let all: Vec<u32> = (0..n).collect();
        let sccs = s.sccs(&g, &all, WW | WR);
        assert_eq!(sccs.len(), 1);
        assert_eq!(sccs[0].len(), n as usize);
    }
}
