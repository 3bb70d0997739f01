//! Assay's own client for the PostgreSQL frontend/backend protocol, for ops on plaintext
//! connections (the local stand-in, a server on the same network).
//!
//! Why not sqlx here: the op path is the load generator's hot path. Measured against
//! `pgbench -S` on a 2-core machine, sqlx spent about 13 µs of client CPU per point read
//! (a query stream, statement logging, a `Close` per query, name lookups per column), this
//! client about 9 µs; on a machine the client shares with the server that is the
//! difference between trailing pgbench and matching it (see docs/decisions.md).
//!
//! What it does: startup with cleartext, MD5 or SCRAM-SHA-256 authentication; the extended
//! protocol with each SQL text prepared once per connection (`Parse` sent in the same write
//! as its first `Bind`/`Execute`/`Sync`, so preparing costs no extra round trip); binary
//! parameters and results; a transaction's `BEGIN` sent with its first statement, under one
//! Sync; simple queries for `COMMIT`/`ROLLBACK`; `COPY ... FROM STDIN` for bulk loads
//! (CopyData, CopyDone, CopyFail). What it leaves
//! to sqlx: TLS, Unix sockets, and any URL parameter beyond `sslmode` — [`WireConfig::from_url`]
//! returns `None` for those and the driver opens sqlx connections instead.
//!
//! Errors come back as `sqlx::Error` (I/O, protocol, or a database error carrying the
//! SQLSTATE), so one classifier (`classify.rs`) serves both kinds of connection.

use assay_core::Record;
use bytes::{BufMut, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::{DataRowBody, ErrorResponseBody, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::types::{array_from_sql, int8_from_sql, text_from_sql};
use postgres_protocol::IsNull;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TEXT_OID: u32 = 25;
const INT8_OID: u32 = 20;
/// Binary format, for every parameter and every result column.
const BINARY: i16 = 1;
/// COPY data goes out in CopyData messages of about this size...
const COPY_DATA_FRAME: usize = 64 * 1024;
/// ... and the write buffer is flushed to the socket once it holds this much.
const COPY_FLUSH_AT: usize = 1024 * 1024;

/// Whether to ask the server for TLS first (libpq's `prefer` / `allow`, sqlx's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TlsAsk {
    Never,
    AskFirst,
}

/// Where a plaintext op connection goes, and as whom. Never printed: it holds the password.
#[derive(Clone)]
pub(crate) struct WireConfig {
    host: String,
    port: u16,
    user: String,
    password: String,
    database: String,
    tls: TlsAsk,
    /// `-c statement_timeout=<ms>ms`, the same server-side bound sqlx sessions get.
    options: String,
}

impl WireConfig {
    /// The plaintext settings of a `postgres://user:password@host[:port][/db][?sslmode=...]`
    /// URL, or `None` when the URL needs what only sqlx does: TLS required or verified, a
    /// Unix socket, no user or password in the URL (sqlx then reads `PGPASSWORD` and
    /// friends), or any other parameter.
    pub(crate) fn from_url(url: &str, statement_timeout: Duration) -> Option<WireConfig> {
        let parsed = url::Url::parse(url).ok()?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return None;
        }
        let mut tls = TlsAsk::AskFirst;
        for (name, value) in parsed.query_pairs() {
            match (name.as_ref(), value.as_ref()) {
                ("sslmode", "disable") => tls = TlsAsk::Never,
                ("sslmode", "allow" | "prefer") => tls = TlsAsk::AskFirst,
                _ => return None,
            }
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(Cow::into_owned)
        };
        let host = match parsed.host()? {
            url::Host::Domain(d) => decode(d)?,
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let user = decode(parsed.username())?;
        let password = decode(parsed.password()?)?;
        if host.is_empty() || host.starts_with('/') || user.is_empty() {
            return None;
        }
        let database = match parsed.path().trim_start_matches('/') {
            "" => user.clone(),
            db => decode(db)?,
        };
        Some(WireConfig {
            host,
            port: parsed.port().unwrap_or(5432),
            user,
            password,
            database,
            tls,
            options: format!(
                "-c statement_timeout={}ms",
                statement_timeout.as_millis().max(1)
            ),
        })
    }
}

/// A parameter of a prepared statement, sent in binary.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    Int8(i64),
    NullInt8,
}

