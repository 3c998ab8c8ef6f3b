//! `gather`: run many futures concurrently and collect their outputs in argument order.
//!
//! # Design
//!
//! asyncio's `gather(*aws)` wraps each awaitable in a task and waits for all of them.
//! Rust futures can be driven in place, so simul's `gather` does not spawn: the futures
//! live inside the `Gather` future, pinned in one boxed slice, and are polled by it. What
//! makes it scale is the ready list of `ready.rs`: each child has its own waker, and a
//! poll of `Gather` polls only the children woken since the last poll. A wake-up costs
//! O(1), gathering `n` futures costs O(n) polls in total plus what they do themselves, and
//! a slow child never delays polling the others.
//!
//! Three shapes:
//!
//! * [`gather(iter)`](gather) — one type of future, a `Vec` of outputs in argument order;
//! * [`try_gather(iter)`](try_gather) — futures of `Result<T, E>`: `Ok(Vec<T>)`, or the
//!   first `Err` (by completion time), at which point every child still running is
//!   dropped (cancelled) before the `Err` is returned;
//! * [`gather!(a, b, ...)`](crate::gather!) — up to 12 futures of different types, a tuple
//!   of their outputs.
//!
//! # Cancellation
//!
//! Dropping a `Gather` (because its awaiter was cancelled, or timed out by
//! [`crate::wait_for`]) drops every child that has not finished, in argument order: their
//! destructors run exactly once, at their current suspension point — asyncio's "if
//! gather() is cancelled, all submitted awaitables are cancelled". A [`crate::Task`] passed
//! as a child is only a handle: dropping it detaches the task, as dropping a `Task`
//! always does — except when the `Gather` is dropped by a timing-out
//! [`wait_for`](crate::wait_for), which cancels the tasks it was awaiting. To have every
//! cancellation of the gather cancel its tasks, pass
//! [`Task::cancel_on_drop`](crate::Task::cancel_on_drop) handles.
//!
//! Outputs are kept as they arrive and returned together; `Gather` is `Unpin`, so it can be
//! polled through `&mut` (e.g. in a `select`-like loop).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ready::Driver;

/// Pins element `i` of a pinned slice.
pub(crate) fn pin_elem<T>(slice: Pin<&mut [T]>, i: usize) -> Pin<&mut T> {
    // SAFETY: the elements of a pinned boxed slice are structurally pinned: the slice is
    // never reallocated, resized or moved out of (elements are only replaced through
    // `Pin::set`, which drops them in place), so `&mut slice[i]` never moves.
    unsafe { slice.map_unchecked_mut(|s| &mut s[i]) }
}

/// Children pinned in one allocation, with their outputs.
pub(crate) struct Children<F: Future> {
    pub(crate) futs: Pin<Box<[Option<F>]>>,
    pub(crate) driver: Driver,
    pub(crate) remaining: usize,
}

impl<F: Future> Children<F> {
    pub(crate) fn new(iter: impl IntoIterator<Item = F>) -> Children<F> {
        let futs: Box<[Option<F>]> = iter.into_iter().map(Some).collect();
        let n = futs.len();
        Children {
            futs: Box::into_pin(futs),
            driver: Driver::new(n),
            remaining: n,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.futs.len()
    }

    /// Polls the woken children; calls `on_ready(index, output)` for each that finished.
    /// Stops early (leaving the rest of the batch for the next poll) when `on_ready`
    /// returns `false`.
    pub(crate) fn poll_woken(
        &mut self,
        cx: &mut Context<'_>,
        mut on_ready: impl FnMut(usize, F::Output) -> bool,
    ) {
        self.driver.begin(cx);
        while let Some(i) = self.driver.next() {
            let mut slot = pin_elem(self.futs.as_mut(), i);
            let Some(fut) = slot.as_mut().as_pin_mut() else {
                continue; // a stale wake of a child that has finished
            };
            if let Poll::Ready(out) = self.driver.poll_child(i, |cx| fut.poll(cx)) {
                slot.set(None);
                self.remaining -= 1;
                if !on_ready(i, out) {
                    return;
                }
            }
        }
    }

    /// Drops every child still running, in index order.
    pub(crate) fn cancel_all(&mut self) {
        self.driver.close();
        for i in 0..self.futs.len() {
            let mut slot = pin_elem(self.futs.as_mut(), i);
            if slot.as_mut().as_pin_mut().is_some() {
                slot.set(None);
                self.driver.forget(i);
            }
        }
        self.remaining = 0;
    }
}

/// The future returned by [`gather`]. Resolves to a `Vec` of outputs in argument order.
///
/// # Examples
/// ```
/// simul::run(async {
///     let g = simul::gather((1..=3).map(|i| async move { i * 10 }));
///     assert_eq!(g.len(), 3);
///     assert_eq!(g.await, vec![10, 20, 30]);
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Gather<F: Future> {
    children: Children<F>,
    outs: Vec<Option<F::Output>>,
    finished: bool,
}

impl<F: Future> Gather<F> {
    /// How many futures are gathered.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert_eq!(simul::gather(Vec::<std::future::Ready<()>>::new()).len(), 0) });
    /// ```
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// `true` when gathering nothing (resolves at once to an empty `Vec`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let g = simul::gather(Vec::<std::future::Ready<u8>>::new());
    ///     assert!(g.is_empty());
    ///     assert!(g.await.is_empty());
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.children.len() == 0
    }
}

