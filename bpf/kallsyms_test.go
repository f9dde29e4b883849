package bpf

import (
	"strings"
	"testing"
)

func TestParseKallsyms(t *testing.T) {
	s, err := ReadKallsyms("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[uint64]string{
		0xffffffff81e94f20: "sk_skb_reason_drop+0x0",
		0xffffffff820a6540: "udp_queue_rcv_one_skb+0x70",
		0xffffffff81eb6000: "enqueue_to_backlog+0x4b30",
		0xffffffffc0201010: "ftrace_trampoline+0x10",
		0xffffffff80000000: "0xffffffff80000000",
	} {
		if got := s.Lookup(addr); got != want {
			t.Errorf("Lookup(%#x) = %q, want %q", addr, got, want)
		}
	}
	if n := len(s.addrs); n != 9 {
		t.Errorf("kept %d text symbols, want 9 (data and bss skipped)", n)
	}
}

func TestParseKallsymsRestricted(t *testing.T) {
	// Non-root readers see zero addresses: nothing is usable.
	s, err := ParseKallsyms(strings.NewReader("0000000000000000 T _text\n0000000000000000 t udp_rcv\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Lookup(0xffffffff81000000); got != "0xffffffff81000000" {
		t.Errorf("Lookup = %q", got)
	}
}

func TestParseKallsymsBadAddress(t *testing.T) {
	if _, err := ParseKallsyms(strings.NewReader("zzzz T _text\n")); err == nil {
		t.Fatal("no error for a bad address")
	}
}
