package lab

import (
	"net"
	"testing"
	"time"
)

func TestVethPing(t *testing.T) {
	a, b := NewNS(t, "labA"), NewNS(t, "labB")
	v := NewVeth(t, a, b, VethOpts{Queues: 4})
	var got string
	b.Do(t, func() error {
		c, err := net.ListenPacket("udp4", v.BAddr+":9999")
		if err != nil {
			return err
		}
		defer c.Close()
		a.Do(t, func() error {
			s, err := net.Dial("udp4", v.BAddr+":9999")
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Write([]byte("hello"))
			return err
		})
		buf := make([]byte, 16)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := c.ReadFrom(buf)
		got = string(buf[:n])
		return err
	})
	if got != "hello" {
		t.Fatalf("got %q", got)
	}
}

func TestGlobalReentrantWithinATest(t *testing.T) {
	Global(t)
	done := make(chan struct{})
	go func() { Global(t); close(done) }() // same test: must not block
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Global blocked on a lock its own test holds")
	}
}
