//! Integration tests of linmgmt-mof: golden files, round trips and robustness.

mod integration {
    mod golden;
    mod instances;
    mod robustness;
    mod roundtrip;
}
