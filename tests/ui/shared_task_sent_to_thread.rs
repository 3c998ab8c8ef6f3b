// A `SharedTask` clone moved into another thread.
fn main() {
    simul::run(async {
        let shared = simul::spawn(async { 1 }).shared();
        let other = shared.clone();
        std::thread::spawn(move || drop(other));
        let _ = shared.await;
    });
}
