// A group's task handle may be dropped without a warning: the group keeps the task.
#![deny(unused_must_use)]
fn main() {
    simul::run(async {
        let tg = simul::TaskGroup::new();
        tg.spawn(async {});
        tg.handle().spawn(async {}).unwrap();
        tg.join().await.unwrap();
    });
}
