package owner

import (
	"fmt"
	"os"
	"strings"
)

// podLogs is what the kubelet's log directories say, read once per Resolver:
// /var/log/pods/NAMESPACE_NAME_UID/ (one per pod) and
// /var/log/containers/POD_NAMESPACE_CONTAINER-ID.log (one link per container). Only names
// are read, never the links' targets or the logs.
type podLogs struct {
	dir        string
	byUID      map[string]Pod
	containers map[string]loggedContainer // by container ID
	err        error                      // reading dir
}

type loggedContainer struct {
	pod  Pod // namespace and name; the link's name has no UID
	name string
}

func loadPodLogs(podDir, containerDir string) *podLogs {
	l := &podLogs{dir: podDir, byUID: map[string]Pod{}, containers: map[string]loggedContainer{}}
	ents, err := os.ReadDir(podDir)
	if err != nil {
		l.err = err
		return l
	}
	for _, e := range ents {
		if p, ok := parsePodDir(e.Name()); ok && e.IsDir() {
			l.byUID[p.UID] = p
		}
	}
	ents, _ = os.ReadDir(containerDir) // optional: only names containers
	for _, e := range ents {
		if id, c, ok := parseContainerLog(e.Name()); ok {
			l.containers[id] = c
		}
	}
	return l
}

// parsePodDir reads NAMESPACE_NAME_UID (Kubernetes names never contain "_").
func parsePodDir(s string) (Pod, bool) {
	f := strings.Split(s, "_")
	if len(f) != 3 || !isName(f[0], 63) || !isName(f[1], 253) || !isPodUID(f[2]) {
		return Pod{}, false
	}
	return Pod{Namespace: f[0], Name: f[1], UID: f[2]}, true
}

// parseContainerLog reads POD_NAMESPACE_CONTAINER-ID.log.
func parseContainerLog(s string) (string, loggedContainer, bool) {
	s, ok := strings.CutSuffix(s, ".log")
	f := strings.Split(s, "_")
	if !ok || len(f) != 3 || len(f[2]) < 66 {
		return "", loggedContainer{}, false
	}
	name, id := f[2][:len(f[2])-65], f[2][len(f[2])-64:]
	if f[2][len(name)] != '-' || !isContainerID(id) || !isName(f[0], 253) || !isName(f[1], 63) || !isName(name, 63) {
		return "", loggedContainer{}, false
	}
	return id, loggedContainer{pod: Pod{Namespace: f[1], Name: f[0]}, name: name}, true
}

// isName: a Kubernetes object name (DNS-1123: lowercase letters, digits, '-' and '.'), which
// also keeps anything odd in a directory name out of the output.
func isName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// why says why the pod-log source named nothing.
func (l *podLogs) why() string {
	if l.err != nil {
		return fmt.Sprintf("pod-logs: %v", l.err)
	}
	return "pod-logs: no directory for this pod in " + l.dir
}
