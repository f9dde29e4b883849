//go:build ignore

/* Socket iterators over the TCP and UDP sockets of one network namespace (the namespace of
 * the thread that creates the iterator). For every socket whose application fixed a buffer
 * size with SO_SNDBUF or SO_RCVBUF (SOCK_SNDBUF_LOCK, SOCK_RCVBUF_LOCK in sk_userlocks) they
 * write one struct lock_record to the iterator's output; sockets without a lock write
 * nothing, so a socket that is absent has none. No maps, no verdicts: reading the output is
 * the whole interface. */

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char __license[] SEC("license") = "Dual BSD/GPL";

/* Kernel types, reduced to what is read and relocated against the running kernel's BTF
 * (CO-RE). sk_userlocks was a 4-bit field up to 6.x and a u8 since: it is declared as the
 * bitfield and read with BPF_CORE_READ_BITFIELD_PROBED, whose relocations give the target's
 * own offset, size and shifts for either layout. */
struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct sock_common {
	unsigned char skc_state;
} __attribute__((preserve_access_index));

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct socket {
	short type;
} __attribute__((preserve_access_index));

struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	unsigned char sk_userlocks : 4;
	struct socket *sk_socket;
} __attribute__((preserve_access_index));

/* Its first member is an inet_sock, whose first member is the sock. */
struct udp_sock;

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
} __attribute__((preserve_access_index));

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

#define SOCK_SNDBUF_LOCK 1
#define SOCK_RCVBUF_LOCK 2

/* Not full sockets: no sk_userlocks to read. */
#define TCP_TIME_WAIT 6
#define TCP_NEW_SYN_RECV 12

/* What Go reads, 16 bytes per socket. */
struct lock_record {
	__u64 inode;
	__u8 locks;
	__u8 pad[7];
};

static __always_inline int emit(struct seq_file *seq, struct sock *sk)
{
	struct lock_record rec = {};
	struct socket *so;

	rec.locks = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks) & (SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK);
	if (!rec.locks)
		return 0;
	so = BPF_CORE_READ(sk, sk_socket);
	if (!so)
		return 0; /* closed by its application: nobody to advise */
	/* The inode sock_diag and /proc report: the socket is embedded in a socket_alloc. */
	rec.inode = BPF_CORE_READ((struct socket_alloc *)so, vfs_inode.i_ino);
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}

SEC("iter/tcp")
int nettune_locks_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	unsigned char state;

	if (!skc)
		return 0;
	state = BPF_CORE_READ(skc, skc_state);
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return 0;
	return emit(ctx->meta->seq, (struct sock *)skc);
}

SEC("iter/udp")
int nettune_locks_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;

	if (!udp)
		return 0;
	return emit(ctx->meta->seq, (struct sock *)udp);
}
