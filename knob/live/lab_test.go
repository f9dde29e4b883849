package live

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/lab"
)

func TestSysctlInNetns(t *testing.T) {
	ns := lab.NewNS(t, "knob")
	host, _ := Parse("sysctl:net.core.somaxconn", "", DefaultEnv())
	before, err := host.Read()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := Parse("sysctl:net.core.somaxconn", ns.Name, DefaultEnv())
	if err := k.Write("1234"); err != nil {
		t.Fatal(err)
	}
	if v, err := k.Read(); err != nil || v != "1234" {
		t.Fatalf("netns value %q, %v", v, err)
	}
	if after, _ := host.Read(); after != before {
		t.Fatalf("host somaxconn changed %s → %s", before, after)
	}
}

func TestDeviceKnobsInNetns(t *testing.T) {
	a, b := lab.NewNS(t, "knobA"), lab.NewNS(t, "knobB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 2})
	env := DefaultEnv()

	ring, _ := Parse("ethtool-ring:"+v.AName+":rx", a.Name, env)
	if _, err := ring.Read(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("veth has no ring ops, want ErrUnsupported, got %v", err)
	}

	txq, _ := Parse("txqueuelen:"+v.AName, a.Name, env)
	if err := txq.Write("2000"); err != nil {
		t.Fatal(err)
	}
	if got, err := txq.Read(); err != nil || got != "2000" {
		t.Errorf("txqueuelen %q, %v", got, err)
	}

	lab.SetQdisc(t, a, v.AName, "pfifo", 5)
	q, _ := Parse("qdisc-limit:"+v.AName+":1:", a.Name, env)
	if got, err := q.Read(); err != nil || got != "5" {
		t.Fatalf("qdisc limit %q, %v", got, err)
	}
	if err := q.Write("10"); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Read(); err != nil || got != "10" {
		t.Errorf("qdisc limit after change %q, %v", got, err)
	}
	if got := q.Command("10"); got != "ip netns exec "+a.Name+" tc qdisc change dev "+v.AName+" handle 1: pfifo limit 10" {
		t.Errorf("command %q", got)
	}

	// The interface exists only in the test namespace: the rps files are found only if the
	// knob looks through a sysfs mounted for that namespace.
	rps, _ := Parse("rps:"+v.AName+":rx-1", a.Name, env)
	if err := rps.Write("1"); err != nil {
		t.Fatal(err)
	}
	got, err := lab.ReadSysfs(a, "class/net/"+v.AName+"/queues/rx-1/rps_cpus")
	if err != nil || rps.Compare(got, "1") != Equal {
		t.Errorf("rps_cpus %q, %v", got, err)
	}
	cnt, _ := Parse("rps-flow-cnt:"+v.AName+":rx-1", a.Name, env)
	if err := cnt.Write("3000"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cnt.Read(); got != "4096" {
		t.Errorf("the kernel rounds rps_flow_cnt up to a power of two: got %q", got)
	}
}

// TestManagedIRQ writes a virtio-blk request queue IRQ's own affinity back to it: blk-mq
// IRQs are kernel-managed, so the kernel refuses without changing anything.
func TestManagedIRQ(t *testing.T) {
	lab.RequireRoot(t)
	irq := blkRequestIRQ(t)
	k, _ := Parse("irq-affinity:"+irq, "", DefaultEnv())
	cur, err := k.Read()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Write(cur); !errors.Is(err, ErrManagedIRQ) {
		t.Fatalf("want ErrManagedIRQ, got %v", err)
	}
}

func blkRequestIRQ(t *testing.T) string {
	f, err := os.Open("/proc/interrupts")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 || !strings.Contains(fields[len(fields)-1], "-req.") {
			continue
		}
		irq := strings.TrimSuffix(fields[0], ":")
		if _, err := strconv.Atoi(irq); err == nil {
			return irq
		}
	}
	t.Skip("no virtio-blk request IRQ (kernel-managed) on this machine")
	return ""
}
