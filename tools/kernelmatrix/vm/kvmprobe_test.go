package vm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeQEMU puts a qemu-system-x86_64 on PATH that runs script with the serial file as $1.
func fakeQEMU(t *testing.T, script string) {
	dir := t.TempDir()
	body := "#!/bin/sh\nfor a; do case $a in file:*) f=${a#file:};; esac; done\nset -- \"$f\"\n" + script + "\n"
	if err := os.WriteFile(filepath.Join(dir, "qemu-system-x86_64"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

func TestKVMBoots(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   bool
	}{
		{"prints then runs on", `echo "Linux version" > "$1"; exec sleep 60`, true},
		{"hangs silently", `exec sleep 60`, false},
		{"exits silently", `exit 1`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeQEMU(t, tc.script)
			start := time.Now()
			got, err := KVMBoots(context.Background(), "vmlinuz", t.TempDir(), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("KVMBoots = %v, want %v", got, tc.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("probe took %s: qemu was not stopped", time.Since(start))
			}
		})
	}
}
