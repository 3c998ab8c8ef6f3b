//! The simultaneous chess exhibition — the story behind the name.
//!
//! A chess master plays 24 opponents, 30 moves each. The master needs 5 time units to make
//! a move (CPU work: a busy loop, because there is one master, one CPU); each opponent needs
//! 55 units to reply (waiting: a sleep). Played one board after another, the exhibition
//! takes 24 × 30 × (5 + 55) units; played simultaneously — the master moves on a board,
//! then walks to the next while that opponent thinks — it takes about 24 × 30 × 5 units.
//!
//! In the story a unit is one second (12 hours vs 1 hour). Here it is 0.1 ms by default, so
//! the sequential game takes ≈ 4.3 s and the simultaneous one ≈ 0.36 s.
//!
//! With `--loops N` a third game follows: N masters (N event loops, one thread each —
//! `simul::Loops`) share the boards, each playing every N-th board simultaneously. The
//! masters' thinking is the floor, and there are N of them: with 2 loops on 2 cores the
//! game takes about half the single-loop time.
//!
//! Run: `cargo run --release --example exhibition [-- --unit-ms 0.1 --boards 24 --moves 30 --loops 2]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Setup {
    unit: Duration,
    boards: usize,
    moves: usize,
    loops: usize,
}

const MASTER_UNITS: u32 = 5;
const OPPONENT_UNITS: u32 = 55;

/// The master thinks: CPU work that holds the thread (no await inside).
fn master_move(unit: Duration) {
    let until = Instant::now() + unit * MASTER_UNITS;
    let mut x = 0u64;
    while Instant::now() < until {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// One board: the master moves, then the opponent thinks (waiting, not working).
/// With `rounds` set, the board that completes a round on every board reports it.
async fn play_board(setup: &Setup, progress: &AtomicUsize, rounds: Option<Instant>) {
    for _ in 0..setup.moves {
        master_move(setup.unit);
        simul::sleep(setup.unit * OPPONENT_UNITS).await;
        let done = progress.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(t0) = rounds {
            if done % (setup.boards * 5) == 0 || done == setup.boards * setup.moves {
                println!(
                    "  {:>3}/{} moves played, round {:>2} complete on every board  ({:.3} s)",
                    done,
                    setup.boards * setup.moves,
                    done / setup.boards,
                    t0.elapsed().as_secs_f64()
                );
            }
        }
    }
}

fn parse_args() -> Setup {
    let mut setup = Setup {
        unit: Duration::from_micros(100),
        boards: 24,
        moves: 30,
        loops: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--unit-ms" => {
                let ms: f64 = value
                    .parse()
                    .unwrap_or_else(|_| usage("--unit-ms needs a number"));
                if !(ms > 0.0 && ms < 10_000.0) {
                    usage("--unit-ms must be in (0, 10000)");
                }
                setup.unit = Duration::from_secs_f64(ms / 1000.0);
            }
            "--boards" => {
                setup.boards = value
                    .parse()
                    .unwrap_or_else(|_| usage("--boards needs a count"))
            }
            "--moves" => {
                setup.moves = value
                    .parse()
                    .unwrap_or_else(|_| usage("--moves needs a count"))
            }
            "--loops" => {
                setup.loops = value
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .unwrap_or_else(|| usage("--loops needs a count of at least 1"))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
        i += 2;
    }
    setup
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("error: {msg}");
    }
    eprintln!("usage: exhibition [--unit-ms F] [--boards N] [--moves N] [--loops N]");
    std::process::exit(2)
}

fn story(d: Duration, unit: Duration) -> String {
    let units = d.as_secs_f64() / unit.as_secs_f64();
    // In the story, one unit is one second.
    let h = units / 3600.0;
    format!("{h:.1} hours")
}

fn main() {
    let setup = parse_args();
    let total = setup.boards * setup.moves;
    println!(
        "Simultaneous exhibition: 1 master, {} boards, {} moves each; master move = {} units, reply = {} units, 1 unit = {:?}",
        setup.boards, setup.moves, MASTER_UNITS, OPPONENT_UNITS, setup.unit
    );

    // Sequential: one board after another, each awaited to the end.
    println!("\n-- sequential: one board at a time --");
    let progress = AtomicUsize::new(0);
    let t0 = Instant::now();
    simul::run(async {
        for b in 0..setup.boards {
            play_board(&setup, &progress, None).await;
            if (b + 1) % 4 == 0 {
                println!(
                    "  board {:>2} finished  ({:>3}/{total} moves, {:.3} s)",
                    b + 1,
                    progress.load(Ordering::Relaxed),
                    t0.elapsed().as_secs_f64()
                );
            }
        }
    });
    let sequential = t0.elapsed();

    // Simultaneous: every board is a task; the master moves wherever an opponent has replied.
    println!("\n-- simultaneous: every board a task --");
    let setup_ref: &'static Setup = Box::leak(Box::new(setup));
    let progress: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let t0 = Instant::now();
    simul::run(async move {
        let boards: Vec<_> = (0..setup_ref.boards)
            .map(|_| simul::spawn(play_board(setup_ref, progress, Some(t0))))
            .collect();
        for b in boards {
            b.await.expect("a board panicked");
        }
    });
    let simultaneous = t0.elapsed();

    // Many masters: one event loop per master, each playing every n-th board.
    let many = (setup_ref.loops > 1).then(|| {
        let n = setup_ref.loops;
        println!("\n-- simultaneous with {n} masters: {n} event loops, boards shared --");
        let progress: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let loops = simul::Loops::builder()
            .count(n)
            .build()
            .expect("cannot start the loops");
        let t0 = Instant::now();
        let per_master = loops.run(move |master| async move {
            let boards: Vec<_> = (master..setup_ref.boards)
                .step_by(n)
                .map(|_| simul::spawn(play_board(setup_ref, progress, Some(t0))))
                .collect();
            let count = boards.len();
            for b in boards {
                b.await.expect("a board panicked");
            }
            count
        });
        let took = t0.elapsed();
        println!("  boards per master: {per_master:?}");
        took
    });

    let unit = setup_ref.unit;
    println!(
        "\nsequential:   {:>7.3} s  (in the story: {})",
        sequential.as_secs_f64(),
        story(sequential, unit)
    );
    println!(
        "simultaneous: {:>7.3} s  (in the story: {})",
        simultaneous.as_secs_f64(),
        story(simultaneous, unit)
    );
    if let Some(many) = many {
        println!(
            "{} masters:   {:>7.3} s  (in the story: {})",
            setup_ref.loops,
            many.as_secs_f64(),
            story(many, unit)
        );
    }
    println!(
        "speedup: {:.1}x  (ideal {:.1}x: the master's own thinking time is the floor)",
        sequential.as_secs_f64() / simultaneous.as_secs_f64(),
        f64::from(MASTER_UNITS + OPPONENT_UNITS) / f64::from(MASTER_UNITS)
    );
    if let Some(many) = many {
        println!(
            "{} masters: {:.2}x the speed of one (ideal {}x with a core per master; {} core(s) here)",
            setup_ref.loops,
            simultaneous.as_secs_f64() / many.as_secs_f64(),
            setup_ref.loops,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
}
