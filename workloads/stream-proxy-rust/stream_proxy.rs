//! stream-proxy in Rust (std only): a test target beside the C reference servers
//! (workloads/stream-proxy, docs/WORKLOADS.md). One process drives itself over 127.0.0.1:
//! an origin serves `GET /media/ID?size=B&chunk=B` in chunk-sized writes, the proxy fetches
//! `/media/ID` for each `GET /stream/ID?size=&chunk=` and streams it on through its upstream
//! client's read buffer, and client threads make a bounded number of requests through the
//! proxy and check every byte count. Then everything stops and is joined, and main returns.
//!
//! - leaky: every request builds a new upstream client in `upstream_client_new` (a pool, a
//!   `--buffer` read buffer, an 8 KiB header buffer) and its connection record holds the
//!   client with a strong `Rc`: client -> pool -> connection -> client, a cycle nothing
//!   breaks, so the client is never dropped. Its socket is closed; its memory is lost.
//! - fixed: one client per proxy worker, created once, with a bounded keep-alive pool of
//!   `--pool` connections whose records hold the client with a `Weak`; all dropped at the end.
//!
//! Usage: wl-stream-proxy-rs [--variant leaky|fixed] [--requests N] [--clients N]
//!        [--workers N] [--size B] [--chunk B] [--pool N] [--buffer B]
//! Builds with rustc 1.63 (Debian 12) and later.
use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Leaky,
    Fixed,
}

#[derive(Clone)]
struct Options {
    variant: Variant,
    requests: usize,
    clients: usize,
    workers: usize,
    size: usize,
    chunk: usize,
    pool: usize,
    buffer: usize,
}

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn usage_error(message: &str) -> ! {
    eprintln!("wl-stream-proxy-rs: {}", message);
    std::process::exit(2);
}

fn parse_options() -> Options {
    let mut o = Options {
        variant: Variant::Leaky,
        requests: 200,
        clients: 4,
        workers: 2,
        size: 32768,
        chunk: 8192,
        pool: 8,
        buffer: 32768,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).map(|s| s.as_str()).unwrap_or("");
        let number = |min: usize, max: usize| -> usize {
            match value.parse::<usize>() {
                Ok(n) if n >= min && n <= max => n,
                _ => usage_error(&format!(
                    "{} wants a number from {} to {}, not '{}'",
                    args[i], min, max, value
                )),
            }
        };
        match args[i].as_str() {
            "--variant" => {
                o.variant = match value {
                    "leaky" => Variant::Leaky,
                    "fixed" => Variant::Fixed,
                    _ => usage_error(&format!("--variant wants leaky or fixed, not '{}'", value)),
                }
            }
            "--requests" => o.requests = number(1, 1_000_000),
            "--clients" => o.clients = number(1, 64),
            "--workers" => o.workers = number(1, 64),
            "--size" => o.size = number(0, 1 << 30),
            "--chunk" => o.chunk = number(1, 1 << 24),
            "--pool" => o.pool = number(1, 1024),
            "--buffer" => o.buffer = number(512, 1 << 24),
            other => usage_error(&format!("unknown option '{}'", other)),
        }
        i += 2;
    }
    o
}

/// The first line and the headers of a request or response, up to the blank line. None at
/// end of stream before a first line.
fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            if lines.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "head cut short"));
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (key, value) = l.split_once(':')?;
        if key.trim().eq_ignore_ascii_case(name) {
            Some(value.trim())
        } else {
            None
        }
    })
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// "GET /PREFIX/ID?size=B&chunk=B HTTP/1.1" -> (ID, size, chunk).
fn parse_target(head: &[String], prefix: &str) -> io::Result<(String, usize, usize)> {
    let mut words = head.first().map(|l| l.split(' ')).ok_or_else(|| bad("no request line"))?;
    let (method, target) = (words.next(), words.next().unwrap_or(""));
    let rest = target.strip_prefix(prefix).filter(|_| method == Some("GET"));
    let rest = rest.ok_or_else(|| bad("not a GET of the expected path"))?;
    let (id, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut size, mut chunk) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("size", v)) => size = v.parse().ok(),
            Some(("chunk", v)) => chunk = v.parse().ok().filter(|&c| c > 0),
            _ => {}
        }
    }
    match (size, chunk) {
        (Some(s), Some(c)) => Ok((id.to_string(), s, c)),
        _ => Err(bad("size and chunk are required")),
    }
}

// ---- the origin ----

fn origin_connection(stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?; // a head and then the body: no wait for an ACK in between
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let piece = vec![b'm'; 1 << 16];
    while let Some(head) = read_head(&mut reader)? {
        let (_, size, chunk) = parse_target(&head, "/media/")?;
        let close = header(&head, "Connection").map_or(false, |v| v.eq_ignore_ascii_case("close"));
        write!(writer, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", size)?;
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk).min(piece.len());
            writer.write_all(&piece[..n])?;
            left -= n;
        }
        if close {
            break;
        }
    }
    Ok(())
}

