//! End-to-end tests against real databases: MariaDB servers and a Galera
//! cluster from Debian's packages (`scripts/install-test-databases`),
//! started by the harness on loopback (`switchboard_harness::mariadb`,
//! `switchboard_harness::galera`). With `SWITCHBOARD_SKIP_DB_TESTS=1` they
//! print why and pass; otherwise a missing server is a failure.

mod galera_failover;
mod galera_fixture;
mod mariadb_fixture;
mod mysql_check;
mod mysql_edges;
