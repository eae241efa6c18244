//! A process that starts the shared moto server and waits to be killed: the test
//! `no_orphan_when_the_test_process_is_killed` SIGKILLs it and checks that moto dies too.

use cmi_testkit::moto::Moto;

fn main() {
    // Started from a thread that exits at once: the server must outlive that thread.
    let port = std::thread::spawn(|| Moto::shared().port())
        .join()
        .expect("the starting thread does not panic");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "moto died with the thread that started it"
    );
    println!("moto-port {port}");
    std::thread::sleep(std::time::Duration::from_secs(60));
}
