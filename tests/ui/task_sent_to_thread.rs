// A `Task` handle moved into another thread: the compiler says why it cannot go.
fn main() {
    simul::run(async {
        let task = simul::spawn(async { 1 });
        std::thread::spawn(move || drop(task));
    });
}
