// `TaskGroup::new_try()` infers the group's error type from its tasks.
fn main() {
    let err = simul::run(async {
        let tg = simul::TaskGroup::new_try();
        let ok = tg.try_spawn(async { Ok(1) });
        let _bad = tg.try_spawn(async { Err::<u8, _>(String::from("refused")) });
        let err = tg.join().await.unwrap_err().into_error();
        let _ = ok.await;
        err
    });
    assert_eq!(err.as_deref(), Some("refused"));
}
