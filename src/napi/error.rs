//! The one place a domain error becomes a JS error.
//!
//! The native error's message is a marker followed by the JSON of a [`WireError`];
//! the facade (`lib/errors.js`) turns it into the exported class with `code`, `name`
//! and the spec's extra fields. Sync throws and async rejections take the same path.

use std::future::Future;

use napi::{Error, Status};

use crate::error::{ErrorShape, WireError};

/// Marks a message as a serialised [`WireError`] (must match `lib/errors.js`).
pub const WIRE_PREFIX: &str = "\u{1}infinivirt-error:";

pub fn wire(w: &WireError) -> Error {
    match serde_json::to_string(w) {
        Ok(json) => Error::new(Status::GenericFailure, format!("{WIRE_PREFIX}{json}")),
        Err(_) => Error::new(Status::GenericFailure, w.message.clone()),
    }
}

pub fn to_napi<E: ErrorShape + ?Sized>(e: &E) -> Error {
    wire(&WireError::from_shape(e))
}

/// `result.napi()?` in bindings.
pub trait IntoNapi<T> {
    fn napi(self) -> napi::Result<T>;
}

impl<T, E: ErrorShape> IntoNapi<T> for Result<T, E> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(|e| to_napi(&e))
    }
}

/// Runs an async binding body as its own task so a panic becomes a rejection
/// instead of unwinding into Node.
pub async fn guarded<T, F>(fut: F) -> napi::Result<T>
where
    T: Send + 'static,
    F: Future<Output = napi::Result<T>> + Send + 'static,
{
    match tokio::spawn(fut).await {
        Ok(r) => r,
        Err(e) => Err(wire(&WireError::internal(format!("Internal error in Infinivirt: {e}")))),
    }
}
