//! Integration tests of linmgmt-schema: the embedded files, the class facts, round trips
//! and errors.

mod integration {
    mod classes;
    mod errors;
    mod files;
    mod roundtrip;
}
