"""A VM on a vhost-user adapter with two workers while the guest enables one queue pair.

The VM stand-in is dpdk-testpmd with net_virtio_user (TESTING.md: QEMU cannot run a
guest here), in icmpecho mode: it answers every ARP request and ICMP echo. The switch
runs two workers and offers the VM two queue pairs; the VM enables one, so the worker
whose tx queue the VM lacks must hand its frames to the other (core/tx_queues.h).
Pings to many addresses spread the flows over both workers (PACKET_FANOUT hashes on
the addresses); every one must be answered. Hugepages come from conftest's
`hugepages` fixture.
"""
import os
import subprocess
import time

from conftest import sh

def start_vm(lab, sock, mac, queues, jumbo=False):
    """testpmd as the VM: virtio-user on `sock` with `queues` queue pairs enabled;
    jumbo: it takes frames up to 9018 bytes (chained: its mbufs hold 2 KiB)."""
    log = open(os.path.join(os.path.dirname(sock), "vm.log"), "w+")
    proc = subprocess.Popen(
        ["stdbuf", "-oL", "dpdk-testpmd", "--in-memory", "--single-file-segments", "--no-pci", "-l", "0,1",
         "-m", "256", f"--file-prefix=gpvm{lab.tag}",
         f"--vdev=net_virtio_user0,path={sock},queues={queues},mac={mac}", "--",
         "--forward-mode=icmpecho", f"--rxq={queues}", f"--txq={queues}", "--nb-cores=1",
         "--total-num-mbufs=4096", "--stats-period=0"]
        + (["--max-pkt-len=9018", "--enable-scatter"] if jumbo else []),
        stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True)
    lab.procs.append(proc)
    return proc, log


def socket_dir(lab):
    """A folder of this test's for vhost-user sockets, removed at cleanup."""
    d = f"/tmp/gpt{lab.tag}-vhost"
    os.makedirs(d, exist_ok=True)
    lab.paths.append(d)
    return d


def vm_output(log):
    log.flush()
    log.seek(0)
    return log.read()


def test_one_queue_vm_with_two_workers_loses_nothing(lab, hugepages):
    g, g_port = lab.guest("vq", "08:00:27:00:07:01", "10.77.0.1/24")
    sock_dir = socket_dir(lab)
    sock = os.path.join(sock_dir, "vm.sock")
    d = lab.start(
        "vms:\n"
        f"  vm: {{adapters: {{1: {{attach: internal:vq, model: virtio-net, "
        f"mac: '08:00:27:00:07:02', port: 'net_vhost0,iface={sock}'}}}}}}\n"
        f"  ns: {{adapters: {{1: {{attach: internal:vq, mac: '08:00:27:00:07:01', "
        f"port: '{g_port}'}}}}}}\n",
        workers=2, hugepages="true")
    vm, log = start_vm(lab, sock, "08:00:27:00:07:02", queues=1)
    deadline = time.time() + 30
    while time.time() < deadline and "Press enter to exit" not in vm_output(log):
        assert vm.poll() is None, "testpmd exited: " + vm_output(log)
        time.sleep(0.2)
    assert "Press enter to exit" in vm_output(log), vm_output(log)
    failed = [ip for ip in (f"10.77.0.{i}" for i in range(10, 26))
              if not lab.ping(g, ip, count=2)]
    assert not failed, f"no answer from {failed}\n" + vm_output(log)
    workers = d.ctl("stats")["workers"]
    assert all(w["rx_packets"] > 0 for w in workers), f"one worker took every flow: {workers}"
    assert sum(w["tx_redirected"] for w in workers) > 0, workers
    # Before the VM came up its port had no queue (tx_no_queue); none lost since.
    vmp = d.port("vm/vm/1")
    assert vmp["drop_reasons"].get("tx_full", 0) == 0, vmp


