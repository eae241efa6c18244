//! `push` against moto over loopback, with the testkit's proxy between the SDK and moto to
//! count bytes, log checksum headers and inject faults. One module per part of `push`.

mod engine;
