//! The error type of stream reads (asyncio's `IncompleteReadError`, `LimitOverrunError`).

use std::fmt;
use std::io;

/// Why a [`StreamReader`](super::StreamReader) operation failed.
///
/// The first two variants are asyncio's exceptions, with the same meaning and the same
/// effect on the buffer. A `StreamError` converts into an `io::Error` (kinds
/// `UnexpectedEof`, `InvalidData`, `Other`, `InvalidInput`, or the original one), so
/// `?` works in functions returning `io::Result`.
///
/// # Examples
/// ```
/// use simul::StreamError;
/// let e = StreamError::IncompleteRead { partial: b"ab".to_vec(), expected: Some(4) };
/// assert_eq!(e.to_string(), "2 bytes read on a total of 4 expected bytes");
/// let io: std::io::Error = e.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// EOF came before the operation could complete (asyncio's `IncompleteReadError`).
    /// `partial` holds every byte that was buffered — the buffer is now empty.
    /// `expected` is the requested size for `readexactly`, `None` for `readuntil`.
    #[doc(alias = "IncompleteReadError")]
    IncompleteRead {
        /// The bytes read before EOF (removed from the buffer).
        partial: Vec<u8>,
        /// How many bytes were asked for (`None`: up to a separator).
        expected: Option<usize>,
    },
    /// The chunk up to the separator does not fit the reader's limit (asyncio's
    /// `LimitOverrunError`): either the separator was found but starts beyond the limit
    /// (`found`: a line longer than the limit, for `readline`), or the limit was reached
    /// without a separator.
    ///
    /// For `readuntil` the data stays in the buffer and `consumed` says how many bytes
    /// can be discarded without losing a separator that is still arriving. For `readline`
    /// the over-long line (through its newline, or the whole buffer when there is no
    /// newline yet) has been discarded, as asyncio does before raising `ValueError`.
    /// Raise the limit with [`StreamReader::with_limit`](super::StreamReader::with_limit).
    #[doc(alias = "LimitOverrunError")]
    LimitOverrun {
        /// Bytes to consume before the separator could start.
        consumed: usize,
        /// The reader's limit, in bytes.
        limit: usize,
        /// `true` when the separator was found (beyond the limit), `false` when the limit
        /// was reached before any separator arrived.
        found: bool,
    },
    /// Another task is already waiting on this reader (asyncio's `RuntimeError:
    /// readuntil() called while another coroutine is already waiting for incoming data`).
    /// Nothing was read or consumed.
    ConcurrentRead,
    /// An argument was invalid (an empty separator, an empty separator list).
    InvalidArgument(&'static str),
    /// The transport failed (connection reset, ...). Buffered bytes are kept.
    Io(io::Error),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::IncompleteRead {
                partial,
                expected: Some(n),
            } => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                partial.len()
            ),
            StreamError::IncompleteRead {
                partial,
                expected: None,
            } => write!(
                f,
                "{} bytes read on a total of undefined expected bytes",
                partial.len()
            ),
            StreamError::LimitOverrun {
                consumed,
                limit,
                found: true,
            } => write!(
                f,
                "separator found, but the {consumed} bytes before it (a line, for readline) \
                 exceed the stream limit of {limit} bytes; raise the limit with \
                 StreamReader::with_limit"
            ),
            StreamError::LimitOverrun {
                consumed,
                limit,
                found: false,
            } => write!(
                f,
                "separator not found within the stream limit of {limit} bytes ({consumed} \
                 bytes can be consumed); raise the limit with StreamReader::with_limit"
            ),
            StreamError::ConcurrentRead => f.write_str(
                "another task is already reading from this StreamReader (concurrent reads are not allowed)",
            ),
            StreamError::InvalidArgument(what) => f.write_str(what),
            StreamError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for StreamError {
    fn from(e: io::Error) -> Self {
        StreamError::Io(e)
    }
}

impl From<StreamError> for io::Error {
    fn from(e: StreamError) -> Self {
        let kind = match &e {
            StreamError::Io(_) => {
                let StreamError::Io(inner) = e else {
                    unreachable!()
                };
                return inner;
            }
            StreamError::IncompleteRead { .. } => io::ErrorKind::UnexpectedEof,
            StreamError::LimitOverrun { .. } => io::ErrorKind::InvalidData,
            StreamError::ConcurrentRead => io::ErrorKind::Other,
            StreamError::InvalidArgument(_) => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// A remembered I/O error (`io::Error` is not `Clone`): handed out again on every call.
#[derive(Clone, Debug)]
pub(crate) struct StoredError {
    kind: io::ErrorKind,
    message: String,
}

impl StoredError {
    pub(crate) fn new(e: &io::Error) -> StoredError {
        StoredError {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
    pub(crate) fn of(kind: io::ErrorKind, message: &str) -> StoredError {
        StoredError {
            kind,
            message: message.to_string(),
        }
    }
    pub(crate) fn to_io(&self) -> io::Error {
        io::Error::new(self.kind, self.message.clone())
    }
}
