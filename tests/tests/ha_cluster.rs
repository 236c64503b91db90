use integration_tests::cluster::Cluster;

#[test]
fn ha_cluster() {
    let t = std::time::Instant::now();
    let mut cluster = Cluster::start();
    eprintln!("formed in {:?}", t.elapsed());
    let active = cluster.active();
    eprintln!("active {active} standbys {:?}", cluster.standbys());
    for n in cluster.nodes() {
        eprintln!("{}", n.status().unwrap());
    }
    let t = std::time::Instant::now();
    cluster.kill(active);
    let new = cluster.wait_for_new_leader(active);
    eprintln!("new leader {new} in {:?}", t.elapsed());
    let t = std::time::Instant::now();
    cluster.restart(active);
    eprintln!("rejoined in {:?}", t.elapsed());
}
