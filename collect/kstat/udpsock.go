package kstat

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// MaxUDPSockets caps the sockets a sample keeps. A busy resolver has 100k UDP sockets, many
// with some drop in their lifetime; the ones with the most drops are the ones a receive-buffer
// finding is about, and the sample must stay small. A socket that is below the cap in one
// sample and above it in the next counts all its drops in that interval.
const MaxUDPSockets = 16

// ReadUDPSockets returns the UDP sockets of the calling thread's network namespace that have
// dropped datagrams, most drops first, at most MaxUDPSockets, with their receive buffer
// (sk_rcvbuf).
//
// The source is sock_diag (inet_diag with INET_DIAG_SKMEMINFO), which has drops and sk_rcvbuf
// for every socket. /proc/net/udp has no sk_rcvbuf and costs the kernel quadratic time, with
// bucket locks taken: every read() of a page walks the hash table from the start (measured
// on this project's VM for 10k sockets: 55–150 ms, against 5–25 ms for the sock_diag dumps).
// It is read only when sock_diag fails (no udp_diag in the kernel, or an sk_meminfo without
// drops): the sockets then come back with RcvBuf 0 together with the sock_diag error.
// <proc>/thread-self/net/udp{,6} is read, or <proc>/net/udp{,6} in fixture trees; udp6 is
// absent when IPv6 is disabled. open opens the sock_diag socket: nldump.OpenDumper, or a
// recording's.
func ReadUDPSockets(procRoot string, open nldump.Opener) ([]model.UDPSocket, error) {
	return readUDPSockets(procRoot, sockDiagUDP(open))
}

// udpDumper passes every sock_diag answer for the UDP sockets of the families to fn.
type udpDumper func(families []uint8, fn func([]byte) error) error

func readUDPSockets(procRoot string, dump udpDumper) ([]model.UDPSocket, error) {
	top := udpTop{max: MaxUDPSockets}
	err := dump([]uint8{unix.AF_INET, unix.AF_INET6}, func(b []byte) error {
		s, err := parseUDPDiag(b)
		if err == nil && s.drops > 0 {
			top.offer(s)
		}
		return err
	})
	if err == nil {
		return top.sockets(), nil
	}
	socks, perr := readProcUDP(procRoot)
	if perr != nil {
		return nil, errors.Join(err, perr)
	}
	return socks, fmt.Errorf("udp receive buffers unknown: %w", err)
}

