// `TaskGroup::new()` and a task that fails with `Err`: the compiler points to `new_try()`.
fn main() {
    simul::run(async {
        let tg = simul::TaskGroup::new();
        let _t = tg.try_spawn(async { Err::<u32, &str>("refused") });
        let _ = tg.join().await;
    });
}
