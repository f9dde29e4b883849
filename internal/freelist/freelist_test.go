package freelist

import (
	"runtime"
	"testing"
)

// A buffer given back is the next one handed out, after a garbage collection too; a second
// user at the same time gets a buffer of its own.
func TestListReuses(t *testing.T) {
	var l List[[64]byte]
	a := l.Get()
	b := l.Get()
	if a == b {
		t.Fatal("two users at once got one buffer")
	}
	a[0] = 7
	l.Put(a)
	runtime.GC()
	if c := l.Get(); c != a || c[0] != 7 {
		t.Errorf("Get after Put and a collection: %p (first byte %d), want the buffer given back %p", c, c[0], a)
	}
}
