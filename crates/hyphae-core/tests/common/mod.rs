pub mod harness;
pub mod secure;
