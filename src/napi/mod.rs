//! napi bindings: conversion only. Each file mirrors one core module; errors cross in
//! `error.rs`.

mod builder;
mod display;
mod error;
mod misc;
mod process;
mod qmp;