/// Runs `futures` concurrently; resolves to their outputs in argument order
/// (asyncio's `gather(*aws)`).
///
/// The futures run inside the returned future (nothing is spawned), each woken on its own:
/// see the [module docs](self) for the cost model and cancellation. For futures of
/// different types use [`gather!`](crate::gather!).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// lp.run_until_complete(async {
///     let t0 = simul::time();
///     let delays = [3u64, 1, 2];
///     let out = simul::gather(delays.iter().map(|&s| async move {
///         simul::sleep(Duration::from_secs(s)).await;
///         s
///     }))
///     .await;
///     assert_eq!(out, vec![3, 1, 2]); // argument order, not completion order
///     assert_eq!(simul::time() - t0, Duration::from_secs(3)); // concurrently
/// });
/// ```
#[doc(alias = "join_all")]
pub fn gather<I>(futures: I) -> Gather<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let children = Children::new(futures.into_iter().map(IntoFuture::into_future));
    let mut outs = Vec::with_capacity(children.len());
    outs.resize_with(children.len(), || None);
    Gather {
        children,
        outs,
        finished: false,
    }
}

// The children are pinned behind their own box; outputs are never pinned.
impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.finished, "`Gather` polled after it completed");
        // A task panic delivered into the `Vec` is reported if dropped unread (task/scope.rs).
        let _watch = crate::task::scope::Gathering::enter();
        let outs = &mut this.outs;
        this.children.poll_woken(cx, |i, out| {
            outs[i] = Some(out);
            true
        });
        if this.children.remaining > 0 {
            return Poll::Pending;
        }
        this.children.driver.close();
        this.finished = true;
        let outs = std::mem::take(&mut this.outs);
        Poll::Ready(
            outs.into_iter()
                .map(|o| o.expect("every child has finished"))
                .collect(),
        )
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("len", &self.children.len())
            .field("remaining", &self.children.remaining)
            .finish()
    }
}

/// The future returned by [`try_gather`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let ok = simul::try_gather((1..=2).map(|i| async move { Ok::<_, String>(i) })).await;
///     assert_eq!(ok, Ok(vec![1, 2]));
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryGather<F: Future<Output = Result<T, E>>, T, E> {
    children: Children<F>,
    outs: Vec<Option<T>>,
    error: Option<E>,
    finished: bool,
}

/// Like [`gather`] for futures of `Result<T, E>`: resolves to `Ok` with every value in
/// argument order, or to the first `Err` to occur, after dropping (cancelling) every
/// future still running (asyncio's `gather` without `return_exceptions`, except that the
/// others are cancelled rather than left running, as in a `TaskGroup`).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// lp.run_until_complete(async {
///     let t0 = simul::time();
///     let slow = Box::pin(async { simul::sleep(Duration::from_secs(60)).await; Ok(1) });
///     let bad = Box::pin(async { simul::sleep(Duration::from_secs(1)).await; Err("no") });
///     let futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Result<i32, &str>>>>> =
///         vec![slow, bad];
///     assert_eq!(simul::try_gather(futs).await, Err("no"));
///     assert_eq!(simul::time() - t0, Duration::from_secs(1)); // `slow` was cancelled
/// });
/// ```
pub fn try_gather<I, T, E>(futures: I) -> TryGather<<I::Item as IntoFuture>::IntoFuture, T, E>
where
    I: IntoIterator,
    I::Item: IntoFuture<Output = Result<T, E>>,
{
    let children = Children::new(futures.into_iter().map(IntoFuture::into_future));
    let mut outs = Vec::with_capacity(children.len());
    outs.resize_with(children.len(), || None);
    TryGather {
        children,
        outs,
        error: None,
        finished: false,
    }
}

impl<F: Future<Output = Result<T, E>>, T, E> Unpin for TryGather<F, T, E> {}

impl<F, T, E> Future for TryGather<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.finished, "`TryGather` polled after it completed");
        let outs = &mut this.outs;
        let error = &mut this.error;
        this.children.poll_woken(cx, |i, out| match out {
            Ok(v) => {
                outs[i] = Some(v);
                true
            }
            Err(e) => {
                *error = Some(e);
                false
            }
        });
        if let Some(e) = this.error.take() {
            this.finished = true;
            this.children.cancel_all();
            this.outs.clear();
            return Poll::Ready(Err(e));
        }
        if this.children.remaining > 0 {
            return Poll::Pending;
        }
        this.children.driver.close();
        this.finished = true;
        let outs = std::mem::take(&mut this.outs);
        Poll::Ready(Ok(outs
            .into_iter()
            .map(|o| o.expect("every child has finished"))
            .collect()))
    }
}