def test_a_vm_on_a_jumbo_network_gets_jumbo_frames_whole(lab, hugepages):
    """An adapter at MTU 9000 on a vhost-user port: the socket path is no kernel
    interface to set an MTU on (the guest's driver sets its own), so the port opens, and
    a 9000-byte ping from a namespace guest comes back whole from the VM."""
    g, g_port = lab.guest("vj", "08:00:27:00:09:01", "10.79.0.1/24")
    lab.ns(g, "ip", "link", "set", "eth0", "mtu", "9000")
    sock = os.path.join(socket_dir(lab), "vm.sock")
    d = lab.start(
        "networks: {vj: {mode: internal, mtu: 9000}}\n"
        "vms:\n"
        f"  vm: {{adapters: {{1: {{attach: internal:vj, model: virtio-net, "
        f"mac: '08:00:27:00:09:02', port: 'net_vhost0,iface={sock}'}}}}}}\n"
        f"  ns: {{adapters: {{1: {{attach: internal:vj, model: virtio-net, "
        f"mac: '08:00:27:00:09:01', port: '{g_port}'}}}}}}\n",
        hugepages="true")
    vm, log = start_vm(lab, sock, "08:00:27:00:09:02", queues=1, jumbo=True)
    wait_vm(vm, log)
    assert d.port("vm/vm/1")["mtu"] == 9000
    assert lab.ping(g, "10.79.0.9"), vm_output(log)
    r = lab.ns(g, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-M", "do", "-s", "8972",
               "10.79.0.9", check=False)
    assert r.returncode == 0, r.stdout + r.stderr + vm_output(log)
    assert "8980 bytes from 10.79.0.9" in r.stdout, r.stdout
    assert "oversize" not in d.port("vm/vm/1")["drop_reasons"]


def wait_vm(vm, log):
    deadline = time.time() + 30
    while time.time() < deadline and "Press enter to exit" not in vm_output(log):
        assert vm.poll() is None, "testpmd exited: " + vm_output(log)
        time.sleep(0.2)
    assert "Press enter to exit" in vm_output(log), vm_output(log)


def test_a_vm_killed_mid_burst_stalls_nothing_and_its_restart_is_served(lab, hugepages):
    g1, p1 = lab.guest("vk1", "08:00:27:00:08:01", "10.78.0.1/24")
    g2, p2 = lab.guest("vk2", "08:00:27:00:08:02", "10.78.0.2/24")
    sock_dir = socket_dir(lab)
    sock = os.path.join(sock_dir, "vm.sock")
    d = lab.start(
        "vms:\n"
        f"  vm: {{adapters: {{1: {{attach: internal:vk, model: virtio-net, "
        f"mac: '08:00:27:00:08:09', port: 'net_vhost0,iface={sock}'}}}}}}\n"
        f"  a: {{adapters: {{1: {{attach: internal:vk, mac: '08:00:27:00:08:01', port: '{p1}'}}}}}}\n"
        f"  b: {{adapters: {{1: {{attach: internal:vk, mac: '08:00:27:00:08:02', port: '{p2}'}}}}}}\n",
        workers=2, hugepages="true")
    vm, log = start_vm(lab, sock, "08:00:27:00:08:09", queues=1)
    wait_vm(vm, log)
    assert lab.ping(g1, "10.78.0.9"), vm_output(log)
    # A burst towards the VM, and the VM killed in the middle of it.
    flood = lab.spawn(g1, "ping", "-i", "0.002", "-c", "3000", "-W", "1", "10.78.0.9")
    deadline = time.time() + 10
    while time.time() < deadline and d.port("vm/vm/1")["tx_packets"] < 300:
        time.sleep(0.05)
    assert d.port("vm/vm/1")["carrier"] == "up"
    vm.kill()
    vm.wait()
    # The workers go on: the namespace guests still reach each other at once.
    assert lab.ping(g1, "10.78.0.2", count=5), "a worker stalled when the VM vanished"
    flood.kill()
    flood.wait()
    # The VM comes back on the same socket, the daemon untouched: it is served again.
    vm, log = start_vm(lab, sock, "08:00:27:00:08:09", queues=1)
    wait_vm(vm, log)
    deadline = time.time() + 20
    while time.time() < deadline and not lab.ping(g1, "10.78.0.9", count=1):
        pass
    assert lab.ping(g1, "10.78.0.9", count=3), "the restarted VM is not served: " + vm_output(log)
    assert d.port("vm/vm/1")["carrier"] == "up"
    assert lab.ping(g2, "10.78.0.1")