impl Param<'_> {
    fn oid(&self) -> u32 {
        match self {
            Param::Text(_) => TEXT_OID,
            Param::Int8(_) | Param::NullInt8 => INT8_OID,
        }
    }

    fn write(&self, buf: &mut BytesMut) -> IsNull {
        match self {
            Param::Text(s) => {
                buf.put_slice(s.as_bytes());
                IsNull::No
            }
            Param::Int8(i) => {
                buf.put_i64(*i);
                IsNull::No
            }
            Param::NullInt8 => IsNull::Yes,
        }
    }
}

/// What `connect` found.
pub(crate) enum Connected {
    Ready(WireConn),
    /// The server accepted the TLS request: this connection needs TLS, which is sqlx's job.
    WantsTls,
}

/// One session on the server.
pub(crate) struct WireConn {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// SQL text → name of its prepared statement on this session.
    statements: HashMap<String, String>,
    /// A `BEGIN ...` not sent yet (see [`WireConn::begin_with_next`]).
    pending_begin: Option<String>,
}

/// A database error as sqlx reports one, so `classify` sees the SQLSTATE either way.
#[derive(Debug)]
pub(crate) struct WireDbError {
    code: String,
    message: String,
}

impl std::fmt::Display for WireDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WireDbError {}

impl sqlx::error::DatabaseError for WireDbError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.code))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        match self.code.as_str() {
            "23505" => sqlx::error::ErrorKind::UniqueViolation,
            "23503" => sqlx::error::ErrorKind::ForeignKeyViolation,
            "23502" => sqlx::error::ErrorKind::NotNullViolation,
            "23514" => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

fn db_error(body: &ErrorResponseBody) -> sqlx::Error {
    let mut code = String::new();
    let mut message = String::new();
    let mut fields = body.fields();
    // A malformed field list still yields whatever was read before it.
    while let Ok(Some(field)) = fields.next() {
        match field.type_() {
            b'C' => code = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            _ => {}
        }
    }
    sqlx::Error::Database(Box::new(WireDbError { code, message }))
}

fn protocol(what: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Protocol(format!("postgres wire protocol: {what}"))
}

fn decode(what: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("cannot decode {what}: {e}").into())
}