impl<F: Future<Output = Result<T, E>>, T, E> fmt::Debug for TryGather<F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("len", &self.children.len())
            .field("remaining", &self.children.remaining)
            .finish()
    }
}

/// Gathers 1 to 12 futures of different types into a future of the tuple of their
/// outputs (asyncio's `gather(a, b, ...)`), running them concurrently.
///
/// Each argument may be anything that implements [`IntoFuture`]. Like [`gather()`], only
/// woken children are polled, and dropping the returned future drops (cancels) the
/// children still running.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// async fn say_after(secs: u64, what: &str) -> String {
///     simul::sleep(Duration::from_secs(secs)).await;
///     what.to_string()
/// }
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// lp.run_until_complete(async {
///     let t0 = simul::time();
///     let (a, b, n) = simul::gather!(say_after(1, "hello"), say_after(2, "world"), async { 3 }).await;
///     assert_eq!((a.as_str(), b.as_str(), n), ("hello", "world", 3));
///     assert_eq!(simul::time() - t0, Duration::from_secs(2));
/// });
/// ```
#[macro_export]
macro_rules! gather {
    ($($fut:expr),+ $(,)?) => {
        $crate::combinators::gather::__private::gather_tuple((
            $( ::std::future::IntoFuture::into_future($fut), )+
        ))
    };
}

#[doc(hidden)]
pub mod __private {
    //! Support for the `gather!` macro: one future type per arity.

    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::super::ready::Driver;

    /// Implemented for tuples of futures; `gather!` calls [`gather_tuple`].
    pub trait GatherTuple {
        /// The future of the tuple of outputs.
        type Future: Future;
        /// Builds that future.
        fn into_gather(self) -> Self::Future;
    }

    /// Builds the tuple future (used by `gather!`).
    pub fn gather_tuple<T: GatherTuple>(t: T) -> T::Future {
        t.into_gather()
    }

    macro_rules! tuple_gather {
        ($name:ident, $n:expr; $($F:ident $f:ident $idx:tt),+) => {
            pin_project_lite::pin_project! {
                /// The future built by `gather!` for this many arguments.
                #[must_use = "futures do nothing unless you `.await` or poll them"]
                pub struct $name<$($F: Future),+> {
                    $( #[pin] $f: Option<$F>, )+
                    outs: ($(Option<$F::Output>,)+),
                    driver: Driver,
                    remaining: usize,
                }
            }

            impl<$($F: Future),+> GatherTuple for ($($F,)+) {
                type Future = $name<$($F),+>;
                fn into_gather(self) -> Self::Future {
                    $name {
                        $( $f: Some(self.$idx), )+
                        outs: ($(None::<$F::Output>,)+),
                        driver: Driver::new($n),
                        remaining: $n,
                    }
                }
            }

            impl<$($F: Future),+> Future for $name<$($F),+> {
                type Output = ($($F::Output,)+);

                fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                    let mut this = self.project();
                    this.driver.begin(cx);
                    while let Some(i) = this.driver.next() {
                        match i {
                            $(
                                $idx => {
                                    if let Some(fut) = this.$f.as_mut().as_pin_mut() {
                                        if let Poll::Ready(v) =
                                            this.driver.poll_child(i, |cx| fut.poll(cx))
                                        {
                                            this.$f.set(None);
                                            this.outs.$idx = Some(v);
                                            *this.remaining -= 1;
                                        }
                                    }
                                }
                            )+
                            _ => {}
                        }
                    }
                    if *this.remaining > 0 {
                        return Poll::Pending;
                    }
                    this.driver.close();
                    Poll::Ready(($(
                        this.outs.$idx.take().expect("`gather!` polled after it completed"),
                    )+))
                }
            }
        };
    }

    tuple_gather!(Gather1, 1; A a 0);
    tuple_gather!(Gather2, 2; A a 0, B b 1);
    tuple_gather!(Gather3, 3; A a 0, B b 1, C c 2);
    tuple_gather!(Gather4, 4; A a 0, B b 1, C c 2, D d 3);
    tuple_gather!(Gather5, 5; A a 0, B b 1, C c 2, D d 3, E e 4);
    tuple_gather!(Gather6, 6; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5);
    tuple_gather!(Gather7, 7; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6);
    tuple_gather!(Gather8, 8; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7);
    tuple_gather!(Gather9, 9; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I i 8);
    tuple_gather!(Gather10, 10; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I i 8,
        J j 9);
    tuple_gather!(Gather11, 11; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I i 8,
        J j 9, K k 10);
    tuple_gather!(Gather12, 12; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I i 8,
        J j 9, K k 10, L l 11);
}
