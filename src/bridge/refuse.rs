//! Turning away a connection that cannot be routed (routing off, no active
//! backend, `proxy.max_sessions` reached) with `proxy.refuse_with =
//! "mysql-error"` (docs/configuration.md):
//! a MySQL error packet in place of the server greeting, saying why, so a
//! MySQL client prints the reason instead of "Lost connection".
//!
//! The packet is what a server sends before the handshake ("Too many
//! connections"): header (3-byte length, sequence id 0), 0xFF, the error
//! code little-endian, the message. No `#` + SQLSTATE marker: before the
//! greeting no client has negotiated CLIENT_PROTOCOL_41, MySQL's own client
//! library would print the marker as part of the message, and every client
//! reports SQLSTATE `HY000` (its "unknown") without one; servers omit it
//! there too. It is built on the stack (no allocation per connection) and
//! written with one non-blocking write: a refusal never waits for the client.

use tokio::net::TcpStream;

/// `ER_UNKNOWN_ERROR`: the code of every refusal here but the session
/// limit's.
pub(crate) const ER_UNKNOWN_ERROR: u16 = 1105;

/// `ER_CON_COUNT_ERROR` ("Too many connections"): what a server itself
/// answers beyond its `max_connections`, so clients and their retry logic
/// treat `proxy.max_sessions` the same way.
pub(crate) const ER_CON_COUNT_ERROR: u16 = 1040;

/// The longest message sent, in bytes: clients keep at most 511
/// (`MYSQL_ERRMSG_SIZE` - 1).
pub(crate) const MAX_MESSAGE: usize = 500;

/// 4-byte header, 0xFF, 2-byte code.
const HEAD: usize = 7;

/// Why a connection is refused.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal<'a> {
    /// Routing is off; the operator's message (may be empty).
    RoutingOff(&'a str),
    /// Routing is on but no backend can take the connection.
    NoBackend,
    /// `proxy.max_sessions` connections are open already.
    MaxSessions,
}

/// An error packet, on the stack.
pub(crate) struct ErrPacket {
    buf: [u8; HEAD + MAX_MESSAGE],
    len: usize,
}

impl ErrPacket {
    /// The packet for error `code` whose message is `parts` joined,
    /// truncated to [`MAX_MESSAGE`] bytes on a character boundary.
    pub(crate) fn new(code: u16, parts: &[&str]) -> ErrPacket {
        let mut buf = [0u8; HEAD + MAX_MESSAGE];
        let mut len = HEAD;
        'parts: for part in parts {
            for ch in part.chars() {
                let mut utf8 = [0u8; 4];
                let bytes = ch.encode_utf8(&mut utf8).as_bytes();
                if len + bytes.len() > buf.len() {
                    break 'parts;
                }
                buf[len..len + bytes.len()].copy_from_slice(bytes);
                len += bytes.len();
            }
        }
        let payload = (len - 4) as u32; // < 2^24 by construction
        buf[..3].copy_from_slice(&payload.to_le_bytes()[..3]);
        buf[3] = 0; // sequence id: the first packet of the connection
        buf[4] = 0xFF;
        buf[5..7].copy_from_slice(&code.to_le_bytes());
        ErrPacket { buf, len }
    }

    /// The packet for `why`.
    pub(crate) fn refusal(why: Refusal<'_>) -> ErrPacket {
        match why {
            Refusal::RoutingOff("") => {
                ErrPacket::new(ER_UNKNOWN_ERROR, &["switchboard: routing is off"])
            }
            Refusal::RoutingOff(message) => ErrPacket::new(
                ER_UNKNOWN_ERROR,
                &["switchboard: routing is off: ", message],
            ),
            Refusal::NoBackend => {
                ErrPacket::new(ER_UNKNOWN_ERROR, &["switchboard: no healthy backend"])
            }
            Refusal::MaxSessions => ErrPacket::new(
                ER_CON_COUNT_ERROR,
                &["switchboard: too many connections (proxy.max_sessions reached)"],
            ),
        }
    }

    /// The bytes on the wire.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Writes the refusal to `client` with one non-blocking write; whatever
/// does not fit is dropped (a fresh socket's send buffer always has room).
pub(crate) fn refuse(client: &TcpStream, why: Refusal<'_>) {
    let _ = client.try_write(ErrPacket::refusal(why).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packet_layout() {
        let p = ErrPacket::refusal(Refusal::RoutingOff("maintenance"));
        let message = b"switchboard: routing is off: maintenance";
        let mut expected = vec![(3 + message.len()) as u8, 0, 0, 0, 0xFF, 0x51, 0x04];
        expected.extend_from_slice(message);
        assert_eq!(p.as_bytes(), expected.as_slice());
        assert_eq!(u16::from_le_bytes([0x51, 0x04]), 1105);
    }

    #[test]
    fn every_refusal_says_why() {
        let text = |why| String::from_utf8(ErrPacket::refusal(why).as_bytes()[HEAD..].to_vec());
        assert_eq!(
            text(Refusal::RoutingOff("")).as_deref(),
            Ok("switchboard: routing is off")
        );
        assert_eq!(
            text(Refusal::NoBackend).as_deref(),
            Ok("switchboard: no healthy backend")
        );
        assert_eq!(
            text(Refusal::MaxSessions).as_deref(),
            Ok("switchboard: too many connections (proxy.max_sessions reached)")
        );
        let code = |why| {
            let b = ErrPacket::refusal(why).as_bytes().to_vec();
            u16::from_le_bytes([b[5], b[6]])
        };
        assert_eq!(code(Refusal::MaxSessions), 1040);
        assert_eq!(code(Refusal::NoBackend), 1105);
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let long = "é".repeat(400); // 800 bytes
        let p = ErrPacket::refusal(Refusal::RoutingOff(&long));
        let bytes = p.as_bytes();
        assert!(bytes.len() <= HEAD + MAX_MESSAGE);
        let payload = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0]) as usize;
        assert_eq!(payload, bytes.len() - 4, "the length covers the payload");
        let message = std::str::from_utf8(&bytes[HEAD..]).expect("valid UTF-8");
        assert!(message.starts_with("switchboard: routing is off: éé"));
        assert!(message.len() > MAX_MESSAGE - 2);
    }
}
