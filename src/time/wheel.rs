//! A hierarchical timer wheel.
//!
//! Time is counted in ticks of 0.1 ms since the loop's origin. A deadline is rounded *up*
//! to its tick, so a timer never fires early and at most a tick late (plus wake-up
//! latency: the driver arms a timerfd for short waits, since `epoll_wait` only has
//! millisecond resolution). The wheel has [`LEVELS`] levels of 64 slots:
//!
//! | level | one slot spans | the level spans |
//! |-------|----------------|-----------------|
//! | 0     | 0.1 ms         | 6.4 ms          |
//! | 1     | 6.4 ms         | ~0.4 s          |
//! | 2     | ~0.4 s         | ~26 s           |
//! | 3     | ~26 s          | ~28 min         |
//! | 4     | ~28 min        | ~30 h           |
//! | 5     | ~30 h          | ~80 days        |
//!
//! A timer goes into the lowest level whose current window contains its tick (the level is
//! read off the highest bit in which the tick differs from `elapsed`). When the wheel
//! reaches a slot of level > 0, the slot's timers are re-inserted below ("cascade"); when it
//! reaches a slot of level 0, its timers fire. Timers further away than half the top
//! level's span are parked at that horizon and re-inserted when it comes up.
//!
//! Entries live in a slab (`Vec` plus free list) and each slot is an intrusive doubly
//! linked FIFO list of slab indices (head and tail per slot), so insert and cancel are O(1)
//! and never allocate once the slab has grown to the peak number of armed timers. Every
//! armed sleeping task has an entry, so entries are kept to 48 bytes: the exact deadline
//! only (its tick is derived: rounded up, and never before the tick after the one the
//! wheel has reached), and one 32-bit arming number that is both the arming order and the
//! key's check. A [`TimerKey`] carries the arming number of its timer, so a stale key (its
//! timer fired or was cancelled, the entry maybe re-armed since) is recognised and
//! ignored; arming numbers wrap after 2^32 arms, so a stale key kept that long could be
//! confused, and equal deadlines armed 2^31 arms or more apart could fire out of arming
//! order.
//!
//! A timer's deadline can be moved later in place ([`Wheel::postpone`]): the entry stays
//! in the slot it is linked in, which comes up at or before the new deadline, and is then
//! re-linked by that deadline like any cascaded timer (a timer never fires early; one
//! postponed entry costs at most one extra re-link per slot it passes through).
//!
//! Fired timers are collected in slot order and must come out by exact deadline and, for
//! equal deadlines, by arming order, so firing order is deadline order even within one
//! tick. Slots are FIFO and a cascade moves a slot's timers down in list order, so a
//! batch usually comes out sorted already (timers of one duration armed one after the
//! other, the common case): the batch is checked in one pass and sorted only if it is not.

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Timers further than this (in ticks) are parked at the horizon.
const HORIZON: u64 = 1 << (SLOT_BITS as u64 * LEVELS as u64 - 1);
const NIL: u32 = u32::MAX;
const NO_SLOT: u16 = u16::MAX;

/// Nanoseconds per tick.
pub(crate) const TICK_NS: u64 = 100_000;

/// Identifies an armed timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    seq: u32,
}

struct Entry<P> {
    /// Exact deadline in ns since the origin.
    deadline: u64,
    /// Arming number (wrapping): the arming order, and the key's check.
    seq: u32,
    slot: u16,
    prev: u32,
    next: u32,
    payload: Option<P>,
}

/// The wheel, generic over what a timer carries (a waker or a callback).
pub(crate) struct Wheel<P> {
    entries: Vec<Entry<P>>,
    free: Vec<u32>,
    heads: [[u32; SLOTS]; LEVELS],
    tails: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    /// Every timer with `tick <= elapsed` has fired.
    elapsed: u64,
    len: usize,
    /// The next arming number.
    seq: u32,
    /// Reused buffer of fired timers: (deadline, arming order, payload).
    fired: Vec<(u64, u32, P)>,
}

fn level_for(elapsed: u64, tick: u64) -> usize {
    let masked = (elapsed ^ tick) | SLOT_MASK;
    let significant = 63 - masked.leading_zeros();
    ((significant / SLOT_BITS) as usize).min(LEVELS - 1)
}

/// Rounds nanoseconds up to ticks.
pub(crate) fn ns_to_tick_ceil(ns: u64) -> u64 {
    ns / TICK_NS + u64::from(ns % TICK_NS != 0)
}

