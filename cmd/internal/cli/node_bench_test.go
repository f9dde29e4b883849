package cli

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/nettune/nettune/internal/lab"
)

// BenchmarkAdviseWholeNode500 is the node: 500 namespaces, each with a veth pair and
// a bound UDP socket, two of them losing datagrams; `nettune advise --interval 1s` with no
// --netns as a whole process, with the probes (on every veth: 1 000 links) and without
// (the table, and the JSON document, which holds every namespace's report).
// Reported: the process's CPU time (user + system) and peak RSS. It runs in namespaces of
// its own (lab.Isolated), so the probes attach to the benchmark's links only.
func BenchmarkAdviseWholeNode500(b *testing.B) {
	if !lab.Isolated(b, "-test.run", "^$", "-test.bench", "^"+b.Name()+"$", "-test.benchtime", "1x") {
		return
	}
	all := lab.ManyNamespaces(b, "wn", 500)
	lossy := []string{all[0].Path, all[1].Path}
	for _, p := range lossy {
		overflowIn(b, p)
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"probes", "counters", "counters-json"} {
		b.Run(mode, func(b *testing.B) {
			var cpu, rss int64
			for b.Loop() {
				args := []string{"advise", "--interval", "1s", fmt.Sprintf("--no-bpf=%t", mode != "probes")}
				if mode == "counters-json" {
					args = append(args, "-o", "json")
				}
				cmd := exec.Command(self, args...)
				cmd.Env = append(os.Environ(), "CLITEST_RUN_AS_NETTUNE=1", "CLITEST_NO_CHECKS=1")
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if code := cmd.ProcessState.ExitCode(); code != ExitLoss {
					b.Fatalf("advise: exit %d (%v), want %d (loss): %s\n%.2000s", code, err, ExitLoss, stderr.String(), out)
				}
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				cpu += ru.Utime.Nano() + ru.Stime.Nano()
				rss = max(rss, ru.Maxrss)
			}
			b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(rss)/1024, "maxrss-MiB")
		})
	}
}