/// Accepts until STOP, a thread per connection; joins them all before it returns.
fn serve_origin(listener: TcpListener, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut handlers = Vec::new();
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(stream) = stream {
                handlers.push(thread::spawn(move || {
                    if let Err(e) = origin_connection(stream) {
                        eprintln!("wl-stream-proxy-rs: origin: {}", e);
                    }
                }));
            }
        }
        for h in handlers {
            let _ = h.join();
        }
    })
}

// ---- the proxy ----

/// Who a connection record belongs to: the leaky variant holds its client strongly.
enum Owner {
    Strong(Rc<RefCell<UpstreamClient>>),
    Weak(Weak<RefCell<UpstreamClient>>),
}

struct Connection {
    stream: Option<BufReader<TcpStream>>,
    owner: Owner,
    requests: usize,
}

impl Connection {
    /// The client whose buffers this connection reads through.
    fn client(&self) -> Option<Rc<RefCell<UpstreamClient>>> {
        match &self.owner {
            Owner::Strong(c) => Some(c.clone()),
            Owner::Weak(c) => c.upgrade(),
        }
    }
}

/// An HTTP client of the origin: a pool of connections and the buffers it reads through.
struct UpstreamClient {
    pool: Vec<Rc<RefCell<Connection>>>,
    pool_capacity: usize,
    next: usize,
    read_buffer: Vec<u8>,
    header_buffer: Vec<u8>, // where the client builds the request head it sends
}

#[inline(never)]
fn upstream_client_new(o: &Options, pool_capacity: usize) -> Rc<RefCell<UpstreamClient>> {
    Rc::new(RefCell::new(UpstreamClient {
        pool: Vec::with_capacity(pool_capacity),
        pool_capacity,
        next: 0,
        read_buffer: vec![0u8; o.buffer],
        header_buffer: Vec::with_capacity(8192),
    }))
}

/// A connection to the origin: a pooled one (fixed), or a new one added to the pool.
#[inline(never)]
fn upstream_connection(
    client: &Rc<RefCell<UpstreamClient>>,
    origin: SocketAddr,
    variant: Variant,
) -> io::Result<Rc<RefCell<Connection>>> {
    {
        let mut c = client.borrow_mut();
        if c.pool.len() == c.pool_capacity {
            let at = c.next % c.pool_capacity;
            c.next += 1;
            let conn = c.pool[at].clone();
            if conn.borrow().stream.is_some() {
                return Ok(conn);
            }
            c.pool.remove(at); // closed after an error: replaced below
        }
    }
    let stream = TcpStream::connect(origin)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let owner = match variant {
        Variant::Leaky => Owner::Strong(client.clone()),
        Variant::Fixed => Owner::Weak(Rc::downgrade(client)),
    };
    let conn = Rc::new(RefCell::new(Connection {
        stream: Some(BufReader::new(stream)),
        owner,
        requests: 0,
    }));
    client.borrow_mut().pool.push(conn.clone());
    Ok(conn)
}