/// The rows a command reports in its tag (`INSERT 0 1`, `UPDATE 3`, `SELECT 1`).
fn rows_in_tag(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl WireConn {
    pub(crate) async fn connect(cfg: &WireConfig) -> Result<Connected, sqlx::Error> {
        let stream = TcpStream::connect((cfg.host.as_str(), cfg.port)).await?;
        stream.set_nodelay(true)?;
        let mut conn = WireConn {
            stream,
            rbuf: BytesMut::with_capacity(8192),
            wbuf: BytesMut::with_capacity(1024),
            statements: HashMap::new(),
            pending_begin: None,
        };
        if cfg.tls == TlsAsk::AskFirst {
            frontend::ssl_request(&mut conn.wbuf);
            conn.flush().await?;
            match conn.stream.read_u8().await? {
                b'N' => {}
                b'S' => return Ok(Connected::WantsTls),
                other => return Err(protocol(format!("answer {other:#x} to the TLS request"))),
            }
        }
        frontend::startup_message(
            [
                ("user", cfg.user.as_str()),
                ("database", cfg.database.as_str()),
                ("application_name", "assay"),
                ("options", cfg.options.as_str()),
            ],
            &mut conn.wbuf,
        )?;
        conn.flush().await?;
        conn.authenticate(cfg).await?;
        // Parameter statuses and the cancel key, up to the first ReadyForQuery.
        loop {
            match conn.recv().await? {
                Message::ReadyForQuery(_) => return Ok(Connected::Ready(conn)),
                Message::ErrorResponse(e) => return Err(db_error(&e)),
                _ => {}
            }
        }
    }

    async fn authenticate(&mut self, cfg: &WireConfig) -> Result<(), sqlx::Error> {
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.recv().await? {
                Message::AuthenticationOk => return Ok(()),
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(cfg.password.as_bytes(), &mut self.wbuf)?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hashed = md5_hash(cfg.user.as_bytes(), cfg.password.as_bytes(), body.salt());
                    frontend::password_message(hashed.as_bytes(), &mut self.wbuf)?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut offered = false;
                    while let Some(m) = mechanisms.next().map_err(protocol)? {
                        offered |= m == SCRAM_SHA_256;
                    }
                    if !offered {
                        return Err(protocol("the server offers no SASL mechanism Assay speaks (SCRAM-SHA-256)"));
                    }
                    let s = ScramSha256::new(cfg.password.as_bytes(), ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut self.wbuf)?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| protocol("SASL continue before SASL start"))?;
                    s.update(body.data()).map_err(protocol)?;
                    frontend::sasl_response(s.message(), &mut self.wbuf)?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| protocol("SASL final before SASL start"))?;
                    s.finish(body.data()).map_err(protocol)?;
                    continue;
                }
                Message::ErrorResponse(e) => return Err(db_error(&e)),
                _ => return Err(protocol("the server asks for an authentication method Assay does not speak (it speaks password, md5 and SCRAM-SHA-256)")),
            }
            self.flush().await?;
        }
    }

    async fn flush(&mut self) -> Result<(), sqlx::Error> {
        self.stream.write_all(&self.wbuf).await?;
        self.wbuf.clear();
        Ok(())
    }

    async fn recv(&mut self) -> Result<Message, sqlx::Error> {
        loop {
            if let Some(message) = Message::parse(&mut self.rbuf).map_err(protocol)? {
                return Ok(message);
            }
            self.rbuf.reserve(8192);
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(sqlx::Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
        }
    }

    /// Sends `begin` together with the next statement, in the same write and under the same
    /// Sync (as JDBC sends BEGIN with a transaction's first query), which saves one round trip
    /// per transaction. A failed BEGIN cannot let that statement run outside a transaction:
    /// after an error the server skips everything up to the Sync.
    pub(crate) fn begin_with_next(&mut self, begin: &str) {
        self.pending_begin = Some(begin.to_string());
    }

    /// Runs `sql` with `params` as one prepared statement (after a pending BEGIN) and hands
    /// each row to `on_row`; returns the rows the command reports. Reads up to ReadyForQuery
    /// even after an error, so the session stays usable.
    pub(crate) async fn extended(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        mut on_row: impl FnMut(&DataRowBody) -> Result<(), sqlx::Error>,
    ) -> Result<u64, sqlx::Error> {
        let mut fresh = Vec::new();
        if let Some(begin) = self.pending_begin.take() {
            write_statement(&self.statements, &mut self.wbuf, &begin, &[], &mut fresh)?;
        }
        write_statement(&self.statements, &mut self.wbuf, sql, params, &mut fresh)?;
        frontend::sync(&mut self.wbuf);
        self.flush().await?;
        let mut fresh = fresh.into_iter();
        let mut error = None;
        let mut rows = 0;
        loop {
            match self.recv().await? {
                // In the order the Parse messages went out.
                Message::ParseComplete => {
                    if let Some((sql, name)) = fresh.next() {
                        self.statements.insert(sql, name);
                    }
                }
                Message::DataRow(row) if error.is_none() => error = on_row(&row).err(),
                // The statement's tag comes last (after BEGIN's).
                Message::CommandComplete(c) => rows = rows_in_tag(c.tag().map_err(protocol)?),
                Message::ErrorResponse(e) => {
                    error.get_or_insert(db_error(&e));
                }
                Message::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// A statement without parameters through the simple protocol (`COMMIT`, `ROLLBACK`);
    /// a pending BEGIN goes first, in the same write.
    pub(crate) async fn simple(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let mut answers = 1;
        // Only when no statement ran in between (a transaction that ends before its first
        // statement); a COMMIT or ROLLBACK after a failed BEGIN only draws a warning.
        if let Some(begin) = self.pending_begin.take() {
            frontend::query(&begin, &mut self.wbuf)?;
            answers += 1;
        }
        frontend::query(sql, &mut self.wbuf)?;
        self.flush().await?;
        let mut result = Ok(());
        for _ in 0..answers {
            let r = self.until_ready().await;
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// `COPY ... FROM STDIN` of `rows`, `encode` writing each row in the COPY text format.
    /// The Query, every CopyData and the CopyDone go out without waiting for the server's
    /// CopyInResponse (a server that refuses the COPY ignores the CopyData that follows, as
    /// the protocol says), so a chunk costs one round trip. A row `encode` refuses ends the
    /// COPY with CopyFail, and the server rolls it back whole. Returns the rows copied.
    pub(crate) async fn copy_in<R>(
        &mut self,
        sql: &str,
        rows: &[R],
        mut encode: impl FnMut(&R, &mut BytesMut) -> Result<(), String>,
    ) -> Result<u64, sqlx::Error> {
        frontend::query(sql, &mut self.wbuf)?;
        let mut refused = None;
        let mut frame = self.start_copy_data();
        for (i, row) in rows.iter().enumerate() {
            if let Err(why) = encode(row, &mut self.wbuf) {
                refused = Some(format!("row {i}: {why}"));
                break;
            }
            if self.wbuf.len() - frame >= COPY_DATA_FRAME {
                self.end_copy_data(frame);
                if self.wbuf.len() >= COPY_FLUSH_AT {
                    self.flush().await?;
                }
                frame = self.start_copy_data();
            }
        }
        match &refused {
            None => {
                self.end_copy_data(frame);
                frontend::copy_done(&mut self.wbuf);
            }
            Some(why) => {
                // Drop the unfinished frame: what went out before is rolled back anyway.
                self.wbuf.truncate(frame);
                frontend::copy_fail(why, &mut self.wbuf)?;
            }
        }
        self.flush().await?;
        let mut error = None;
        let mut copied = 0;
        loop {
            match self.recv().await? {
                Message::CommandComplete(c) => copied = rows_in_tag(c.tag().map_err(protocol)?),
                Message::ErrorResponse(e) => {
                    error.get_or_insert(db_error(&e));
                }
                Message::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(copied),
        }
    }

    /// Opens a CopyData message in the write buffer; returns where it starts.
    fn start_copy_data(&mut self) -> usize {
        let at = self.wbuf.len();
        self.wbuf.put_u8(b'd');
        self.wbuf.put_i32(0);
        at
    }

    /// Closes the CopyData message opened at `at` (its length), or drops it when empty.
    fn end_copy_data(&mut self, at: usize) {
        let len = self.wbuf.len() - at - 1;
        if len == 4 {
            self.wbuf.truncate(at);
            return;
        }
        self.wbuf[at + 1..at + 5].copy_from_slice(&(len as i32).to_be_bytes());
    }

    /// A round trip that runs nothing: Sync, answered by ReadyForQuery.
    pub(crate) async fn ping(&mut self) -> Result<(), sqlx::Error> {
        frontend::sync(&mut self.wbuf);
        self.flush().await?;
        self.until_ready().await
    }

    async fn until_ready(&mut self) -> Result<(), sqlx::Error> {
        let mut error = None;
        loop {
            match self.recv().await? {
                Message::ErrorResponse(e) => {
                    error.get_or_insert(db_error(&e));
                }
                Message::ReadyForQuery(_) => return error.map_or(Ok(()), Err),
                _ => {}
            }
        }
    }
}

/// Parse (first use on this session only), Bind and Execute of one statement into `wbuf`;
/// a statement parsed here is pushed to `fresh` as (SQL, name) until the server confirms it.
fn write_statement(
    statements: &HashMap<String, String>,
    wbuf: &mut BytesMut,
    sql: &str,
    params: &[Param<'_>],
    fresh: &mut Vec<(String, String)>,
) -> Result<(), sqlx::Error> {
    let name = match statements.get(sql) {
        Some(name) => name.as_str(),
        None => {
            let name = format!("assay_{}", statements.len() + fresh.len());
            frontend::parse(&name, sql, params.iter().map(Param::oid), wbuf)?;
            fresh.push((sql.to_string(), name));
            fresh.last().map_or("", |(_, n)| n.as_str())
        }
    };
    frontend::bind(
        "",
        name,
        params.iter().map(|_| BINARY),
        params.iter(),
        |p, buf| Ok(p.write(buf)),
        Some(BINARY),
        wbuf,
    )
    .map_err(|e| match e {
        frontend::BindError::Conversion(e) => protocol(e),
        frontend::BindError::Serialization(e) => sqlx::Error::Io(e),
    })?;
    frontend::execute("", 0, wbuf)?;
    Ok(())
}

/// The columns `k, v, ver, n, l` of one row, in binary.
pub(crate) fn record_from_data_row(row: &DataRowBody) -> Result<Record, sqlx::Error> {
    let buf = row.buffer();
    let mut ranges = row.ranges();
    let mut column = |name: &str| -> Result<Option<&[u8]>, sqlx::Error> {
        match ranges.next().map_err(protocol)? {
            Some(range) => Ok(range.map(|r| &buf[r])),
            None => Err(protocol(format!("the row has no column `{name}`"))),
        }
    };
    fn not_null<'b>(name: &str, v: Option<&'b [u8]>) -> Result<&'b [u8], sqlx::Error> {
        v.ok_or_else(|| decode(name, "unexpected NULL"))
    }
    let key = text_from_sql(not_null("k", column("k")?)?).map_err(|e| decode("k", e))?;
    let value = column("v")?
        .map(text_from_sql)
        .transpose()
        .map_err(|e| decode("v", e))?;
    let version = int8_from_sql(not_null("ver", column("ver")?)?).map_err(|e| decode("ver", e))?;
    let counter = int8_from_sql(not_null("n", column("n")?)?).map_err(|e| decode("n", e))?;
    let array = array_from_sql(not_null("l", column("l")?)?).map_err(|e| decode("l", e))?;
    let mut list = Vec::new();
    let mut values = array.values();
    while let Some(v) = values.next().map_err(|e| decode("l", e))? {
        list.push(int8_from_sql(not_null("l", v)?).map_err(|e| decode("l", e))?);
    }
    Ok(Record {
        key: key.to_string(),
        value: value.map(str::to_string),
        version: u64::try_from(version).ok(),
        counter: Some(counter),
        list: Some(list),
    })
}

/// The first column of a row as a BIGINT (`RETURNING n`).
pub(crate) fn int8_from_data_row(row: &DataRowBody) -> Result<i64, sqlx::Error> {
    let buf = row.buffer();
    match row.ranges().next().map_err(protocol)? {
        Some(Some(r)) => int8_from_sql(&buf[r]).map_err(|e| decode("a BIGINT column", e)),
        _ => Err(decode("a BIGINT column", "no value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(1500);

    #[test]
    fn plain_urls_use_the_wire_client() {
        let c = WireConfig::from_url("postgres://assay:p%40ss@127.0.0.1:5433/db", T).unwrap();
        assert_eq!(
            (
                c.host.as_str(),
                c.port,
                c.user.as_str(),
                c.password.as_str(),
                c.database.as_str()
            ),
            ("127.0.0.1", 5433, "assay", "p@ss", "db")
        );
        assert_eq!(c.tls, TlsAsk::AskFirst);
        assert_eq!(c.options, "-c statement_timeout=1500ms");
        let c = WireConfig::from_url("postgresql://u:p@localhost?sslmode=disable", T).unwrap();
        assert_eq!(
            (c.port, c.database.as_str(), c.tls),
            (5432, "u", TlsAsk::Never)
        );
    }

    #[test]
    fn tls_sockets_and_other_parameters_stay_with_sqlx() {
        for url in [
            "postgres://u:p@h/db?sslmode=require",
            "postgres://u:p@h/db?sslmode=verify-full",
            "postgres://u:p@h/db?sslrootcert=/ca.pem",
            "postgres://u@h/db",
            "postgres://u:p@%2Fvar%2Frun%2Fpostgresql/db",
            "mysql://u:p@h/db",
            "not a url",
        ] {
            assert!(WireConfig::from_url(url, T).is_none(), "{url}");
        }
    }

    #[test]
    fn command_tags_give_the_rows() {
        assert_eq!(rows_in_tag("INSERT 0 1"), 1);
        assert_eq!(rows_in_tag("UPDATE 0"), 0);
        assert_eq!(rows_in_tag("DELETE 12"), 12);
        assert_eq!(rows_in_tag("BEGIN"), 0);
    }
}
