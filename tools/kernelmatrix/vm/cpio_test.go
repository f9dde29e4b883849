package vm

import (
	"bytes"
	"strconv"
	"testing"
)

type cpioEntry struct {
	name string
	mode uint32
	data string
}

// readNewc decodes a newc archive independently of the writer: 110-byte ASCII headers, the
// name, then the data, each padded to 4 bytes.
func readNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("header field %d at %d: %v", i, off, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, b[off:off+6])
		}
		mode, size, nameSize := field(1), int(field(6)), int(field(11))
		name := string(b[off+110 : off+110+nameSize-1])
		data := align(off + 110 + nameSize)
		off = align(data + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("trailer ends at %d, archive is %d bytes", off, len(b))
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, string(b[data : data+size])})
	}
}

func TestCPIORoundTrip(t *testing.T) {
	var buf bytes.Buffer
	c := NewCPIO(&buf)
	steps := []error{
		c.Dir("/a/b"),
		c.Bytes("a/b/init", 0o755, []byte("#!/bin/sh\n")),
		c.Bytes("a/odd", 0o644, []byte("x")),
		c.Dir("a"), // already there: not repeated
		c.Symlink("/var/run", "/run"),
		c.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got := readNewc(t, buf.Bytes())
	want := []cpioEntry{
		{"a", 0o040755, ""},
		{"a/b", 0o040755, ""},
		{"a/b/init", 0o100755, "#!/bin/sh\n"},
		{"a/odd", 0o100644, "x"},
		{"var/run", 0o120777, "/run"},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCPIOShortReader(t *testing.T) {
	c := NewCPIO(&bytes.Buffer{})
	if err := c.File("f", 0o644, 10, bytes.NewReader([]byte("short"))); err == nil {
		t.Fatal("a reader shorter than the declared size must fail")
	}
	if err := c.Close(); err == nil {
		t.Fatal("the error must stick")
	}
}
