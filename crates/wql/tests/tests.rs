//! The one integration-test binary of linmgmt-wql: golden files, evaluator tests and
//! property tests.

mod common;
mod eval;
mod golden;
mod like;
mod props;
