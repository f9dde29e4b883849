// Package owner says who owns a network namespace or a socket: the processes (pid, comm),
// their cgroups, the container runtime, container and Kubernetes pod.
//
// The cgroup path gives the runtime, the container ID and the pod UID (ParseCgroupPath).
// Names come from the first source that knows the pod, in this order, and Owner.Source says
// which one did:
//
//  1. SourceCRI: the CRI API of every reachable runtime socket (DefaultCRISockets: containerd,
//     CRI-O, cri-dockerd, k3s), ListPodSandbox and ListContainers once per Resolver, each
//     socket bounded by Options.Timeout;
//  2. SourcePodLogs: the kubelet's /var/log/pods/NAMESPACE_NAME_UID directories (pod) and
//     /var/log/containers/POD_NAMESPACE_CONTAINER-ID.log links (container names);
//  3. SourceCgroup: nothing but the processes and what their cgroups say.
//
// Owner.Fallback says why the sources before the one used named nothing.
//
// A Resolver caches everything it reads (CRI lists, log directories, processes): make one
// per sampling interval, so pods created since the last one are seen.
package owner

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nettune/nettune/collect/netnsfind"
)

// Source is what named a namespace's pod and containers.
type Source string

// The sources, richest first.
const (
	SourceCRI     Source = "cri"
	SourcePodLogs Source = "pod-logs"
	SourceCgroup  Source = "cgroup"
)

// Pod is a Kubernetes pod; fields no source knows are empty.
type Pod struct {
	Namespace, Name, UID string
}

// Container is a container of a namespace's pod, or one found in a process's cgroup.
type Container struct {
	ID      string
	Name    string // empty when no source names it (and for the sandbox)
	Runtime Runtime
	Sandbox bool // the pod's sandbox ("pause") container, which holds the namespace
}

// Owner is who a namespace (or a set of processes) belongs to.
type Owner struct {
	Host bool // the host namespace: no processes are listed
	Pod  Pod
	// Containers of the pod (every container the runtime lists for the sandbox, sandbox
	// first) or, without CRI, those of the processes read.
	Containers []Container
	Processes  []Process // lowest PIDs first, at most Options.MaxProcesses
	Omitted    int       // processes not read (over MaxProcesses, or exited)
	Source     Source
	Endpoint   string // the CRI socket (SourceCRI) or log directory (SourcePodLogs) used
	Fallback   string // why richer sources named nothing; empty with SourceCRI
}

// ContainerOf returns the container a process of the owner runs in.
func (o *Owner) ContainerOf(p Process) (Container, bool) {
	i := slices.IndexFunc(o.Containers, func(c Container) bool { return c.ID == p.Cgroup.ContainerID })
	if p.Cgroup.ContainerID == "" || i < 0 {
		return Container{}, false
	}
	return o.Containers[i], true
}

// Options configures a Resolver; the zero value means a host's defaults.
type Options struct {
	ProcRoot        string        // default "/proc"
	CRISockets      []string      // nil: DefaultCRISockets; empty: no CRI
	PodLogDir       string        // default "/var/log/pods"
	ContainerLogDir string        // default "/var/log/containers"
	Timeout         time.Duration // per CRI socket, all calls; default 1 s
	MaxProcesses    int           // processes read per owner; default 16
}

// Resolver attributes namespaces and processes. It is safe for concurrent use.
type Resolver struct {
	o Options

	criOnce sync.Once
	cri     *criView
	logOnce sync.Once
	logs    *podLogs

	mu    sync.Mutex
	procs map[int]procResult
}

type procResult struct {
	p   Process
	err error
}

