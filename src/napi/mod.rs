//! napi bindings: conversion only. Each file mirrors one core module; errors cross in
//! `error.rs`.

// Exported functions are only referenced by the generated registration code, which
// a `cargo test --features napi` build does not link.
#![cfg_attr(test, allow(dead_code))]

mod agent;
mod backup;
mod builder;
mod display;
mod error;
mod firewall;
mod install_monitor;
mod lifecycle;
mod misc;
mod network;
mod process;
mod qmp;
mod quiesce;
mod records;
mod state;
mod storage;
mod system;
mod unattended;
