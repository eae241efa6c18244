//! Tests of `push`: one binary, one module per part.

mod select;
