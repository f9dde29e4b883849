package bpf

import (
	"io"
	"strings"
	"testing"
)

func TestSymbols(t *testing.T) {
	s := NewSymbols("testdata")
	want := map[uint64]string{
		0xffffffff81e94f20: "sk_skb_reason_drop+0x0",
		0xffffffff820a6540: "udp_queue_rcv_one_skb+0x70",
		0xffffffff81eb6000: "enqueue_to_backlog+0x4b30",
		0xffffffffc0201010: "ftrace_trampoline+0x10",
		0xffffffff80000000: "0xffffffff80000000",
		0xffffffff81000004: "_text+0x4", // the last listed of three symbols at one address
	}
	var addrs []uint64
	for a := range want {
		addrs = append(addrs, a)
	}
	if err := s.Resolve(addrs); err != nil {
		t.Fatal(err)
	}
	for addr, w := range want {
		if got := s.Lookup(addr); got != w {
			t.Errorf("Lookup(%#x) = %q, want %q", addr, got, w)
		}
	}
	// Named addresses are not read again: a listing that is gone changes nothing for them.
	s.path = "testdata/no-such-kallsyms"
	if err := s.Resolve(addrs); err != nil {
		t.Errorf("resolving named addresses read the listing: %v", err)
	}
	if err := s.Resolve([]uint64{1}); err == nil {
		t.Error("no error for a listing that cannot be opened")
	}
	if got := s.Lookup(0xffffffff82000000); got != "0xffffffff82000000" {
		t.Errorf("an address never resolved: %q", got)
	}
}

func listing(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

func TestSymbolsRestricted(t *testing.T) {
	// Non-root readers see zero addresses: nothing is usable.
	got, err := nearestSymbols(listing("0000000000000000 T _text\n0000000000000000 t udp_rcv\n"), []uint64{0xffffffff81000000})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != "0xffffffff81000000" {
		t.Errorf("name %q", got[0])
	}
}

func TestSymbolsBadAddress(t *testing.T) {
	if _, err := nearestSymbols(listing("zzzz T _text\n"), []uint64{1}); err == nil {
		t.Fatal("no error for a bad address")
	}
}
