//! `TowerToHyper` adds no allocation per request: a call is a state machine over the
//! tower service's own future (counted with the per-thread counting allocator).

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use hyper::service::Service as _;

/// A tower service that allocates nothing itself: its future is `Ready`.
#[derive(Clone)]
struct AddOne;

impl tower_service::Service<u32> for AddOne {
    type Response = u32;
    type Error = Infallible;
    type Future = Ready<Result<u32, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: u32) -> Self::Future {
        ready(Ok(req + 1))
    }
}

#[test]
fn a_tower_to_hyper_call_allocates_nothing_of_its_own() {
    simul::run(async {
        let svc = simul::http::TowerToHyper::new(AddOne);
        assert_eq!(svc.call(0).await, Ok(1)); // warm up
        let before = allocs();
        let mut sum = 0;
        for i in 0..1000 {
            sum += svc.call(i).await.unwrap();
        }
        assert_eq!(allocs() - before, 0, "allocations for 1000 calls");
        assert_eq!(sum, 500_500);
    });
}