impl<P> Wheel<P> {
    pub(crate) fn new() -> Self {
        Wheel {
            entries: Vec::new(),
            free: Vec::new(),
            heads: [[NIL; SLOTS]; LEVELS],
            tails: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            elapsed: 0,
            len: 0,
            seq: 0,
            fired: Vec::new(),
        }
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Arms a timer for `deadline` (ns since the origin). The caller fires timers whose
    /// deadline has already passed itself; one that lands in an elapsed tick here fires at
    /// the next tick.
    pub(crate) fn insert(&mut self, deadline: u64, payload: P) -> TimerKey {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let index = match self.free.pop() {
            Some(i) => {
                let e = &mut self.entries[i as usize];
                e.deadline = deadline;
                e.seq = seq;
                e.payload = Some(payload);
                i
            }
            None => {
                let i = u32::try_from(self.entries.len()).expect("too many timers");
                self.entries.push(Entry {
                    deadline,
                    seq,
                    slot: NO_SLOT,
                    prev: NIL,
                    next: NIL,
                    payload: Some(payload),
                });
                i
            }
        };
        self.link(index);
        self.len += 1;
        TimerKey { index, seq }
    }

    /// Whether `key` is still armed.
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.entries
            .get(key.index as usize)
            .is_some_and(|e| e.seq == key.seq && e.payload.is_some())
    }

    /// Whether a timer armed for `deadline` (ns) has certainly fired, decided without
    /// touching its entry (with many timers, reading the entry is a cache miss). Exact for
    /// timers armed while their deadline was still ahead of the wheel (see
    /// [`Wheel::is_ahead`]), whose tick is then never moved at insert.
    pub(crate) fn has_fired(&self, deadline: u64) -> bool {
        ns_to_tick_ceil(deadline) <= self.elapsed
    }

    /// Whether `deadline` (ns) lies after every tick the wheel has processed, so that
    /// [`Wheel::insert`] keeps its exact tick.
    pub(crate) fn is_ahead(&self, deadline: u64) -> bool {
        ns_to_tick_ceil(deadline) > self.elapsed
    }

    /// Mutable access to an armed timer's payload.
    pub(crate) fn payload_mut(&mut self, key: TimerKey) -> Option<&mut P> {
        match self.entries.get_mut(key.index as usize) {
            Some(e) if e.seq == key.seq => e.payload.as_mut(),
            _ => None,
        }
    }

    /// Moves an armed timer to `deadline` (ns), no earlier than its own, without touching
    /// its slot list: it stays where it is linked, and when the wheel reaches that slot it
    /// is re-linked by its new deadline, as a cascade re-links a far timer. Its slot's tick
    /// is at or before the new deadline's, so it still never fires early, and an armed
    /// timer's tick lies after `elapsed`, so the new one does too (its tick stays exact,
    /// and [`Wheel::has_fired`] applies). It takes a new arming number, returned in its new
    /// key (the old key goes stale), so equal deadlines still fire in arming order. `None`,
    /// and nothing changes, if the key is stale or `deadline` is earlier; otherwise the new
    /// key and the timer's payload.
    pub(crate) fn postpone(&mut self, key: TimerKey, deadline: u64) -> Option<(TimerKey, &mut P)> {
        let seq = self.seq;
        match self.entries.get_mut(key.index as usize) {
            Some(e) if e.seq == key.seq && e.deadline <= deadline => {
                let payload = e.payload.as_mut()?;
                e.deadline = deadline;
                e.seq = seq;
                self.seq = seq.wrapping_add(1);
                Some((
                    TimerKey {
                        index: key.index,
                        seq,
                    },
                    payload,
                ))
            }
            _ => None,
        }
    }

