package owner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkOwner500Pods attributes 500 pod namespaces of two processes each (sandbox and
// container, cgroupfs paths) from a fresh Resolver, as one interval does, with the pods
// named by the kubelet's log directories (no CRI socket).
func BenchmarkOwner500Pods(b *testing.B) {
	root := b.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var pids [][]int
	for i := range 500 {
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		for j, comm := range []string{"pause", "server"} {
			pid := 1000 + 2*i + j
			id := fmt.Sprintf("%064x", pid)
			cg := fmt.Sprintf("/kubepods/burstable/pod%s/%s", uid, id)
			write(fmt.Sprintf("%s/proc/%d/comm", root, pid), comm+"\n")
			write(fmt.Sprintf("%s/proc/%d/cgroup", root, pid), "4:memory:"+cg+"\n1:name=systemd:"+cg+"\n0::"+cg+"\n")
			if j == 1 {
				write(fmt.Sprintf("%s/containers/web-%d_default_server-%s.log", root, i, id), "")
			}
		}
		write(fmt.Sprintf("%s/pods/default_web-%d_%s/server/0.log", root, i, uid), "")
		pids = append(pids, []int{1000 + 2*i, 1001 + 2*i})
	}
	o := Options{ProcRoot: root + "/proc", CRISockets: []string{}, PodLogDir: root + "/pods", ContainerLogDir: root + "/containers"}
	b.ReportAllocs()
	for b.Loop() {
		r := NewResolver(o)
		for _, p := range pids {
			if got := r.Processes(context.Background(), p); got.Source != SourcePodLogs || got.Containers[1].Name != "server" {
				b.Fatalf("%+v", got)
			}
		}
	}
}
