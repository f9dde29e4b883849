package nldump_test

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
)

// FuzzAnswers walks the framing of arbitrary datagrams, seeded with captured dumps.
func FuzzAnswers(f *testing.F) {
	for _, p := range []string{"../../collect/kstat/testdata/udpsock-6.18/sockdiag-udp4.bin",
		"../../collect/kstat/testdata/udpsock-6.18/sockdiag-udp6.bin",
		"../../collect/netdev/testdata/rtnl-6.18/links.bin", "../../collect/netdev/testdata/rtnl-6.18/qdiscs.bin"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint32(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		var answers [][]byte
		done, _, err := nldump.Answers(b, seq, func(m []byte) error {
			answers = append(answers, bytes.Clone(m))
			return nil
		})
		total := 0
		for _, a := range answers {
			total += unix.NLMSG_HDRLEN + len(a)
		}
		if total > len(b) {
			t.Fatalf("%d bytes of answers from %d", total, len(b))
		}
		if err != nil && !done {
			t.Fatalf("error %v before the end of the dump", err)
		}
		// The answers framed again (no flags) and closed by NLMSG_DONE read the same.
		var out []byte
		for _, a := range answers {
			out = append(out, msg(unix.RTM_NEWLINK, 0, seq, a...)...)
		}
		out = append(out, msg(unix.NLMSG_DONE, 0, seq, 0, 0, 0, 0)...)
		var back [][]byte
		done2, intr2, err := nldump.Answers(out, seq, func(m []byte) error {
			back = append(back, bytes.Clone(m))
			return nil
		})
		if !done2 || intr2 || err != nil || len(back) != len(answers) {
			t.Fatalf("framed again: done %v interrupted %v, %v, %d answers of %d", done2, intr2, err, len(back), len(answers))
		}
		for i := range back {
			if !bytes.Equal(back[i], answers[i]) {
				t.Fatalf("answer %d: %x, framed again %x", i, answers[i], back[i])
			}
		}
	})
}