    /// Disarms a timer; returns its payload if it was still armed.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<P> {
        if !self.contains(key) {
            return None;
        }
        self.unlink(key.index);
        self.len -= 1;
        Some(self.release(key.index))
    }

    fn release(&mut self, index: u32) -> P {
        let e = &mut self.entries[index as usize];
        self.free.push(index);
        e.payload.take().expect("released an empty timer")
    }

    /// Appends an entry to the slot of its tick (the tick after `elapsed` at the
    /// earliest; parked at the horizon if further).
    fn link(&mut self, index: u32) {
        let tick = ns_to_tick_ceil(self.entries[index as usize].deadline).max(self.elapsed + 1);
        let place = tick.min(self.elapsed + HORIZON);
        let level = level_for(self.elapsed, place);
        let slot = ((place >> (level as u32 * SLOT_BITS)) & SLOT_MASK) as usize;
        let tail = self.tails[level][slot];
        {
            let e = &mut self.entries[index as usize];
            e.slot = (level * SLOTS + slot) as u16;
            e.prev = tail;
            e.next = NIL;
        }
        if tail == NIL {
            self.heads[level][slot] = index;
        } else {
            self.entries[tail as usize].next = index;
        }
        self.tails[level][slot] = index;
        self.occupied[level] |= 1 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let (slot_id, prev, next) = {
            let e = &self.entries[index as usize];
            (e.slot as usize, e.prev, e.next)
        };
        let (level, slot) = (slot_id / SLOTS, slot_id % SLOTS);
        if prev == NIL {
            self.heads[level][slot] = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.tails[level][slot] = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        if self.heads[level][slot] == NIL {
            self.occupied[level] &= !(1 << slot);
        }
        self.entries[index as usize].slot = NO_SLOT;
    }

    /// The tick of the next slot to process (fire or cascade), if any timer is armed.
    /// The earliest timer fires at or after it.
    pub(crate) fn next_tick(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, start)| start)
    }

    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        // An empty wheel (the common idle park) answers without scanning the levels.
        if self.len == 0 {
            return None;
        }
        for level in 0..LEVELS {
            let occ = self.occupied[level];
            if occ == 0 {
                continue;
            }
            let shift = level as u32 * SLOT_BITS;
            let pos = ((self.elapsed >> shift) & SLOT_MASK) as u32;
            let dist = occ.rotate_right(pos).trailing_zeros();
            let slot = (pos + dist) as usize % SLOTS;
            let level_span = 1u64 << (shift + SLOT_BITS);
            let level_start = self.elapsed & !(level_span - 1);
            let mut start = level_start + ((slot as u64) << shift);
            if (slot as u32) < pos {
                start += level_span;
            }
            // A level-0 slot at the current position holds timers due now.
            return Some((level, slot, start.max(self.elapsed)));
        }
        None
    }

    /// Advances to tick `now` and returns the fired payloads in deadline order (equal
    /// deadlines in arming order). The returned buffer must be handed back with
    /// [`Wheel::recycle`] so steady-state firing does not allocate.
    pub(crate) fn advance(&mut self, now: u64) -> Vec<(u64, u32, P)> {
        let mut fired = std::mem::take(&mut self.fired);
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now {
                break;
            }
            self.elapsed = start;
            let mut index = self.heads[level][slot];
            self.heads[level][slot] = NIL;
            self.tails[level][slot] = NIL;
            self.occupied[level] &= !(1 << slot);
            while index != NIL {
                let next = self.entries[index as usize].next;
                self.entries[index as usize].slot = NO_SLOT;
                if ns_to_tick_ceil(self.entries[index as usize].deadline) <= self.elapsed {
                    let (deadline, seq) = {
                        let e = &self.entries[index as usize];
                        // Counted from the next number to hand out, so the order survives
                        // the wrap: older is smaller.
                        (e.deadline, e.seq.wrapping_sub(self.seq))
                    };
                    self.len -= 1;
                    let p = self.release(index);
                    fired.push((deadline, seq, p));
                } else {
                    self.link(index);
                }
                index = next;
            }
        }
        if now > self.elapsed {
            self.elapsed = now;
        }
        if !fired.is_sorted_by_key(|&(d, s, _)| (d, s)) {
            fired.sort_unstable_by_key(|&(d, s, _)| (d, s));
        }
        fired
    }

    /// Returns the buffer from [`Wheel::advance`] for reuse.
    pub(crate) fn recycle(&mut self, mut buf: Vec<(u64, u32, P)>) {
        buf.clear();
        if buf.capacity() > self.fired.capacity() {
            self.fired = buf;
        }
    }

    /// Removes every timer, returning the payloads (used at shutdown).
    pub(crate) fn drain(&mut self) -> Vec<P> {
        let mut out = Vec::with_capacity(self.len);
        for i in 0..self.entries.len() {
            if self.entries[i].payload.is_some() {
                self.unlink(i as u32);
                out.push(self.release(i as u32));
            }
        }
        self.len = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> u64 {
        n * 1_000_000
    }

    #[test]
    fn next_tick_follows_the_armed_count() {
        let mut w: Wheel<u32> = Wheel::new();
        assert_eq!(w.next_tick(), None);
        let a = w.insert(ms(3), 1);
        let b = w.insert(ms(900), 2);
        assert_eq!(
            w.next_tick().map(|t| t <= ns_to_tick_ceil(ms(3))),
            Some(true)
        );
        assert_eq!(w.remove(a), Some(1));
        assert!(w.next_tick().is_some(), "one timer is still armed");
        assert_eq!(w.remove(b), Some(2));
        assert_eq!(w.next_tick(), None);
        w.insert(ms(1), 3);
        let fired = w.advance(ns_to_tick_ceil(ms(1)));
        assert_eq!(fired.len(), 1);
        w.recycle(fired);
        assert_eq!(w.next_tick(), None, "fired timers are not counted");
    }

    #[test]
    fn fires_in_deadline_order_across_levels() {
        let mut w = Wheel::new();
        let deadlines = [5u64, 70, 1, 4_000, 300_000, 64, 63, 65, 20_000_000, 2];
        for (i, d) in deadlines.iter().enumerate() {
            w.insert(d * TICK_NS, i);
        }
        let mut order = Vec::new();
        let mut now = 0;
        while let Some(t) = w.next_tick() {
            assert!(t >= now, "time went back");
            now = t;
            let f = w.advance(now);
            for (d, _, p) in &f {
                assert!(*d <= now * TICK_NS, "fired early");
                order.push(*p);
            }
            w.recycle(f);
        }
        let mut expect: Vec<usize> = (0..deadlines.len()).collect();
        expect.sort_by_key(|&i| deadlines[i]);
        assert_eq!(order, expect);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn equal_deadlines_fire_in_arming_order_and_sub_ms_order_holds() {
        let mut w = Wheel::new();
        w.insert(ms(3) + 700, 'c');
        w.insert(ms(3) + 200, 'a');
        w.insert(ms(3) + 700, 'd');
        w.insert(ms(3) + 200, 'b');
        let f = w.advance(ns_to_tick_ceil(ms(10)));
        let got: String = f.iter().map(|x| x.2).collect();
        assert_eq!(got, "abcd");
    }

    #[test]
    fn equal_deadlines_keep_arming_order_across_the_horizon_and_cancels() {
        let mut w = Wheel::new();
        let far = (HORIZON + 1000) * TICK_NS;
        w.insert(far, 0); // parked at the horizon
        let mid = w.insert(far, 99);
        // Move on, so that the next one (same deadline) is placed directly.
        let f = w.advance(2000);
        assert!(f.is_empty());
        w.recycle(f);
        w.insert(far, 1);
        assert_eq!(w.remove(mid), Some(99)); // unlink from the middle and the tail
        let last = w.insert(far, 2);
        assert_eq!(w.remove(last), Some(2));
        w.insert(far, 3);
        let mut got = Vec::new();
        while let Some(t) = w.next_tick() {
            let f = w.advance(t);
            got.extend(f.iter().map(|x| x.2));
            w.recycle(f);
        }
        assert_eq!(got, [0, 1, 3]);
    }

    #[test]
    fn arming_order_survives_the_wrap_of_arming_numbers() {
        let mut w = Wheel::new();
        w.seq = u32::MAX - 1;
        for p in 0..4 {
            w.insert(ms(1), p); // numbers MAX-1, MAX, 0, 1
        }
        let f = w.advance(ns_to_tick_ceil(ms(2)));
        assert_eq!(f.iter().map(|x| x.2).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }

    #[test]
    fn entries_stay_small() {
        // Every armed sleeping task has one (see the module doc).
        assert!(std::mem::size_of::<Entry<crate::runtime::TimerPayload>>() <= 48);
    }

    #[test]
    fn cancel_and_stale_keys() {
        let mut w = Wheel::new();
        let a = w.insert(ms(10), 1);
        let b = w.insert(ms(10), 2);
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(w.remove(a), None);
        let c = w.insert(ms(20), 3); // reuses a's slot with a new arming number
        assert!(!w.contains(a));
        assert!(w.contains(c));
        let f = w.advance(ns_to_tick_ceil(ms(100)));
        assert_eq!(f.iter().map(|x| x.2).collect::<Vec<_>>(), vec![2, 3]);
        assert!(!w.contains(b));
        assert_eq!(w.remove(b), None);
    }

    #[test]
    fn far_future_is_parked_at_horizon_and_not_lost() {
        let mut w = Wheel::new();
        let far = HORIZON * 3 + 17;
        w.insert(far * TICK_NS, "far");
        w.insert(TICK_NS, "near");
        let f = w.advance(1);
        assert_eq!(f.len(), 1);
        w.recycle(f);
        let mut steps = 0;
        loop {
            let t = w.next_tick().unwrap();
            let f = w.advance(t);
            steps += 1;
            if !f.is_empty() {
                assert_eq!(t, far);
                assert_eq!(f[0].2, "far");
                break;
            }
            assert!(steps < 100, "cascade did not converge");
        }
    }

    #[test]
    fn random_deadlines_fire_exactly_once_in_order() {
        let mut w = Wheel::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut keys = Vec::new();
        for i in 0..5000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = x % 10_000_000_000; // up to ~2.7 h in ns
            keys.push((w.insert(d, i), d));
        }
        // cancel every third
        let mut live = Vec::new();
        for (i, (k, d)) in keys.iter().enumerate() {
            if i % 3 == 0 {
                assert!(w.remove(*k).is_some());
            } else {
                live.push((*d, i as u64));
            }
        }
        live.sort();
        let mut got = Vec::new();
        let mut now = 0;
        // advance in uneven jumps
        while w.len() > 0 {
            now += 1 + (now % 977);
            let f = w.advance(now);
            for (d, _, p) in &f {
                assert!(*d <= now * TICK_NS);
                got.push((*d, *p));
            }
            w.recycle(f);
        }
        // Globally in (deadline, arming order), across advance calls too.
        assert_eq!(got, live);
    }
}
