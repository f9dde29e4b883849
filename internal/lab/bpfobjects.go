package lab

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// BPFObjects lists the loaded eBPF programs whose name starts with prefix, and the links
// that hold one, straight from the bpf syscalls (program and link ID iteration) — what is
// attached, whatever a process believes. Keys are "program <id> <name>" and
// "link <id> to <name>".
func BPFObjects(t testing.TB, prefix string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	names := map[ebpf.ProgramID]string{}
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatalf("walk programs: %v", err)
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile
		}
		info, err := p.Info()
		p.Close()
		if err == nil && strings.HasPrefix(info.Name, prefix) {
			names[id] = info.Name
			found[fmt.Sprintf("program %d %s", id, info.Name)] = true
		}
	}
	var it link.Iterator
	defer it.Close()
	for it.Next() { // the iterator closes each link it yields: holding one would keep it alive
		info, err := it.Link.Info()
		if err != nil {
			continue
		}
		if n, ok := names[info.Program]; ok {
			found[fmt.Sprintf("link %d to %s", it.ID, n)] = true
		}
	}
	if err := it.Err(); err != nil {
		t.Fatalf("walk links: %v", err)
	}
	return found
}
