package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/render"
)

// nettuneObjects lists nettune's loaded programs and links, from the bpf syscalls.
func nettuneObjects(t *testing.T) map[string]bool { return lab.BPFObjects(t, "nettune") }

// TestDropsDetachesOnEverySignal runs the real `nettune drops` command as a child process,
// waits for its first interval, stops it with each signal, and checks through the bpf
// syscalls that none of its programs or links survive.
func TestDropsDetachesOnEverySignal(t *testing.T) {
	lab.RequireRoot(t)
	if !dropLocations() {
		t.Skip("drops: this kernel cannot trace kfree_skb (nettune check says why)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			before := nettuneObjects(t) // another process's probes are not this test's business
			cmd := exec.Command(self, "drops", "-o", "json", "--every", "200ms")
			cmd.Env = append(os.Environ(), "CLITEST_RUN_AS_NETTUNE=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			first := make(chan error, 1)
			go func() {
				sc := bufio.NewScanner(out)
				if !sc.Scan() {
					first <- errors.New("drops printed nothing")
					return
				}
				var fr pipeline.DropFrame
				first <- json.Unmarshal(sc.Bytes(), &fr)
				for sc.Scan() { // keep draining so the child never blocks on a full pipe
				}
			}()
			select {
			case err := <-first:
				if err != nil {
					_ = cmd.Process.Kill()
					t.Fatalf("first frame: %v", err)
				}
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("no frame within 20s")
			}
			if len(added(before, nettuneObjects(t))) == 0 {
				t.Fatal("drops is running but loaded no nettune program: the check would prove nothing")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			werr := cmd.Wait()
			if sig != syscall.SIGKILL && werr != nil {
				t.Errorf("drops after %s: %v (want a clean exit)", sig, werr)
			}
			if left := leftLoaded(t, before); len(left) > 0 {
				t.Errorf("after %s still loaded: %v", sig, left)
			}
		})
	}
}

// leftLoaded waits up to 5 s for nettune's bpf objects loaded since before to be released
// (bpf_link objects go when the last descriptor closes, in the kernel's deferred release) and
// returns those still there.
func leftLoaded(t *testing.T, before map[string]bool) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := added(before, nettuneObjects(t))
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func added(before, now map[string]bool) []string {
	var out []string
	for k := range now {
		if !before[k] {
			out = append(out, k)
		}
	}
	return out
}

type fakeDrops struct{ frames [][]model.DropCount }

func (f *fakeDrops) Drops() ([]model.DropCount, error) {
	if len(f.frames) == 0 {
		return nil, errors.New("no more frames")
	}
	x := f.frames[0]
	if len(f.frames) > 1 {
		f.frames = f.frames[1:]
	}
	return x, nil
}

func TestDropsStreamsOneJSONObjectPerInterval(t *testing.T) {
	src := &fakeDrops{frames: [][]model.DropCount{
		{{Reason: "NO_SOCKET", Location: "__udp4_lib_rcv+0x4bc", Netns: 1, Count: 10}},
		{{Reason: "NO_SOCKET", Location: "__udp4_lib_rcv+0x4bc", Netns: 1, Count: 30},
			{Reason: "QDISC_DROP", Location: "__dev_queue_xmit+0xee2", Ifindex: 4, Link: "eth1", Netns: 1, Count: 5}},
		{{Reason: "NO_SOCKET", Location: "__udp4_lib_rcv+0x4bc", Netns: 1, Count: 30},
			{Reason: "QDISC_DROP", Location: "__dev_queue_xmit+0xee2", Ifindex: 4, Link: "eth1", Netns: 1, Count: 5}},
	}}
	var b strings.Builder
	f := dropsFlags{every: 100 * time.Millisecond, count: 2, top: 10, output: render.FormatJSON}
	if err := streamDrops(context.Background(), src, f, &b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 frames, got %d:\n%s", len(lines), b.String())
	}
	var fr pipeline.DropFrame
	if err := json.Unmarshal([]byte(lines[0]), &fr); err != nil {
		t.Fatal(err)
	}
	if len(fr.Drops) != 2 || fr.Drops[0].Reason != "NO_SOCKET" || fr.Drops[0].Count != 20 || fr.Drops[1].Link != "eth1" || fr.Drops[0].Rate <= 0 {
		t.Errorf("first frame: %+v", fr)
	}
	if err := json.Unmarshal([]byte(lines[1]), &fr); err != nil || len(fr.Drops) != 0 {
		t.Errorf("second frame (nothing new) = %+v, %v", fr, err)
	}
}

// TestDropsLiveSeesClosedPort drives real NO_SOCKET drops in a lab namespace and reads them
// through the drops command's own stream.
func TestDropsLiveSeesClosedPort(t *testing.T) {
	lab.RequireRoot(t)
	if !dropLocations() {
		t.Skip("drops: this kernel cannot trace kfree_skb (nettune check says why)")
	}
	a, b := lab.NewNS(t, "drA"), lab.NewNS(t, "drB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			_, _ = lab.PortScan(ctx, a, v.BAddr, []int{40000, 40001, 40002})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var out strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- Execute(ctx, []string{"drops", "-o", "json", "--every", "500ms", "--count", "3", "--netns", b.Name},
			Streams{In: strings.NewReader(""), Out: &out, Err: &out})
	}()
	if err := <-done; err != nil {
		t.Fatalf("drops: %v\n%s", err, out.String())
	}
	// Without drop reasons (< 5.17) the drop shows by its location only.
	reason, fn := "NO_SOCKET", ""
	if !dropReasons() {
		reason, fn = model.ReasonUnavailable, "__udp4_lib_rcv+0x"
	}
	var sawIface bool
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var fr pipeline.DropFrame
		if err := json.Unmarshal([]byte(line), &fr); err != nil {
			t.Fatalf("not a JSON frame: %q", line)
		}
		for _, r := range fr.Drops {
			if r.Reason == reason && r.Link == v.BName && strings.Contains(r.Location, "+0x") && strings.HasPrefix(r.Location, fn) {
				sawIface = true
			}
		}
	}
	if !sawIface {
		t.Errorf("no %s drop at %s… on %s in:\n%s", reason, fn, v.BName, out.String())
	}
}
