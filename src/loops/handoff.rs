//! The acceptor hand-off: one loop accepts, every loop serves.
//!
//! With `SO_REUSEPORT` the kernel picks a listener by a hash of the connection's
//! addresses, which balances well when connections are many and alike, and badly when
//! their lifetimes are uneven (a few long connections can pile up on one loop).
//! [`serve_handoff`] instead accepts on one listener and hands each connection to the
//! least-loaded loop of the set at that moment (see [`super::Loops::load`]).
//!
//! A connection crosses as a `std` socket that no selector has seen: it is accepted
//! without being registered on the acceptor's loop, travels in the closure of a remote
//! spawn, and is registered once, by the loop that serves it — so a hand-off costs the
//! remote spawn (one injection-queue push, and a wake-up if that loop was parked), not an
//! extra pair of `epoll_ctl` calls. It is registered as a local accept's is, assumed
//! readable and writable, so its first read takes the request already queued without
//! waiting a selector round for the first event.

use std::future::Future;
use std::io;
use std::sync::Arc;

use crate::net::{TcpListener, TcpStream};

/// Accepts connections on `listener` and runs `handler(stream)` for each as a task on the
/// least-loaded loop of the calling loop's [`Loops`](super::Loops) (this one included).
/// Runs until it is cancelled (dropping the listener) or `accept` fails for a reason
/// other than a passing one (descriptor exhaustion backs off and retries, as
/// [`TcpListener::accept`] does).
///
/// The handler is `Send + Sync` because every loop calls it; the future it returns is
/// built on the serving loop and need not be `Send`. Handler tasks are named
/// `connection from PEER`. Use [`crate::split`] for a reader and a writer.
///
/// # Errors
/// The `accept` error that ended the loop.
///
/// # Panics
/// Outside a loop of a [`Loops`](super::Loops).
///
/// # Examples
/// ```
/// use std::io::Read;
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel();
/// let acceptor = loops.handle(0).spawn_with(move || async move {
///     let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     tx.send(listener.local_addr().unwrap()).unwrap();
///     simul::loops::serve_handoff(listener, |stream| async move {
///         let (_reader, writer) = simul::split(stream);
///         writer.write(&[simul::loops::current_index().unwrap() as u8]);
///     })
///     .await
/// });
/// let addr = rx.recv().unwrap();
/// let mut served_by = Vec::new();
/// let mut keep = Vec::new();
/// for _ in 0..4 {
///     let mut c = std::net::TcpStream::connect(addr).unwrap();
///     let mut b = [0u8];
///     c.read_exact(&mut b).unwrap();
///     served_by.push(b[0]);
///     keep.push(c);
/// }
/// // Which loop serves each one depends on the loops' loads at that moment (here each
/// // handler ends at once); `tests/loops_servers.rs` checks the spread over many.
/// assert!(served_by.iter().all(|&i| i < 2), "{served_by:?}");
/// acceptor.cancel();
/// ```
pub async fn serve_handoff<H, F>(listener: TcpListener, handler: H) -> io::Result<()>
where
    H: Fn(TcpStream) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + 'static,
{
    let (set, me) = super::current("serve_handoff");
    let handler = Arc::new(handler);
    loop {
        let (stream, peer) = listener.accept_std().await?;
        let handler = handler.clone();
        let target = set.choose(Some(me));
        set.spawn_named_on(
            target,
            Some(format!("connection from {peer}")),
            move || async move {
                match TcpStream::from_accepted_std(stream) {
                    Ok(s) => handler(s).await,
                    Err(e) => eprintln!(
                        "simul::loops::serve_handoff: cannot adopt the connection from {peer}: {e}"
                    ),
                }
            },
        );
    }
}
