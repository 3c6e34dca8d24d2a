//! A small SSE client over reqwest: reads frames (`id`, `event`, `data`)
//! from a streaming response, with deadlines.

use std::time::{Duration, Instant};

/// One Server-Sent Event frame (comments dropped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("bad SSE data {:?}: {e}", self.data))
    }

    pub fn index(&self) -> u64 {
        self.id
            .as_deref()
            .and_then(|i| i.parse().ok())
            .expect("numeric id")
    }
}

/// Reads frames from an open `text/event-stream` response.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
    /// The tail of the last chunk that ends inside a UTF-8 character (a
    /// chunk boundary may fall anywhere); completed by the next chunk.
    partial: Vec<u8>,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        SseReader {
            response,
            buffer: String::new(),
            partial: Vec::new(),
        }
    }

    /// The next frame with data (keep-alives and comments skipped), or
    /// `None` at the end of the stream; panics after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if line.starts_with(':') || line.is_empty() {
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => frame.id = Some(value.to_string()),
                        "event" => frame.event = Some(value.to_string()),
                        "data" => data.push(value.to_string()),
                        _ => {}
                    }
                }
                if !data.is_empty() {
                    frame.data = data.join("\n");
                    return Some(frame);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "no SSE frame within {timeout:?}; buffered: {:?}",
                    self.buffer
                );
            }
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    self.partial.extend_from_slice(&chunk);
                    let complete = match std::str::from_utf8(&self.partial) {
                        Ok(_) => self.partial.len(),
                        // Keep an incomplete character at the end for the next chunk.
                        Err(e) if e.error_len().is_none() => e.valid_up_to(),
                        Err(_) => self.partial.len(),
                    };
                    let rest = self.partial.split_off(complete);
                    self.buffer
                        .push_str(&String::from_utf8_lossy(&self.partial));
                    self.partial = rest;
                }
                Ok(Ok(None)) | Ok(Err(_)) => return None,
                Err(_) => panic!(
                    "no SSE frame within {timeout:?}; buffered: {:?}",
                    self.buffer
                ),
            }
        }
    }
}
