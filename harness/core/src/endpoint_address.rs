//! Where an endpoint's servers listen, and the same endpoint pointed elsewhere: a fault
//! proxy takes the server's place, so clients connect to the proxy and the proxy to the
//! server (and, after a failover, to the promoted replica).

use crate::target::{Endpoint, Secret};
use std::net::SocketAddr;

/// The `host:port` of a URL (`scheme://[user:pass@]host:port[/path]`) or of a bare
/// `host:port`, as its text span.
pub(crate) fn authority_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?']).map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    Some((host_start, end))
}

fn address_of(url: &str) -> Option<SocketAddr> {
    let (a, b) = authority_span(url)?;
    url[a..b].parse().ok()
}

fn readdress(url: &str, to: SocketAddr) -> String {
    match authority_span(url) {
        Some((a, b)) => format!("{}{to}{}", &url[..a], &url[b..]),
        None => url.to_string(),
    }
}

impl Endpoint {
    /// The address clients connect to, when it is a numeric `ip:port` (local stand-ins).
    pub fn address(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Dynamodb { url, .. } => address_of(url.as_deref()?),
            Endpoint::Spanner { emulator_host, .. } => address_of(emulator_host.as_deref()?),
            Endpoint::Cosmos { url, .. } => address_of(url),
            Endpoint::Postgres { url, .. } | Endpoint::Mysql { url } => address_of(url.expose()),
        }
    }

    /// A read replica's address, when the endpoint has one.
    pub fn replica_address(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Postgres {
                replica_url: Some(r),
                ..
            } => address_of(r.expose()),
            _ => None,
        }
    }

    /// The same endpoint with its server at `primary` (and its replica at `replica`).
    pub fn with_addresses(&self, primary: SocketAddr, replica: Option<SocketAddr>) -> Endpoint {
        let mut e = self.clone();
        match &mut e {
            Endpoint::Dynamodb { url, .. } => {
                *url = url.as_deref().map(|u| readdress(u, primary));
            }
            Endpoint::Spanner { emulator_host, .. } => {
                *emulator_host = emulator_host.as_deref().map(|u| readdress(u, primary));
            }
            Endpoint::Cosmos { url, .. } => *url = readdress(url, primary),
            Endpoint::Postgres { url, replica_url } => {
                *url = Secret::new(readdress(url.expose(), primary));
                if let (Some(r), Some(to)) = (replica_url.as_mut(), replica) {
                    *r = Secret::new(readdress(r.expose(), to));
                }
            }
            Endpoint::Mysql { url } => *url = Secret::new(readdress(url.expose(), primary)),
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_and_replaced_in_every_url_form() {
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let pg = Endpoint::Postgres {
            url: Secret::new("postgres://assay:pw@127.0.0.1:5432/assay?sslmode=disable"),
            replica_url: Some(Secret::new("postgres://assay:pw@127.0.0.1:5433/assay")),
        };
        assert_eq!(pg.address(), Some("127.0.0.1:5432".parse().unwrap()));
        assert_eq!(
            pg.replica_address(),
            Some("127.0.0.1:5433".parse().unwrap())
        );
        let moved = pg.with_addresses(to, Some("127.0.0.1:10".parse().unwrap()));
        let Endpoint::Postgres { url, replica_url } = &moved else {
            unreachable!()
        };
        assert_eq!(
            url.expose(),
            "postgres://assay:pw@127.0.0.1:9/assay?sslmode=disable"
        );
        assert_eq!(
            replica_url.as_ref().unwrap().expose(),
            "postgres://assay:pw@127.0.0.1:10/assay"
        );
        let spanner = Endpoint::Spanner {
            emulator_host: Some("127.0.0.1:9010".into()),
            project: "p".into(),
            instance: "i".into(),
            database: "d".into(),
        };
        assert_eq!(spanner.address(), Some("127.0.0.1:9010".parse().unwrap()));
        let Endpoint::Spanner { emulator_host, .. } = spanner.with_addresses(to, None) else {
            unreachable!()
        };
        assert_eq!(emulator_host.as_deref(), Some("127.0.0.1:9"));
        let real = Endpoint::Dynamodb {
            url: None,
            region: "eu-west-1".into(),
            access_key_id: None,
            secret_access_key: None,
        };
        assert_eq!(real.address(), None, "a real endpoint has no local address");
    }
}