/// Fetches /media/ID from the origin over CONN and streams the body to DOWN through the
/// read buffer of the connection's client. Returns the bytes relayed.
fn relay(
    conn: &Rc<RefCell<Connection>>,
    target: &(String, usize, usize),
    down: &mut TcpStream,
    keep_alive: bool,
) -> io::Result<usize> {
    let client = conn.borrow().client().ok_or_else(|| bad("the client is gone"))?;
    let mut c = client.borrow_mut();
    let mut k = conn.borrow_mut();
    k.requests += 1;
    let c = &mut *c;
    c.header_buffer.clear();
    write!(
        c.header_buffer,
        "GET /media/{}?size={}&chunk={} HTTP/1.1\r\nHost: origin\r\n{}\r\n",
        target.0,
        target.1,
        target.2,
        if keep_alive { "" } else { "Connection: close\r\n" }
    )?;
    let reader = k.stream.as_mut().ok_or_else(|| bad("connection closed"))?;
    reader.get_mut().write_all(&c.header_buffer)?;
    let head = read_head(reader)?.ok_or_else(|| bad("the origin closed the connection"))?;
    let length: usize = header(&head, "Content-Length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad("no Content-Length from the origin"))?;
    write!(down, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", length)?;
    let mut left = length;
    while left > 0 {
        let want = left.min(c.read_buffer.len());
        let n = reader.read(&mut c.read_buffer[..want])?;
        if n == 0 {
            return Err(bad("the origin's body was cut short"));
        }
        down.write_all(&c.read_buffer[..n])?;
        left -= n;
    }
    Ok(length)
}

fn proxy_request(
    o: &Options,
    origin: SocketAddr,
    worker_client: &Option<Rc<RefCell<UpstreamClient>>>,
    down: TcpStream,
) -> io::Result<usize> {
    down.set_read_timeout(Some(IO_TIMEOUT))?;
    down.set_nodelay(true)?;
    let mut writer = down.try_clone()?;
    let head = read_head(&mut BufReader::new(down))?.ok_or_else(|| bad("no request"))?;
    let target = parse_target(&head, "/stream/")?;
    let client = match worker_client {
        Some(c) => c.clone(),
        None => upstream_client_new(o, 1), // leaky: a new client for every request
    };
    let conn = upstream_connection(&client, origin, o.variant)?;
    let result = relay(&conn, &target, &mut writer, o.variant == Variant::Fixed);
    if o.variant == Variant::Leaky || result.is_err() {
        conn.borrow_mut().stream = None; // the socket is closed; the leaky client is not freed
    }
    result
}

fn proxy_worker(o: Options, origin: SocketAddr, queue: Arc<Mutex<mpsc::Receiver<TcpStream>>>) {
    let client = match o.variant {
        Variant::Fixed => Some(upstream_client_new(&o, o.pool)),
        Variant::Leaky => None,
    };
    loop {
        let next = queue.lock().unwrap().recv();
        let down = match next {
            Ok(down) => down,
            Err(_) => break, // the acceptor has stopped
        };
        if let Err(e) = proxy_request(&o, origin, &client, down) {
            eprintln!("wl-stream-proxy-rs: proxy: {}", e);
        }
    }
    // fixed: the client, its pool and its connections are dropped here.
}

// ---- the clients ----

fn fetch(proxy: SocketAddr, id: usize, o: &Options) -> io::Result<usize> {
    let stream = TcpStream::connect(proxy)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    write!(
        writer,
        "GET /stream/media-{}?size={}&chunk={} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n",
        id, o.size, o.chunk
    )?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?.ok_or_else(|| bad("the proxy closed the connection"))?;
    if head[0].split(' ').nth(1) != Some("200") {
        return Err(bad(&format!("the proxy answered '{}'", head[0])));
    }
    let mut body = Vec::new();
    reader.read_to_end(&mut body)?;
    if body.len() != o.size {
        return Err(bad(&format!("{} bytes received, {} expected", body.len(), o.size)));
    }
    Ok(body.len())
}

fn main() {
    let o = parse_options();
    let bind = |what: &str| {
        TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| {
            eprintln!("wl-stream-proxy-rs: cannot listen for the {}: {}", what, e);
            std::process::exit(1)
        })
    };
    let (origin_listener, proxy_listener) = (bind("origin"), bind("proxy"));
    let origin = origin_listener.local_addr().unwrap();
    let proxy = proxy_listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let origin_thread = serve_origin(origin_listener, stop.clone());

    let (queue_tx, queue_rx) = mpsc::channel::<TcpStream>();
    let queue = Arc::new(Mutex::new(queue_rx));
    let workers: Vec<JoinHandle<()>> = (0..o.workers)
        .map(|_| {
            let (o, queue) = (o.clone(), queue.clone());
            thread::spawn(move || proxy_worker(o, origin, queue))
        })
        .collect();
    let proxy_stop = stop.clone();
    let acceptor = thread::spawn(move || {
        for stream in proxy_listener.incoming() {
            if proxy_stop.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(stream) = stream {
                let _ = queue_tx.send(stream);
            }
        }
        // queue_tx is dropped: the workers stop once the queue is empty.
    });

    let clients: Vec<JoinHandle<io::Result<(usize, usize)>>> = (0..o.clients)
        .map(|k| {
            let o = o.clone();
            thread::spawn(move || {
                let (mut done, mut bytes) = (0, 0);
                for id in (k..o.requests).step_by(o.clients) {
                    bytes += fetch(proxy, id, &o)?;
                    done += 1;
                }
                Ok((done, bytes))
            })
        })
        .collect();
    let (mut done, mut bytes, mut failed) = (0, 0, None);
    for c in clients {
        match c.join().unwrap() {
            Ok((d, b)) => {
                done += d;
                bytes += b;
            }
            Err(e) => failed = Some(e),
        }
    }

    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(proxy); // wakes the acceptor, which sees STOP
    let _ = acceptor.join();
    for w in workers {
        let _ = w.join();
    }
    let _ = TcpStream::connect(origin);
    let _ = origin_thread.join();
    let variant = if o.variant == Variant::Leaky { "leaky" } else { "fixed" };
    println!("wl-stream-proxy-rs: {}: {} requests, {} bytes relayed", variant, done, bytes);
    if let Some(e) = failed {
        eprintln!("wl-stream-proxy-rs: a client failed: {}", e);
        std::process::exit(1);
    }
}
