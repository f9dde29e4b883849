package nldump_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/nldump"
)

func msg(typ, flags uint16, seq uint32, payload ...byte) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(payload)+3)
	b = append(b, payload...)
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return append(b, make([]byte, (4-len(b)%4)%4)...)
}

func TestAnswers(t *testing.T) {
	enoent := make([]byte, 4)
	errno := -int32(unix.ENOENT)
	binary.NativeEndian.PutUint32(enoent, uint32(errno))
	var got []string
	collect := func(m []byte) error { got = append(got, string(m)); return nil }
	for name, tc := range map[string]struct {
		in         []byte
		done, intr bool
		err        error // this error
		fails      bool  // any error
		want       []string
	}{
		"answers, padded":     {in: slices.Concat(msg(20, 0, 3, 'a'), msg(20, 0, 3, 'b', 'c')), want: []string{"a", "bc"}},
		"other request":       {in: slices.Concat(msg(20, 0, 2, 'x'), msg(20, 0, 3, 'y')), want: []string{"y"}},
		"done stops":          {in: slices.Concat(msg(20, 0, 3, 'a'), msg(unix.NLMSG_DONE, 0, 3, 0, 0, 0, 0), msg(20, 0, 3, 'z')), done: true, want: []string{"a"}},
		"interrupted":         {in: slices.Concat(msg(20, unix.NLM_F_DUMP_INTR, 3, 'a'), msg(20, 0, 3, 'b')), intr: true, want: []string{"a", "b"}},
		"failed dump":         {in: msg(unix.NLMSG_DONE, 0, 3, enoent...), done: true, err: unix.ENOENT},
		"short done":          {in: msg(unix.NLMSG_DONE, 0, 3), done: true, fails: true},
		"error is the errno":  {in: msg(unix.NLMSG_ERROR, 0, 3, enoent...), done: true, err: unix.ENOENT},
		"error 0 is an ack":   {in: msg(unix.NLMSG_ERROR, 0, 3, 0, 0, 0, 0), done: true},
		"length past the end": {in: msg(20, 0, 3, 'a')[:unix.NLMSG_HDRLEN], done: true, fails: true},
		"header cut":          {in: msg(20, 0, 3)[:8], done: true, fails: true},
	} {
		got = nil
		done, intr, err := nldump.Answers(tc.in, 3, collect)
		errOK := (tc.err != nil && errors.Is(err, tc.err)) || (tc.err == nil && (err != nil) == tc.fails)
		if done != tc.done || intr != tc.intr || !errOK {
			t.Errorf("%s: done %v interrupted %v err %v, want %v %v %v", name, done, intr, err, tc.done, tc.intr, tc.err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: payloads %q, want %q", name, got, tc.want)
		}
	}
}

// A dump whose callback failed is read to its end: the kernel refuses a new dump on a
// socket whose last one is unfinished (EBUSY). 300 links take many datagrams.
func TestDumpAfterCallbackError(t *testing.T) {
	ns := lab.NewNS(t, "nld")
	lab.ManyVeths(t, ns, 150, false)
	ns.Do(t, func() error {
		c, err := nldump.Open(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer c.Close()
		links := func(fn func([]byte) error) error {
			_, err := c.Dump(unix.RTM_GETLINK, make([]byte, unix.SizeofIfInfomsg), fn)
			return err
		}
		stop := errors.New("stop")
		if err := links(func([]byte) error { return stop }); !errors.Is(err, stop) {
			return fmt.Errorf("err = %v, want the callback's", err)
		}
		for range 2 {
			n := 0
			if err := links(func([]byte) error { n++; return nil }); err != nil {
				return err
			}
			if n != 301 {
				return fmt.Errorf("%d links, want 300 and lo", n)
			}
		}
		return nil
	})
}
