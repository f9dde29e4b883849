package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

// testdata/console-panic-6.12.log is the console of a 6.12.117 guest that panicked in the
// kernel matrix while cmd/internal/cli's TestClosedLoopAuto connected over a veth.
func TestParseOopsPanic(t *testing.T) {
	data, err := os.ReadFile("testdata/console-panic-6.12.log")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"BUG: kernel NULL pointer dereference, address: 0000000000000008",
		"Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI",
		"RIP: 0010:net_rx_action+0xec/0x420",
		"  handle_softirqs+0xcd/0x2c0",
		"  do_softirq.part.0+0x3b/0x60",
		"  __local_bh_enable_ip+0x64/0x70",
		"  __dev_queue_xmit+0x608/0xf70",
		"  ip_finish_output2+0x2b8/0x570",
		"  ip_output+0x66/0x120",
		"  __ip_queue_xmit+0x18f/0x4d0",
		"  __tcp_transmit_skb+0xb09/0xd40",
		"Kernel panic - not syncing: Fatal exception in interrupt",
	}
	if got := parseOops(string(data)); !slices.Equal(got, want) {
		t.Errorf("parseOops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseOopsKeepsWarnings(t *testing.T) {
	console := strings.Join([]string{
		"[   12.000001] ------------[ cut here ]------------",
		"[   12.000002] WARNING: CPU: 0 PID: 77 at net/core/dev.c:6700 napi_disable+0x1c/0x80",
		"[   12.000003] RIP: 0010:napi_disable+0x1c/0x80",
		"[   12.000004] Call Trace:",
		"[   12.000005]  <TASK>",
		"[   12.000006]  ? __warn+0x80/0x120",
		"[   12.000007]  veth_napi_del_range+0x2a/0xa0 [veth]",
		"[   12.000008]  </TASK>",
		"[   12.000009] ---[ end trace 0000000000000000 ]---",
		"[   13.000000] Kernel panic - not syncing: Fatal exception",
	}, "\r\n")
	want := []string{
		"WARNING: CPU: 0 PID: 77 at net/core/dev.c:6700 napi_disable+0x1c/0x80",
		"RIP: 0010:napi_disable+0x1c/0x80",
		"  veth_napi_del_range+0x2a/0xa0 [veth]",
		"Kernel panic - not syncing: Fatal exception",
	}
	if got := parseOops(console); !slices.Equal(got, want) {
		t.Errorf("parseOops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Without a panic the guest did not crash: an oops that only killed a task, or kernel
// noise, is for the tests to notice.
func TestParseOopsNoPanic(t *testing.T) {
	data, err := os.ReadFile("testdata/console-panic-6.12.log")
	if err != nil {
		t.Fatal(err)
	}
	oopsOnly, _, _ := strings.Cut(string(data), "Kernel panic")
	for name, console := range map[string]string{
		"oops without panic": oopsOnly,
		"noise":              "[   69.242408] nf_conntrack: nf_conntrack: table full, dropping packet\n",
		"empty":              "",
	} {
		if got := parseOops(console); got != nil {
			t.Errorf("%s: parseOops = %q, want nil", name, got)
		}
	}
}

// fakeBoots returns a boot function that plays runs in order, each writing its console and
// test logs where bootKernel would.
func fakeBoots(t *testing.T, work string, runs ...kernelRun) (boot func() kernelRun, boots *int) {
	n := 0
	return func() kernelRun {
		if n == len(runs) {
			t.Fatalf("booted %d times, want at most %d", n+1, len(runs))
		}
		r := runs[n]
		n++
		r.consoleLog, r.guestLog = filepath.Join(work, "console-6.12.log"), filepath.Join(work, "tests-6.12.log")
		for _, p := range []string{r.consoleLog, r.guestLog} {
			if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}, &n
}

func crashedRun() kernelRun {
	cli := modulePath + "cmd/internal/cli"
	return kernelRun{
		Kernel:  kernel{kernelPkg: kernelPkg{Series: "6.12"}},
		Results: []vm.TestResult{{Package: cli, Test: "TestClosedLoopAuto", Outcome: vm.Unfinished}},
		crash: &guestCrash{During: []string{"cmd/internal/cli TestClosedLoopAuto"},
			Oops: []string{"BUG: kernel NULL pointer dereference", "RIP: 0010:net_rx_action+0xec/0x420", "  handle_softirqs+0xcd/0x2c0", "Kernel panic - not syncing: Fatal exception in interrupt"}},
	}
}

func cleanRun() kernelRun {
	return kernelRun{
		Kernel:  kernel{kernelPkg: kernelPkg{Series: "6.12"}},
		Results: []vm.TestResult{{Package: modulePath + "cmd/internal/cli", Test: "TestClosedLoopAuto", Outcome: vm.Pass}},
	}
}

func TestBootAgainAfterCrash(t *testing.T) {
	work := t.TempDir()
	boot, boots := fakeBoots(t, work, crashedRun(), cleanRun())
	r := bootUntilClean(context.Background(), 1, work, "6.12", boot)
	if *boots != 2 {
		t.Fatalf("booted %d times, want 2", *boots)
	}
	if len(r.Crashes) != 1 || r.Crashes[0].Boot != 1 {
		t.Fatalf("crashes = %+v, want the first boot's", r.Crashes)
	}
	kept := filepath.Join(work, "console-6.12-crash1.log")
	if r.Crashes[0].Console != kept {
		t.Errorf("crash console = %q, want %q", r.Crashes[0].Console, kept)
	}
	for _, p := range []string{kept, filepath.Join(work, "tests-6.12-crash1.log")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("crashed boot's log not kept: %v", err)
		}
	}
	m := matrix{Runs: []kernelRun{r}}
	if m.failed() {
		t.Error("a crash followed by a clean boot failed the run")
	}
	var b bytes.Buffer
	m.writeText(&b)
	for _, want := range []string{
		"6.12: CRASHED guest kernel crash on boot 1 during cmd/internal/cli TestClosedLoopAuto: BUG: kernel NULL pointer dereference; RIP: 0010:net_rx_action+0xec/0x420; Kernel panic - not syncing: Fatal exception in interrupt (console: " + kept + ")",
		"    handle_softirqs+0xcd/0x2c0",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
	if md := m.markdown(); !strings.Contains(md, "Guest kernel crash on 6.12, boot 1 (console excerpt):\n\n    BUG: kernel NULL pointer dereference\n") {
		t.Errorf("markdown lacks the crash excerpt:\n%s", md)
	}
}

func TestCrashOnEveryBootFails(t *testing.T) {
	work := t.TempDir()
	boot, boots := fakeBoots(t, work, crashedRun(), crashedRun())
	r := bootUntilClean(context.Background(), 1, work, "6.12", boot)
	if *boots != 2 {
		t.Fatalf("booted %d times, want 2", *boots)
	}
	m := matrix{Runs: []kernelRun{r}}
	if !m.failed() {
		t.Error("a kernel that panicked on every boot passed")
	}
	if want := []string{"guest kernel panicked on every boot (2)"}; !slices.Equal(r.Problems, want) {
		t.Errorf("problems = %q, want %q", r.Problems, want)
	}
	if len(r.Crashes) != 2 || r.Crashes[1].Boot != 2 {
		t.Errorf("crashes = %+v, want both boots'", r.Crashes)
	}
	var b bytes.Buffer
	m.writeText(&b)
	if !strings.Contains(b.String(), "6.12: CRASHED guest kernel crash on boot 2 during cmd/internal/cli TestClosedLoopAuto") {
		t.Errorf("text report lacks the second crash:\n%s", b.String())
	}
}

func TestNoBootAgainWithoutRetries(t *testing.T) {
	work := t.TempDir()
	boot, boots := fakeBoots(t, work, crashedRun())
	if r := bootUntilClean(context.Background(), 0, work, "6.12", boot); *boots != 1 || len(r.Problems) != 1 {
		t.Errorf("boots %d, problems %q; want 1 boot and its crash as the problem", *boots, r.Problems)
	}
}
