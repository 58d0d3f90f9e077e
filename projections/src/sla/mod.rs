//! Read models of service level agreements.

pub mod policies;
