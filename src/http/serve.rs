//! How berth serves its HTTP/1.1 connections: optionally bounded, with
//! idle ones given back under a crowd, and a graceful stop.
//!
//! Every open connection costs the server ~16 KiB before its request has
//! done anything: hyper's 8 KiB read buffer and its 8 KiB write buffer
//! (heaptrack; BENCHMARKS.md "#32, fifth and eleventh parts"); hyper's
//! sizes are not configurable. A request waiting at the admission gate
//! adds its middleware's state (~7 KiB). Its head is copied out of the
//! read buffer as it is handed over (`own_buffers`), so that no
//! middleware's copy of a header keeps the buffer, which hyper would
//! otherwise replace with a second one.
//!
//! With `BERTH_MAX_CONNECTIONS` set, at most that many are open at once:
//! the next one is accepted only when one has closed. The rest wait in
//! the kernel's accept queue (`BACKLOG` long), unread, costing berth
//! nothing, and are served in the order they came. This bounds memory
//! the way `BERTH_MAX_IN_FLIGHT` bounds work (2,000 clients at once
//! before the copies: 89 MiB with 1,024, 106 MiB without; 96-97 MiB
//! without since).
//!
//! A bound on connections must not let idle ones keep the waiting out (a
//! client's pool of keep-alive connections, or a client that sends
//! nothing). Whenever an accepted connection has to wait for a place,
//! every open connection is told to close: its next response carries
//! `Connection: close` (the client knows not to send on it again) and
//! hyper closes it after that response; one that stays idle for
//! `IDLE_GRACE` after its last answer is closed then (hyper's graceful
//! shutdown, which never cuts a response short), as nginx reuses idle
//! connections when it runs short. Closing an idle connection races its
//! client's next request on it, which then fails before it was read (the
//! race every keep-alive timeout has; with no grace, 1,139 of a 2,000
//! rush failed so; with it, none in five 2,000 rushes, 6 and 619 in two
//! 10,000-client rushes, whose client lags seconds behind). Such a
//! request did nothing and can be sent again (with its Idempotency-Key,
//! safely in any case). That is why the bound is off by default: it
//! trades a few transport failures under a crowd for a memory bound.
//!
//! Always: a request's head must arrive within `HEADER_READ_TIMEOUT`,
//! which also closes a keep-alive connection left idle that long; and the
//! server stops the same graceful way (`serve`'s `shutdown`).

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderValue, Request, header::CONNECTION},
    serve::Listener,
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    time::{Instant, sleep_until},
};
use tower::ServiceExt;

use super::own_buffers;

/// The accept queue's length asked of the kernel (which caps it at
/// `net.core.somaxconn`): room for a rush to wait while the open
/// connections are served.
const BACKLOG: u32 = 4096;

/// How long a request's head may take to arrive, counted from the end of
/// the connection's previous response (or its opening).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection told to close may stay idle after its last
/// answer before it is closed: long past the instant a client reuses a
/// connection it has just had an answer on.
const IDLE_GRACE: Duration = Duration::from_secs(1);

/// Binds `addr` with a `BACKLOG`-long accept queue.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `router` on `listener`, holding at most `max_connections` open
/// (`None`: any), until `shutdown` completes; then stops accepting and
/// returns once every open connection has finished its response.
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    max_connections: Option<usize>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let places = max_connections.map(|n| Arc::new(Semaphore::new(n)));
    // A new value: every open connection closes after its response. The
    // sender dropped: the same (the server stops).
    let (close_after_response, _) = watch::channel(0u64);
    // Every connection's task holds a receiver; `closed` when all ended.
    let (all_ended, connection_alive) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            // Logs and retries failed accepts (too many open files: waits).
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        // Accepted, unread (a socket, no buffers), it waits for a place.
        let place = match &places {
            None => None,
            Some(places) => match places.clone().try_acquire_owned() {
                Ok(place) => Some(place),
                Err(_) => {
                    close_after_response.send_modify(|crowds| *crowds = crowds.wrapping_add(1));
                    tokio::select! {
                        // Never closed (nothing calls `close`): only waits.
                        place = places.clone().acquire_owned() => place.ok(),
                        () = &mut shutdown => break,
                    }
                }
            },
        };
        let closing = close_after_response.subscribe();
        tokio::spawn(connection(stream, addr, router.clone(), closing, (place, connection_alive.clone())));
    }
    drop(listener);
    drop(close_after_response);
    drop(connection_alive);
    all_ended.closed().await;
}

/// Serves one connection until it ends. When `closing` changes (or its
/// sender goes) the connection closes after its next response, or once
/// idle for `IDLE_GRACE`. `held` (its place, its liveness) is given back
/// when it ends.
async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    router: Router,
    mut closing: watch::Receiver<u64>,
    held: (Option<OwnedSemaphorePermit>, watch::Receiver<()>),
) {
    let activity = Arc::new(Activity::new());
    let service = TowerToHyperService::new(tower::service_fn({
        let activity = activity.clone();
        move |request: hyper::Request<Incoming>| {
            let (router, activity) = (router.clone(), activity.clone());
            let (mut head, body) = request.into_parts();
            own_buffers::own_head(&mut head);
            // What `into_make_service_with_connect_info` gave: the rate limit's key.
            head.extensions.insert(ConnectInfo(addr));
            let request = Request::from_parts(head, Body::new(body));
            async move {
                let Ok(mut response) = router.oneshot(request).await;
                if activity.closing.load(Ordering::Relaxed) {
                    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
                activity.answered();
                Ok::<_, std::convert::Infallible>(response)
            }
        }
    }));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let mut served = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let (mut told, mut shut) = (false, false);
    loop {
        let quiet_at = activity.quiet_at();
        tokio::select! {
            ended = served.as_mut() => {
                if let Err(err) = ended {
                    tracing::trace!(error = %err, "connection ended with an error");
                }
                break;
            }
            _ = closing.changed(), if !told => {
                activity.closing.store(true, Ordering::Relaxed);
                told = true;
            }
            () = sleep_until(quiet_at), if told && !shut => {
                if activity.quiet_at() <= Instant::now() {
                    // Closes at once when idle, else after the response.
                    served.as_mut().graceful_shutdown();
                    shut = true;
                }
            }
        }
    }
    drop(held);
}

/// What a connection's requests tell its task: whether it is closing, and
/// when it last answered.
struct Activity {
    opened: Instant,
    closing: AtomicBool,
    /// Microseconds from `opened` to the last answer (0: none yet).
    answered_at: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { opened: Instant::now(), closing: AtomicBool::new(false), answered_at: AtomicU64::new(0) }
    }

    fn answered(&self) {
        let micros = u64::try_from(self.opened.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.answered_at.store(micros, Ordering::Relaxed);
    }

    /// When it will have been idle for `IDLE_GRACE` (counted from its
    /// opening before the first answer).
    fn quiet_at(&self) -> Instant {
        self.opened + Duration::from_micros(self.answered_at.load(Ordering::Relaxed)) + IDLE_GRACE
    }
}
