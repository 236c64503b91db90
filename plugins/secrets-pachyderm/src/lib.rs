//! A secrets engine for Pachyderm 2.x: leased, revocable robot tokens
//! minted by pachd.

pub mod pachd;