// NewResolver returns a Resolver; nothing is read until it is asked.
func NewResolver(o Options) *Resolver {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.CRISockets == nil {
		o.CRISockets = DefaultCRISockets
	}
	if o.PodLogDir == "" {
		o.PodLogDir = "/var/log/pods"
	}
	if o.ContainerLogDir == "" {
		o.ContainerLogDir = "/var/log/containers"
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.MaxProcesses <= 0 {
		o.MaxProcesses = 16
	}
	return &Resolver{o: o, procs: map[int]procResult{}}
}

// Namespace attributes a namespace found by netnsfind from its processes. A namespace with
// no process left (only a bind mount) has an owner with no processes and SourceCgroup.
func (r *Resolver) Namespace(ctx context.Context, ns *netnsfind.Namespace) Owner {
	if ns.Host {
		return Owner{Host: true, Source: SourceCgroup}
	}
	return r.Processes(ctx, ns.PIDs)
}

// Processes attributes a set of processes, e.g. those of a namespace, or the owners of a
// socket from SocketOwners.
func (r *Resolver) Processes(ctx context.Context, pids []int) Owner {
	var o Owner
	var ids []string
	for _, pid := range pids {
		if len(o.Processes) == r.o.MaxProcesses {
			o.Omitted++
			continue
		}
		p, err := r.process(pid)
		if err != nil {
			o.Omitted++
			continue
		}
		o.Processes = append(o.Processes, p)
		if id := p.Cgroup.ContainerID; id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
		if o.Pod.UID == "" {
			o.Pod.UID = p.Cgroup.PodUID
		}
	}
	slices.SortFunc(o.Processes, func(a, b Process) int { return a.PID - b.PID })
	if len(ids) == 0 && o.Pod.UID == "" {
		o.Source = SourceCgroup // not in a container: nothing to ask a runtime about
		return o
	}

	if sb := r.criView(ctx).lookup(ids, o.Pod.UID); sb != nil {
		o.Pod, o.Source, o.Endpoint = sb.pod, SourceCRI, sb.endpoint
		o.Containers = slices.Clone(sb.containers)
		r.fillRuntime(&o)
		return o
	}
	fallback := []string{r.criView(ctx).why()}

	logs := r.podLogs()
	if pod, ok := logs.byUID[o.Pod.UID]; ok && o.Pod.UID != "" {
		o.Pod, o.Source, o.Endpoint = pod, SourcePodLogs, logs.dir
	}
	for _, id := range ids {
		c := Container{ID: id}
		if lc, ok := logs.containers[id]; ok {
			c.Name = lc.name
			if o.Source != SourcePodLogs {
				// Only the container link knows this pod (no UID in the cgroup path, or no
				// pod directory).
				o.Pod.Namespace, o.Pod.Name, o.Source, o.Endpoint = lc.pod.Namespace, lc.pod.Name, SourcePodLogs, logs.dir
			}
		}
		o.Containers = append(o.Containers, c)
	}
	r.fillRuntime(&o)
	if o.Source == SourcePodLogs {
		o.Fallback = strings.Join(fallback, "; ")
		return o
	}
	o.Source = SourceCgroup
	o.Fallback = strings.Join(append(fallback, logs.why()), "; ")
	return o
}

// fillRuntime takes a container's runtime from its processes' cgroups where the source did
// not say.
func (r *Resolver) fillRuntime(o *Owner) {
	for i := range o.Containers {
		c := &o.Containers[i]
		for _, p := range o.Processes {
			if p.Cgroup.ContainerID == c.ID && p.Cgroup.Runtime != "" && c.Runtime == "" {
				c.Runtime = p.Cgroup.Runtime
			}
		}
	}
}

func (r *Resolver) process(pid int) (Process, error) {
	r.mu.Lock()
	res, ok := r.procs[pid]
	r.mu.Unlock()
	if !ok {
		p, err := ReadProcess(r.o.ProcRoot, pid)
		res = procResult{p, err}
		r.mu.Lock()
		r.procs[pid] = res
		r.mu.Unlock()
	}
	return res.p, res.err
}

func (r *Resolver) criView(ctx context.Context) *criView {
	r.criOnce.Do(func() { r.cri = loadCRI(ctx, r.o.CRISockets, r.o.Timeout) })
	return r.cri
}

func (r *Resolver) podLogs() *podLogs {
	r.logOnce.Do(func() { r.logs = loadPodLogs(r.o.PodLogDir, r.o.ContainerLogDir) })
	return r.logs
}
