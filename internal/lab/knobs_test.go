package lab

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/safchain/ethtool"

	"github.com/nettune/nettune/internal/netns"
)

func TestReadSysfsSeesTheNamespace(t *testing.T) {
	v := pair(t)
	got, err := ReadSysfs(v.B, "class/net/"+v.BName+"/tx_queue_len")
	if err != nil || got != "1000" {
		t.Fatalf("B's %s tx_queue_len = %q, %v", v.BName, got, err)
	}
	// The test's own /sys does not show devices of other namespaces.
	if _, err := os.Stat("/sys/class/net/" + v.BName); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host /sys shows %s: %v", v.BName, err)
	}
	if _, err := ReadSysfs(v.A, "class/net/"+v.BName+"/mtu"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("A's sysfs shows B's %s: %v", v.BName, err)
	}
	if err := WriteSysfs(v.B, "/sys/class/net/"+v.BName+"/mtu", "1400"); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadSysfs(v.B, "/sys/class/net/"+v.BName+"/mtu"); got != "1400" {
		t.Fatalf("mtu after write = %q", got)
	}
}

func TestSetRPSRestores(t *testing.T) {
	a, b := NewNS(t, "rpsA"), NewNS(t, "rpsB")
	v := NewVeth(t, a, b, VethOpts{Queues: 2})
	path := "class/net/" + v.BName + "/queues/rx-1/rps_cpus"
	old, err := ReadSysfs(b, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("set", func(t *testing.T) {
		Global(t)
		SetRPS(t, b, v.BName, 1, cpuMask(0))
		if got, _ := ReadSysfs(b, path); got != "1" && got != "01" && got != cpuMask(0) {
			t.Fatalf("rps_cpus = %q after setting cpu 0", got)
		}
	})
	if got, _ := ReadSysfs(b, path); got != old {
		t.Fatalf("rps_cpus = %q after cleanup, want %q", got, old)
	}
}

func TestSetTxQueueLenRestores(t *testing.T) {
	v := pair(t)
	t.Run("set", func(t *testing.T) {
		SetTxQueueLen(t, v.A, v.AName, 50)
		if got, _ := ReadSysfs(v.A, "class/net/"+v.AName+"/tx_queue_len"); got != "50" {
			t.Fatalf("tx_queue_len = %q, want 50", got)
		}
	})
	if got, _ := ReadSysfs(v.A, "class/net/"+v.AName+"/tx_queue_len"); got != "1000" {
		t.Fatalf("tx_queue_len = %q after cleanup, want 1000", got)
	}
}

// GRO is a software feature every kernel lets one switch on veth (tx-udp-segmentation, which
// the injectors switch off, is fixed off on 5.10's veth).
func TestSetFeatureRestores(t *testing.T) {
	v := pair(t)
	feature := func() bool {
		var fs map[string]bool
		err := netns.Do(v.A.Name, func() error {
			e, err := ethtool.NewEthtool()
			if err != nil {
				return err
			}
			defer e.Close()
			fs, err = e.Features(v.AName)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return fs["rx-gro"]
	}
	was := feature()
	t.Run("set", func(t *testing.T) {
		SetFeature(t, v.A, v.AName, "rx-gro", !was)
		if feature() == was {
			t.Fatalf("rx-gro still %v", was)
		}
	})
	if feature() != was {
		t.Fatalf("rx-gro = %v after cleanup, want %v", !was, was)
	}
}

func TestSetQdiscRestoresDefault(t *testing.T) {
	v := pair(t)
	for _, kind := range []string{"pfifo", "bfifo"} {
		t.Run(kind, func(t *testing.T) {
			SetQdisc(t, v.A, v.AName, kind, 7)
			if got, _ := qdiscDrops(t, v.A, v.AName, 0x10000); got != kind {
				t.Fatalf("root 1: is %q, want %s", got, kind)
			}
		})
		if got, _ := qdiscDrops(t, v.A, v.AName, 0x10000); got != "" {
			t.Fatalf("root 1: still %q after cleanup", got)
		}
	}
	t.Run("unknown", func(t *testing.T) {
		if err := setQdisc(t, v.A, v.AName, "sfq", 7); err == nil {
			t.Fatal("sfq accepted")
		}
	})
}

// The shaper's drops come from bursts, not load: a fifo as deep as the burst absorbs them.
// This is what makes "raise the qdisc limit" a fix for InjectQdisc.
func TestShaperDeepFifoAbsorbsBursts(t *testing.T) {
	v := pair(t)
	SetShaper(t, v.A, v.AName, ShaperRate, "pfifo", 2*QdiscBurst)
	sink := UDPSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: bigRcvBuf, Read: true})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	r, err := floodUntil(ctx, v.A, sink.Addr(), FloodOpts{Size: 1000, PPS: ShaperRate / 1000 / 2, Burst: QdiscBurst})
	if err != nil {
		t.Fatal(err)
	}
	_, drops := qdiscDrops(t, v.A, v.AName, ShaperFifo)
	t.Logf("sent %d, pfifo limit %d dropped %d", r.Sent, 2*QdiscBurst, drops)
	if r.Sent < 1000 || drops > uint32(r.Sent/100) {
		t.Fatalf("sent %d, dropped %d: a deep fifo should absorb the bursts", r.Sent, drops)
	}
}
