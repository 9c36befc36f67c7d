//! What the command builder can fail with: an unsafe or out-of-range value
//! (`LifecycleError` `INVALID_CONFIG`) or a refused console (`DisplayError`).

use serde_json::{Map, Value};

use crate::display::error::DisplayError;
use crate::error::{ErrorShape, JsClass};
use crate::lifecycle::error::LifecycleError;

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error(transparent)]
    Config(#[from] LifecycleError),
    #[error(transparent)]
    Display(#[from] DisplayError),
}

impl ErrorShape for QemuError {
    fn code(&self) -> &'static str {
        match self {
            QemuError::Config(e) => e.code(),
            QemuError::Display(e) => e.code(),
        }
    }

    fn class(&self) -> JsClass {
        match self {
            QemuError::Config(e) => e.class(),
            QemuError::Display(e) => e.class(),
        }
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            QemuError::Config(e) => e.fields(),
            QemuError::Display(e) => e.fields(),
        }
    }
}
