//! The replaying client: one keep-alive HTTP/1.1 connection that sends the same pre-signed
//! request bytes again and again and reads each answer off the socket with little work (no
//! signing, no connection pool, no header map), so that the process answering, not the
//! client, bounds the throughput. SigV4 signatures stay valid for minutes (the server accepts
//! a 15-minute clock skew), so one signature serves a whole run.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection replaying one request.
pub struct Replay {
    addr: String,
    request: Vec<u8>,
    stream: Option<TcpStream>,
    /// Bytes read and not yet consumed; the last answer returned is at its start.
    buf: Vec<u8>,
    /// Length of the last answer returned, dropped from `buf` on the next send.
    consumed: usize,
}

/// What the head of an answer says.
struct Head {
    status: u16,
    /// Length of the status line and headers, with the empty line.
    len: usize,
    body_len: usize,
    close: bool,
}

impl Replay {
    /// Connects to `addr` (host:port) to send `request` (the whole HTTP/1.1 request) over it.
    pub async fn connect(addr: &str, request: Vec<u8>) -> Result<Replay, String> {
        let mut replay = Replay {
            addr: addr.to_owned(),
            request,
            stream: None,
            buf: Vec::with_capacity(8192),
            consumed: 0,
        };
        replay.stream = Some(replay.open().await?);
        Ok(replay)
    }

    async fn open(&self) -> Result<TcpStream, String> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(stream)
    }

    /// Sends the request once and returns the answer's status and body. After an error the
    /// connection is dropped and the next call opens a new one (no silent retry: the caller
    /// counts the error).
    pub async fn send(&mut self) -> Result<(u16, &[u8]), String> {
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        let stream = match self.stream.take() {
            Some(s) => s,
            None => self.open().await?,
        };
        match exchange(stream, &self.request, &mut self.buf).await {
            Ok((stream, head)) => {
                let end = head.len + head.body_len;
                self.consumed = end;
                if !head.close {
                    self.stream = Some(stream);
                }
                Ok((head.status, &self.buf[head.len..end]))
            }
            Err(e) => {
                self.buf.clear();
                Err(e)
            }
        }
    }
}

/// Writes `request` and reads one answer into `buf`; gives the stream back for the next one.
async fn exchange(
    mut stream: TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(TcpStream, Head), String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    let head = loop {
        if let Some(head) = parse_head(buf)? {
            break head;
        }
        read_more(&mut stream, buf).await?;
    };
    while buf.len() < head.len + head.body_len {
        read_more(&mut stream, buf).await?;
    }
    Ok((stream, head))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.reserve(4096);
    match stream.read_buf(buf).await {
        Ok(0) => Err("the connection was closed before a whole answer".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("receiving: {e}")),
    }
}

/// The answer's head, or None while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut answer = httparse::Response::new(&mut headers);
    let len = match answer
        .parse(buf)
        .map_err(|e| format!("a bad answer: {e}"))?
    {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let mut body_len = None;
    let mut close = false;
    for h in answer.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            body_len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("an answer in chunks (the replaying client wants Content-Length)".into());
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    Ok(Some(Head {
        status: answer.code.unwrap_or(0),
        len,
        body_len: body_len.ok_or("an answer without a valid Content-Length")?,
        close,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head_once_it_is_complete() {
        let answer =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        assert!(parse_head(&answer[..20]).unwrap().is_none());
        let head = parse_head(answer).unwrap().unwrap();
        assert_eq!((head.status, head.body_len, head.close), (200, 2, false));
        assert_eq!(&answer[head.len..], b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(parse_head(chunked).is_err());
        let closing = b"HTTP/1.1 503 No\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let head = parse_head(closing).unwrap().unwrap();
        assert_eq!((head.status, head.close), (503, true));
    }
}
