// A plain task handle dropped on the spot: the warning says what dropping does.
#![deny(unused_must_use)]
fn main() {
    simul::run(async {
        simul::spawn(async {});
    });
}
