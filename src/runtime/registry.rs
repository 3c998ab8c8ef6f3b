//! The loop's task registry: every live task, in a slot vector with a free list, so
//! insertion and removal are O(1) and `all_tasks()` / shutdown can walk them.
//!
//! # Invariant
//! A task's `Local::slot` is its index here from spawn until completion; the registry
//! holds one task reference, released when the task completes.

use crate::task::raw::TaskRef;

#[derive(Default)]
pub(super) struct Registry {
    pub(super) slots: Vec<Option<TaskRef>>,
    free: Vec<usize>,
    pub(super) len: usize,
}

impl Registry {
    pub(super) fn insert(&mut self, t: TaskRef) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(t);
                i
            }
            None => {
                self.slots.push(Some(t));
                self.slots.len() - 1
            }
        }
    }
    pub(super) fn remove(&mut self, i: usize) -> Option<TaskRef> {
        let t = self.slots.get_mut(i)?.take();
        if t.is_some() {
            self.len -= 1;
            self.free.push(i);
        }
        t
    }
}
