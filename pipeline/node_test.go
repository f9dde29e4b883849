package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

const hostIno = 4026531840

// nodeSample is a NodeSample of namespaces by inode, each with UDP loss growing by the
// given rate (0 for a quiet one); the host's is the first inode.
func nodeSample(at time.Time, scale uint64, loss map[uint64]uint64, inodes ...uint64) *collect.NodeSample {
	s := &collect.NodeSample{Time: at}
	for _, ino := range inodes {
		ns := netnsfind.Namespace{ID: netnsfind.ID{Ino: ino}, Host: ino == hostIno}
		smp := udpHost(at, scale, loss[ino])
		if !ns.Host {
			smp.Softnet = nil // host-wide: only the host namespace's sample has them
		}
		s.Namespaces = append(s.Namespaces, collect.NamespaceSample{Namespace: ns, Own: ns.Host, Sample: smp})
	}
	return s
}

func nodeOptions(t *testing.T) pipeline.Options {
	root := hostRoot(t)
	return pipeline.Options{ProcRoot: root, Policy: policy.DefaultConfig(), Check: true,
		Owner: owner.Options{ProcRoot: root, CRISockets: []string{}, PodLogDir: t.TempDir(), ContainerLogDir: t.TempDir()}}
}

// One lossy namespace among quiet ones gets the finding; a namespace gone by the end of
// the interval is left out without an error, a new one waits for the next interval.
func TestAnalyzeNode(t *testing.T) {
	const lossy, quiet, gone, born, unreachable = 4026532001, 4026532002, 4026532003, 4026532004, 4026532005
	loss := map[uint64]uint64{lossy: 400}
	prev := nodeSample(t0, 1, loss, hostIno, lossy, quiet, gone, unreachable)
	cur := nodeSample(t0.Add(time.Second), 2, loss, hostIno, lossy, quiet, born)
	cur.Gone = []netnsfind.ID{{Ino: unreachable}}
	res, err := pipeline.AnalyzeNode(context.Background(), pipeline.Meta{Host: "node-1"}, prev, cur, nodeOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var inodes []uint64
	for _, n := range res.Namespaces {
		inodes = append(inodes, n.Namespace.ID.Ino)
	}
	if want := []uint64{hostIno, lossy, quiet}; !slices.Equal(inodes, want) {
		t.Fatalf("namespaces %v, want %v", inodes, want)
	}
	if !slices.Equal(res.Vanished, []netnsfind.ID{{Ino: gone}, {Ino: unreachable}}) || !slices.Equal(res.Appeared, []netnsfind.ID{{Ino: born}}) {
		t.Errorf("vanished %v, appeared %v", res.Vanished, res.Appeared)
	}
	l := res.Lossy()
	if len(l) != 1 || l[0].Namespace.ID.Ino != lossy {
		t.Fatalf("lossy namespaces %v, want only %d", l, lossy)
	}
	if f := l[0].Report.Findings; len(f) == 0 || f[0].Stage != stage.UDPRcvbuf {
		t.Errorf("lossy namespace's findings %+v, want udp-rcvbuf first", f)
	}
	host, _ := res.Lookup(hostIno)
	if !host.Own || !host.Owner.Host {
		t.Errorf("host namespace: own %v, owner %+v", host.Own, host.Owner)
	}
	if ow := l[0].Owner; ow.Host || ow.Source != owner.SourceCgroup {
		t.Errorf("lossy namespace's owner %+v, want no host, cgroup only (no runtime here)", ow)
	}
}

// Samples out of order in one namespace fail the interval, naming the namespace.
func TestAnalyzeNodeOrder(t *testing.T) {
	prev := nodeSample(t0.Add(time.Second), 2, nil, hostIno)
	cur := nodeSample(t0, 1, nil, hostIno)
	_, err := pipeline.AnalyzeNode(context.Background(), pipeline.Meta{}, prev, cur, nodeOptions(t))
	if !errors.Is(err, model.ErrOrder) {
		t.Errorf("err = %v, want ErrOrder", err)
	}
}

// A Node does not attach probes yet and says so instead of counting nothing silently.
func TestOpenNodeRefusesProbes(t *testing.T) {
	o := nodeOptions(t)
	o.Probes = true
	if _, err := pipeline.OpenNode(o); err == nil {
		t.Error("OpenNode with probes: no error")
	}
}