def test_vhost_socket_owner_and_permissions_for_the_qemu_user(lab):
    import grp
    import pwd
    import stat
    sock_dir = socket_dir(lab)
    sock = os.path.join(sock_dir, "vm.sock")
    d = lab.start(
        "vms:\n"
        f"  vm: {{adapters: {{1: {{attach: internal:vo, model: virtio-net, "
        f"port: 'net_vhost0,iface={sock}', "
        "vhost: {owner: nobody, group: nogroup, permissions: '0660'}}}}\n")
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name) == ("nobody", "nogroup")
    assert stat.S_IMODE(st.st_mode) == 0o660
    # A re-apply that changes the permissions reopens the port with the new ones.
    r = d.apply("vms:\n"
                f"  vm: {{adapters: {{1: {{attach: internal:vo, model: virtio-net, "
                f"port: 'net_vhost0,iface={sock}', "
                "vhost: {owner: nobody, group: nogroup, permissions: '0600'}}}}\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600


def start_server_vm(lab, sock, mac):
    """testpmd as a VM whose QEMU makes the socket (chardev server=on): virtio-user server."""
    log = open(os.path.join(os.path.dirname(sock), "vm.log"), "w+")
    proc = subprocess.Popen(
        ["stdbuf", "-oL", "dpdk-testpmd", "--in-memory", "--single-file-segments", "--no-pci",
         "-l", "0,1", "-m", "256", f"--file-prefix=gpvm{lab.tag}",
         f"--vdev=net_virtio_user0,path={sock},server=1,queues=1,mac={mac}", "--",
         "--forward-mode=icmpecho", "--nb-cores=1", "--total-num-mbufs=4096",
         "--stats-period=0"],
        stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True)
    lab.procs.append(proc)
    return proc, log


def test_client_mode_connects_to_the_vm_and_reconnects_after_it_restarts(lab, hugepages):
    g, p = lab.guest("vc", "08:00:27:00:09:01", "10.79.0.1/24")
    sock_dir = socket_dir(lab)
    sock = os.path.join(sock_dir, "vm.sock")
    vm, log = start_server_vm(lab, sock, "08:00:27:00:09:09")
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(sock):
        assert vm.poll() is None, vm_output(log)
        time.sleep(0.1)
    d = lab.start(
        "vms:\n"
        f"  vm: {{adapters: {{1: {{attach: internal:vc, model: virtio-net, "
        f"mac: '08:00:27:00:09:09', port: 'net_vhost0,iface={sock}', vhost: {{mode: client}}}}}}}}\n"
        f"  ns: {{adapters: {{1: {{attach: internal:vc, mac: '08:00:27:00:09:01', port: '{p}'}}}}}}\n",
        hugepages="true")
    wait_vm(vm, log)
    deadline = time.time() + 20
    while time.time() < deadline and not lab.ping(g, "10.79.0.9", count=1):
        pass
    assert lab.ping(g, "10.79.0.9", count=3), "client mode: the VM is not served\n" + vm_output(log)
    # QEMU restarts (its server socket goes and comes back): guestport reconnects.
    vm.kill()
    vm.wait()
    os.unlink(sock)  # as QEMU does before it listens again (testpmd does not)
    vm, log = start_server_vm(lab, sock, "08:00:27:00:09:09")
    wait_vm(vm, log)
    deadline = time.time() + 30
    while time.time() < deadline and not lab.ping(g, "10.79.0.9", count=1):
        pass
    assert lab.ping(g, "10.79.0.9", count=3), \
        "no reconnect after the VM restarted\n" + d.output()[-6000:] + vm_output(log)


def test_a_vm_that_never_connects_stalls_nothing(lab):
    g1, p1 = lab.guest("vn1", "08:00:27:00:0a:01", "10.80.0.1/24")
    g2, p2 = lab.guest("vn2", "08:00:27:00:0a:02", "10.80.0.2/24")
    sock_dir = socket_dir(lab)
    d = lab.start(
        "vms:\n"
        f"  vm: {{adapters: {{1: {{attach: internal:vn, model: virtio-net, "
        f"port: 'net_vhost0,iface={sock_dir}/never.sock'}}}}}}\n"
        f"  a: {{adapters: {{1: {{attach: internal:vn, mac: '08:00:27:00:0a:01', port: '{p1}'}}}}}}\n"
        f"  b: {{adapters: {{1: {{attach: internal:vn, mac: '08:00:27:00:0a:02', port: '{p2}'}}}}}}\n",
        workers=2)
    # Broadcasts (ARP) are flooded to the VM's port too: it has no queue and drops them.
    assert lab.ping(g1, "10.80.0.2", count=20)
    vm = d.port("vm/vm/1")
    assert vm["tx_packets"] == 0
    assert vm["drop_reasons"].get("tx_no_queue", 0) >= 1, vm
    assert vm["carrier"] == "down", vm  # no VM: the device says so
    assert d.port("vm/a/1")["carrier"] == "up"
