//! VM state: the database contract and its stores (PostgreSQL on the backend's Prisma
//! tables, embedded SQLite, a caller's JS adapter in the napi layer), and the sync
//! layer on top (`StateSync`, `EventHandler`, `HealthMonitor`, pushed crash detection).

pub mod cleanup;
pub mod dburl;
pub mod emit;
pub mod error;
pub mod events;
pub mod health;
pub mod pg;
pub mod queue;
pub mod records;
pub mod schema;
pub mod sqlite;
pub mod status;
pub mod store;
pub mod sync;
