//! The loop's task registry: every live task, in a slot vector with a free list, so
//! insertion and removal are O(1) and `all_tasks()` / shutdown can walk them.
//!
//! # Invariant
//! A task's `Local::slot` is its index here from spawn until completion; the registry
//! holds the owner's reference (`OwnedTask`), released when the task completes.

use crate::task::raw::{OwnedTask, TaskRef};

#[derive(Default)]
pub(super) struct Registry {
    pub(super) slots: Vec<Option<OwnedTask>>,
    free: Vec<usize>,
    pub(super) len: usize,
}

impl Registry {
    pub(super) fn insert(&mut self, t: OwnedTask) -> usize {
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
    /// Removes `task`, found at its slot `i` (nothing if the slot holds another task).
    pub(super) fn remove(&mut self, i: usize, task: &TaskRef) -> Option<OwnedTask> {
        let slot = self.slots.get_mut(i)?;
        if !slot.as_ref().is_some_and(|t| t.ptr_eq(task)) {
            return None;
        }
        self.len -= 1;
        self.free.push(i);
        slot.take()
    }
}
