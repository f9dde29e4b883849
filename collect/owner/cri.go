package owner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultCRISockets are the CRI endpoints tried when Options.CRISockets is nil: containerd
// (which serves CRI through its CRI plugin), CRI-O, cri-dockerd, and k3s's containerd.
var DefaultCRISockets = []string{
	"/run/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/run/cri-dockerd.sock",
	"/run/k3s/containerd/containerd.sock",
}

// criSandbox is a pod sandbox as a CRI endpoint reports it, with its containers.
type criSandbox struct {
	id         string
	pod        Pod
	endpoint   string
	runtime    Runtime
	containers []Container
}

// criView is everything the reachable CRI endpoints report, read once per Resolver.
type criView struct {
	sandboxes   map[string]*criSandbox // by sandbox ID
	byUID       map[string]*criSandbox // by pod UID
	inSandbox   map[string]*criSandbox // by container ID
	answered    []string               // endpoints that answered
	unavailable []string               // "PATH: why" for sockets present but not usable
	absent      []string               // sockets that do not exist
}

var errAbsent = errors.New("absent")

// loadCRI asks every socket, concurrently, for its runtime name, pod sandboxes and
// containers, each bounded by timeout.
func loadCRI(ctx context.Context, sockets []string, timeout time.Duration) *criView {
	type answer struct {
		socket     string
		runtime    Runtime
		sandboxes  []*runtimeapi.PodSandbox
		containers []*runtimeapi.Container
		err        error
	}
	answers := make([]answer, len(sockets))
	var wg sync.WaitGroup
	for i, s := range sockets {
		wg.Go(func() {
			a := &answers[i]
			a.socket = s
			a.runtime, a.sandboxes, a.containers, a.err = queryCRI(ctx, s, timeout)
		})
	}
	wg.Wait()

	v := &criView{sandboxes: map[string]*criSandbox{}, byUID: map[string]*criSandbox{}, inSandbox: map[string]*criSandbox{}}
	for _, a := range answers {
		switch {
		case errors.Is(a.err, errAbsent):
			v.absent = append(v.absent, a.socket)
			continue
		case a.err != nil:
			v.unavailable = append(v.unavailable, fmt.Sprintf("%s: %v", a.socket, a.err))
			continue
		}
		v.answered = append(v.answered, a.socket)
		for _, s := range a.sandboxes {
			md := s.GetMetadata()
			sb := &criSandbox{id: s.GetId(), endpoint: a.socket, runtime: a.runtime,
				pod: Pod{Namespace: md.GetNamespace(), Name: md.GetName(), UID: md.GetUid()}}
			sb.containers = []Container{{ID: sb.id, Runtime: a.runtime, Sandbox: true}}
			v.sandboxes[sb.id] = sb
			if sb.pod.UID != "" {
				v.byUID[sb.pod.UID] = sb
			}
		}
		for _, c := range a.containers {
			sb, ok := v.sandboxes[c.GetPodSandboxId()]
			if !ok {
				continue
			}
			sb.containers = append(sb.containers, Container{ID: c.GetId(), Name: c.GetMetadata().GetName(), Runtime: a.runtime})
			v.inSandbox[c.GetId()] = sb
		}
	}
	return v
}

// queryCRI asks one endpoint. The socket must be a socket owned by root (or by the user
// nettune runs as): anyone else could answer with made-up pods.
func queryCRI(ctx context.Context, socket string, timeout time.Duration) (Runtime, []*runtimeapi.PodSandbox, []*runtimeapi.Container, error) {
	st, err := os.Lstat(socket)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil, errAbsent
	}
	if err != nil {
		return "", nil, nil, err
	}
	if st.Mode().Type() != fs.ModeSocket {
		return "", nil, nil, fmt.Errorf("not a socket")
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return "", nil, nil, fmt.Errorf("owned by uid %d, not root", sys.Uid)
	}
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return "", nil, nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	ver, err := rs.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return "", nil, nil, fmt.Errorf("version: %w", err)
	}
	sbs, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return "", nil, nil, fmt.Errorf("list pod sandboxes: %w", err)
	}
	cs, err := rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return "", nil, nil, fmt.Errorf("list containers: %w", err)
	}
	return runtimeName(ver.GetRuntimeName()), sbs.GetItems(), cs.GetContainers(), nil
}

// runtimeName maps a CRI RuntimeName to a Runtime (cri-dockerd says "docker").
func runtimeName(s string) Runtime {
	switch s {
	case "containerd":
		return Containerd
	case "cri-o":
		return CRIO
	case "docker":
		return Docker
	}
	return Runtime(s)
}

// lookup finds the sandbox a container ID (a container's or the sandbox's own) or, failing
// that, a pod UID belongs to.
func (v *criView) lookup(ids []string, podUID string) *criSandbox {
	for _, id := range ids {
		if sb, ok := v.sandboxes[id]; ok {
			return sb
		}
		if sb, ok := v.inSandbox[id]; ok {
			return sb
		}
	}
	if podUID != "" {
		return v.byUID[podUID]
	}
	return nil
}

// why says why the CRI source named nothing.
func (v *criView) why() string {
	switch {
	case len(v.unavailable) > 0:
		return "cri: " + strings.Join(v.unavailable, ", ")
	case len(v.answered) > 0:
		return "cri: not known to " + strings.Join(v.answered, ", ")
	case len(v.absent) > 0:
		return "cri: no runtime socket at " + strings.Join(v.absent, ", ")
	}
	return "cri: no runtime socket"
}
