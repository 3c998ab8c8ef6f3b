//! The names renamed in 0.2 keep working, deprecated, for one release.
#![allow(deprecated)]

#[test]
fn the_old_names_still_name_the_new_types() {
    let lp = simul::EventLoop::new().unwrap();
    let remote: simul::JoinHandle<u8> = lp.handle().spawn(async { 3 });
    let _: &simul::RemoteTask<u8> = &remote;
    assert_eq!(lp.run_until_complete(remote).unwrap(), 3);
    lp.run_until_complete(async {
        let h: simul::Handle = simul::call_soon(|| {});
        let _: &simul::CallbackHandle = &h;
        let b: simul::task::Builder = simul::Task::builder();
        let _: simul::TaskBuilder = b;
        let g: simul::task::group::Join<std::convert::Infallible> = simul::TaskGroup::new().join();
        let g: simul::task::group::GroupJoin<_> = g;
        g.await.unwrap();
        let q = simul::Queue::<()>::new(0);
        let j: simul::sync::Join<'_, (), _> = q.join();
        let j: simul::sync::QueueJoin<'_, (), _> = j;
        j.await;
    });
}