func readProcUDP(procRoot string) ([]model.UDPSocket, error) {
	dir := filepath.Join(netRoot(procRoot), "net")
	top := udpTop{max: MaxUDPSockets}
	for _, name := range []string{"udp", "udp6"} {
		err := scanUDPFile(filepath.Join(dir, name), &top)
		if errors.Is(err, fs.ErrNotExist) && name == "udp6" {
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return top.sockets(), nil
}

func scanUDPFile(path string, top *udpTop) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := scanUDP(f, top); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ParseUDP parses /proc/net/udp or /proc/net/udp6 and returns the sockets with drops > 0,
// most drops first, at most MaxUDPSockets. RcvBuf is 0: the file does not show it.
func ParseUDP(r io.Reader) ([]model.UDPSocket, error) {
	top := udpTop{max: MaxUDPSockets}
	if err := scanUDP(r, &top); err != nil {
		return nil, err
	}
	return top.sockets(), nil
}

// udpTop keeps the max sockets with the most drops offered so far.
type udpTop struct {
	max   int
	socks []diagSocket
}

func (t *udpTop) offer(s diagSocket) {
	if len(t.socks) < t.max {
		t.socks = append(t.socks, s)
		return
	}
	low := 0
	for i := range t.socks {
		if t.socks[i].drops < t.socks[low].drops {
			low = i
		}
	}
	if s.drops > t.socks[low].drops {
		t.socks[low] = s
	}
}

// sockets returns the kept sockets, most drops first (then by inode); nil when none.
func (t *udpTop) sockets() []model.UDPSocket {
	sort.Slice(t.socks, func(i, j int) bool {
		a, b := t.socks[i], t.socks[j]
		if a.drops != b.drops {
			return a.drops > b.drops
		}
		return a.inode < b.inode
	})
	var out []model.UDPSocket
	for _, s := range t.socks {
		out = append(out, model.UDPSocket{Local: s.local(), Inode: s.inode, Drops: s.drops, RcvBuf: s.rcvBuf, RxQueue: s.rxQueue})
	}
	return out
}

// Columns of /proc/net/udp{,6} (net/ipv4/udp.c udp4_format_sock, net/ipv6/datagram.c
// __ip6_dgram_sock_seq_show): sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid
// timeout inode ref pointer drops.
const (
	udpColLocal  = 1
	udpColQueues = 4
	udpColInode  = 9
	udpColDrops  = 12
	udpCols      = 13
)

// scanUDP offers every socket with drops > 0 to top, splitting lines without allocating.
func scanUDP(r io.Reader, top *udpTop) error {
	sc := bufio.NewScanner(r)
	var col [udpCols][]byte
	header := true
	for sc.Scan() {
		line := sc.Bytes()
		if header {
			header = false
			if !bytes.Contains(line, []byte("local_address")) {
				return fmt.Errorf("no header line: %q", line)
			}
			continue
		}
		n := splitFields(line, col[:])
		if n == 0 {
			continue
		}
		if n != udpCols {
			return fmt.Errorf("%d columns, want %d: %q", n, udpCols, line)
		}
		drops, err := strconv.ParseUint(string(col[udpColDrops]), 10, 64)
		if err != nil {
			return fmt.Errorf("drops: %w", err)
		}
		if drops == 0 {
			continue
		}
		s := diagSocket{drops: drops}
		if s.inode, err = strconv.ParseUint(string(col[udpColInode]), 10, 64); err != nil {
			return fmt.Errorf("inode: %w", err)
		}
		_, rxq, ok := bytes.Cut(col[udpColQueues], []byte(":"))
		if !ok {
			return fmt.Errorf("queues %q", col[udpColQueues])
		}
		rx, err := strconv.ParseUint(string(rxq), 16, 32)
		if err != nil {
			return fmt.Errorf("rx_queue: %w", err)
		}
		s.rxQueue = uint32(rx)
		if err := procAddrPort(col[udpColLocal], &s); err != nil {
			return fmt.Errorf("local address %q: %w", col[udpColLocal], err)
		}
		top.offer(s)
	}
	return sc.Err()
}

// splitFields puts the space-separated fields of line into out and returns how many there
// were; fields beyond len(out) are counted but not stored.
func splitFields(line []byte, out [][]byte) int {
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		if i > start {
			if n < len(out) {
				out[n] = line[start:i]
			}
			n++
		}
	}
	return n
}

// procAddrPort decodes "0100007F:0035" into s: the address is the kernel's __be32 words
// printed as host-order %08X, so each word is stored back in native byte order; the port is
// plain hex.
func procAddrPort(b []byte, s *diagSocket) error {
	hexAddr, hexPort, ok := bytes.Cut(b, []byte(":"))
	switch {
	case !ok:
		return errors.New("no port")
	case len(hexAddr) == 8:
		s.family = unix.AF_INET
	case len(hexAddr) == 32:
		s.family = unix.AF_INET6
	default:
		return fmt.Errorf("%d hex digits", len(hexAddr))
	}
	for i := 0; i < len(hexAddr); i += 8 {
		w, err := strconv.ParseUint(string(hexAddr[i:i+8]), 16, 32)
		if err != nil {
			return err
		}
		binary.NativeEndian.PutUint32(s.addr[i/2:], uint32(w))
	}
	port, err := strconv.ParseUint(string(hexPort), 16, 16)
	if err != nil {
		return err
	}
	s.port = uint16(port)
	return nil
}
