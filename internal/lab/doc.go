// Package lab builds network namespaces, veth pairs, knobs and bounded traffic for privileged
// tests. It is imported only from _test.go files; every helper registers its own cleanup.
// Everything goes through netlink, sockets and sysfs from Go (no ip/tc binaries), so a
// statically linked test binary (CGO_ENABLED=0 go test -c) runs it inside a bare VM.
//
// # Namespaces and knobs
//
// NewNS, NewVeth (A side 198.18.N.1, B side 198.18.N.2), SetSysctl, SetRPS, SetTxQueueLen,
// SetQdisc (root pfifo/bfifo), SetShaper (root tbf 1: over a fifo 10:), DropUDP (an nftables
// DROP rule at the input hook, through netlink) each restore what they changed when the test
// ends (qdiscs are deleted, so the device default comes back). A nil
// *NS means the test's own namespace. ReadSysfs/WriteSysfs see a namespace's devices: sysfs
// shows the netns of whoever mounted it, so they run on a throw-away thread that unshares its
// mount namespace, makes all mounts private, enters the netns and mounts a fresh sysfs.
//
// # Traffic generators
//
// UDPFlood, FragmentedUDP, PortScan and TCPConnectStorm create their sockets inside the
// namespace given, stop by themselves (packet count, duration, ctx) and report what they did.
// UDPSink and TCPListen are receivers closed at cleanup.
//
// # Loss injectors
//
// Each injector takes a *Veth, sets up its condition in A's and B's namespaces, runs traffic
// from A until ctx ends (at most InjectMax) and returns the traffic it sent; what it changed is
// restored at test cleanup. Injectors never call t.Fatal, so they may run in a goroutine while
// the test samples; setup errors are returned, wrapping ErrUnsupported when the kernel lacks
// a feature (skip then). Measured on the 2-CPU 6.18 VM over 1 s runs:
//
//	injector           stage             counter that moves (namespace)         share
//	InjectUDPRcvbuf    udp-rcvbuf        Udp.RcvbufErrors, Udp.InErrors (B)      ≈100 % of sent
//	InjectBacklog      backlog           softnet_stat col 2 on the highest       73 % of sent
//	                                     allowed CPU (host-wide), B's veth
//	                                     rx_dropped
//	InjectQdisc        qdisc             drops of pfifo 10: and tbf 1: on A's    50–67 % of sent
//	                                     veth; Udp.SndbufErrors (A)
//	InjectAcceptQueue  tcp-accept-queue  TcpExt.ListenOverflows, ListenDrops (B) ≈100 % of failed
//	InjectReassembly   ip-reassembly     Ip.ReasmFails (B), ReasmTimeout stays   ≈100 % of ReasmReqds
//	                                     0 within ipfrag_time
//	InjectPortScan     socket-lookup     Udp.NoPorts (B), benign                 100 % of sent
//
// None of them moves another injector's counter in B (Udp.RcvbufErrors,
// TcpExt.ListenOverflows, Ip.ReasmFails, Udp.NoPorts), which the tests check.
//
// Details the scenario tests rely on:
//   - InjectUDPRcvbuf: a never-read sink on B requesting SO_RCVBUF TinyRcvBuf (the kernel
//     grants double, with a floor; Sink.RcvBuf tells), flooded at full speed with 256-byte
//     datagrams from 4 source ports.
//   - InjectBacklog takes Global: net.core.netdev_max_backlog (global) = LowMaxBacklog, RPS of
//     every rx queue of B's veth = the highest CPU this process may use, tx-udp-segmentation
//     off on A's veth and GSO bursts of GSOSegments from A pinned to another CPU every
//     BacklogGap (GSOFlood: the segments reach the backlog all at once, so the overflow does
//     not depend on how fast the target CPU wakes up), sink on B that reads (no socket
//     drops). Needs ≥ 2 CPUs. A netdev_max_backlog ≥ GSOSegments removes the drops.
//   - InjectQdisc: a root pfifo alone never fills on veth (veth stops its TX queue only when
//     the peer's NAPI ring is full; measured 0 drops in 10⁵ datagrams), so A's egress is shaped:
//     tbf 1: at ShaperRate (100 Mbit/s, burst 2 frames) over pfifo 10: limit QdiscLimit, with
//     bursts of QdiscBurst 1000-byte datagrams at half the rate. Drops show on both qdiscs;
//     a fifo limit ≥ QdiscBurst absorbs the bursts (tested), so raising the limit is the fix.
//   - InjectAcceptQueue: listen(backlog AcceptBacklog) on B, never accepted; storms of 32
//     connects with a 100 ms timeout. FloodResult.Sent counts attempts, Errors those whose
//     handshake did not complete.
//   - InjectReassembly: B's ipfrag_high_thresh = LowFragHighThresh (ipfrag_low_thresh below
//     it), 8–60 KiB datagrams. The first datagram too big for the limit leaves a partial
//     queue that pins memory for ipfrag_time (30 s), so from then on every fragment is refused
//     (Fails ≫ Timeout): the memory-limit signature. Restoring the default 4 MiB fixes it.
//   - InjectPortScan: ScanPorts closed ports from ScanPortFirst, 12,000–20,000 datagrams/s.
//
// # Socket-level injectors
//
// Conditions where the right knob is another one than a buffer of the stage that drops, or
// none. Host-wide limits (udp_mem, tcp_mem, gc_thresh3, netdev_budget, rmem_default) are
// taken with Global and held only while the injector runs (at most HostLimitMax), then put
// back. Measured on the 2-CPU 6.18 VM over 1 s runs:
//
//	injector                 what the readers see
//	InjectUDPMem             sockstat UDP mem ≥ udp_mem[0] while it runs (56–245 pages); B's
//	                         sinks drop (sk_drops) ~90–100 % of sent with their own buffers far
//	                         from full; no Udp.* counter moves
//	InjectTCPMem             sockstat TCP mem 241–525 pages against tcp_mem[2] 50;
//	                         TcpExt.TCPMemoryPressures 1 (A, the sender), TCPRcvQDrop and
//	                         PruneCalled (B), Tcp.RetransSegs (A)
//	InjectAppRcvbuf          two sinks with sk_rcvbuf 16384 that drop alike; only one holds
//	                         SOCK_RCVBUF_LOCK (the bpf socket iterator)
//	InjectTCPRcvbuf          B's TCPRcvbufConns connections, sk_rcvbuf 8192, sk_drops 5
//	                         each: TcpExt.TCPRcvQDrop (and RcvPruned) 1 and BeyondWindow 4
//	                         per connection (B)
//	InjectListenBacklog      listener backlog 20 (sock_diag) with somaxconn 4096, queue 21;
//	                         TcpExt.ListenOverflows (B)
//	InjectSYNFlood           Tcp.PassiveOpens 0; TcpExt.TCPReqQFullDoCookies = SyncookiesSent
//	                         for every SYN past the first 129 (B)
//	InjectSYNFloodNoCookies  the same with TCPReqQFullDrop = ListenDrops
//	InjectNeighOverflow      host arp_cache table_fulls and forced_gc_runs for ~93 % of sends,
//	                         unresolved_discards; A holds ~68 unresolved entries
//	InjectPathLoss           per-connection total_retrans in A naming B's address,
//	                         Tcp.RetransSegs (A); none of A's drop counters moves
//	InjectSqueeze            softnet time_squeeze +1 per 64-segment burst on SqueezeCPU, none
//	                         at the default budget; nothing dropped
//
// A closed-loop test (advise, apply, the same load again, rollback) needs the limit to stay
// where apply put it: LowerUDPMem, LowerTCPMem and LowerNeighTable take Global and lower the
// limit until the test ends, putting back the value they read first; UDPMemLoad, TCPMemLoad
// and NeighSend (after NeighOnLink) are the same loads without touching the limit, and
// UDPMemBatch measures what the UDP pool takes of one burst. Each load opens fresh sockets
// and closes them when it returns, so what the pool held goes back before the next run.
//
// Details the tests rely on:
//   - Fixed ports on B (UDPMemPort, TCPMemPort, AppRcvbufPort and PlainRcvbufPort,
//     TCPRcvbufPort, ListenPort, SYNFloodPort, PathLossPort) name the sockets in the readers'
//     output.
//   - InjectSYNFlood* send from a raw socket in A with sources in SpoofedNet, which B routes
//     back through A; A owns none of it and does not forward, so nothing answers a SYN-ACK.
//   - InjectNeighOverflow holds gc_thresh3 at the table's current entries + NeighHeadroom and
//     A's unres_qlen_bytes at NeighUnresQueue. UDP hides the refused entries (ENOBUFS without
//     IP_RECVERR), so Sent counts datagrams, not failures.
//   - InjectPathLoss's drop is an XDP program named PathLossProg on B's veth, generic mode,
//     through a bpf_link.
//
// NewVeth waits until both ends are operationally up (before that the device has the noop
// qdisc and silently drops) and installs static neighbour entries, so no ARP exchange can
// be lost to an injected condition or delay the first second of traffic.
package lab
