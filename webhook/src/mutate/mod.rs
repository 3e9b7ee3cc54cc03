//! Admission mutators: JSON patches that fill defaults and never overwrite a user's value.

pub mod pod;
pub mod service;
pub mod target_group_binding;
