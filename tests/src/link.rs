//! A link to the test PostgreSQL that tests cut, to take the database away
//! from a server as a lost network or a stopped host would.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A TCP link to the test PostgreSQL that a test can cut and restore: while
/// cut, every connection through it is dropped and new ones are refused, as
/// when the database's host goes away. The server under test is given `url()`.
pub struct DatabaseLink {
    url: String,
    port: u16,
    target: std::net::SocketAddr,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl DatabaseLink {
    /// A link to `database_url` (a database on the test PostgreSQL).
    pub async fn to(database_url: &str) -> DatabaseLink {
        let (before, after) = database_url.split_once("@127.0.0.1:").expect("a test database URL");
        let (port, rest) = after.split_once('/').unwrap();
        let target = std::net::SocketAddr::from(([127, 0, 0, 1], port.parse::<u16>().unwrap()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let link = DatabaseLink {
            url: format!("{before}@127.0.0.1:{port}/{rest}"),
            port,
            target,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        link.serve(listener);
        link
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Accepts connections again, on the same port.
    pub async fn restore(&self) {
        let started = Instant::now();
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(error) if started.elapsed() < Duration::from_secs(10) => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cannot listen on the link's port again: {error}"),
            }
        };
        self.serve(listener);
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (target, tasks) = (self.target, self.tasks.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let forwarding = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(forwarding.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accepting.abort_handle());
    }
}
