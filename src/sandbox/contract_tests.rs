//! The testbed's contract, table-driven (filled in below).
