package ctrtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nettune/nettune/internal/lab"
)

// Image is the busybox image every sandbox and container runs (see package doc).
const Image = "nettune.test/busybox:1"

// Containerd is a containerd daemon started for one test and stopped at its cleanup.
type Containerd struct {
	Dir    string // everything the daemon writes
	Socket string // gRPC endpoint: CRI and containerd's own API
	// PodLogDir and ContainerLogDir are the pods' log trees, laid out as a kubelet lays
	// out /var/log/pods/NAMESPACE_NAME_UID/CONTAINER/N.log and
	// /var/log/containers/POD_NAMESPACE_CONTAINER-ID.log.
	PodLogDir, ContainerLogDir string
	// CgroupRoot is the cgroupfs-driver parent of the pods, as kubelet's --cgroup-root: a
	// pod's cgroup is CgroupRoot/kubepods/burstable/pod<UID>, a container's that plus /<ID>.
	CgroupRoot string
	Netns      *lab.NS // the daemon's network namespace (its CNI bridge lives there)
	Runtime    runtimeapi.RuntimeServiceClient
	Images     runtimeapi.ImageServiceClient

	tools       tools
	snapshotter string
	hadShimDir  bool // shimSocketDir existed before the daemon started
	cmd         *exec.Cmd
	exited      chan error
	conn        *grpc.ClientConn
}

// shimSocketDir is where containerd 1.6's shims put their sockets, whatever the config says.
const shimSocketDir = "/run/containerd"

// Start starts containerd with its CRI plugin, imports Image, and stops everything at test
// cleanup.
func Start(t testing.TB) *Containerd {
	t.Helper()
	lab.RequireRoot(t)
	tl := findTools(t)
	busybox := staticBusybox(t, tl.busybox)

	// A short path: the gRPC socket must fit in sun_path (108 bytes).
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Containerd{
		Dir:             dir,
		Socket:          filepath.Join(dir, "containerd.sock"),
		PodLogDir:       filepath.Join(dir, "log", "pods"),
		ContainerLogDir: filepath.Join(dir, "log", "containers"),
		CgroupRoot:      "/nettune-ctrtest-" + randomHex(4),
		tools:           tl,
		exited:          make(chan error, 1),
	}
	t.Cleanup(func() { c.removeDir(t) })
	for _, d := range []string{c.PodLogDir, c.ContainerLogDir, filepath.Join(dir, "cni")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.writeConfig(t)

	_, err = os.Stat(shimSocketDir)
	c.hadShimDir = err == nil
	c.Netns = lab.NewNS(t, "ctrd")
	c.start(t)
	t.Cleanup(func() { c.stop(t) })
	c.importImage(t, busybox)
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Containerd) writeConfig(t testing.TB) {
	t.Helper()
	c.snapshotter = "overlayfs"
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil || !bytes.Contains(fs, []byte("\toverlay\n")) {
		c.snapshotter = "native"
	}
	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  disable_apparmor = true
  # Sandboxes ask for oom_score_adj -998, which some test hosts refuse even to root.
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = %[8]q
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = %[9]q
        Root = %[10]q
        SystemdCgroup = false
`, filepath.Join(c.Dir, "root"), filepath.Join(c.Dir, "state"), c.Socket, filepath.Join(c.Dir, "opt"),
		Image, c.tools.cniDir, filepath.Join(c.Dir, "cni"), c.snapshotter, c.tools.runc, filepath.Join(c.Dir, "runc"))
	// The network the pods get: a bridge in the daemon's own namespace, on test addresses.
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "nettune-test",
  "plugins": [{
    "type": "bridge", "bridge": "ntcni0", "isGateway": true, "ipMasq": false,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.19.254.0/24"}]], "dataDir": %q}
  }]
}
`, filepath.Join(c.Dir, "cni-ipam"))
	for name, body := range map[string]string{"config.toml": cfg, "cni/10-nettune.conflist": cni} {
		if err := os.WriteFile(filepath.Join(c.Dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// start runs the daemon inside c.Netns (the fork happens on a thread inside it) and waits
// until the CRI service answers.
func (c *Containerd) start(t testing.TB) {
	t.Helper()
	logf, err := os.Create(filepath.Join(c.Dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.cmd = exec.Command(c.tools.containerd, "--config", filepath.Join(c.Dir, "config.toml"))
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// containerd finds its runc shim on PATH.
	c.cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(c.tools.shim)+string(os.PathListSeparator)+os.Getenv("PATH"))
	// The daemon dies with the test binary; its shims (own sessions) are handled by stop.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := lab.StartPinned(c.cmd, c.Netns); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	go func() { c.exited <- c.cmd.Wait() }()

	c.conn, err = grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("CRI client: %v", err)
	}
	c.Runtime = runtimeapi.NewRuntimeServiceClient(c.conn)
	c.Images = runtimeapi.NewImageServiceClient(c.conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return
		}
		select {
		case werr := <-c.exited:
			c.exited <- werr
			t.Fatalf("containerd exited (%v) before its CRI service answered:\n%s", werr, c.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd's CRI service did not answer within 60 s: %v\n%s", err, c.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ctx is a context for one CRI call.
func (c *Containerd) Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (c *Containerd) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "containerd.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// stop ends the daemon and whatever it left: shims serving this socket (an error, since
// every pod's own cleanup removed it), mounts under Dir.
func (c *Containerd) stop(t testing.TB) {
	t.Helper()
	if c.conn != nil {
		c.conn.Close()
	}
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	// A shim exits shortly after its last task is deleted.
	shims := c.shims()
	for deadline := time.Now().Add(10 * time.Second); len(shims) > 0 && time.Now().Before(deadline); shims = c.shims() {
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range shims {
		t.Errorf("containerd shim %d still running after every pod was removed; killing it", pid)
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	if !c.hadShimDir {
		// The shim's socket directory, made by this run: removed when empty.
		_ = unix.Rmdir(shimSocketDir + "/s")
		_ = unix.Rmdir(shimSocketDir)
	}
}

// shims lists the runc shims started for this daemon (their -address is its socket).
func (c *Containerd) shims() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "containerd-shim-runc-v2") && slices.Contains(args, c.Socket) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeDir unmounts what is left under Dir (rootfs overlays and netns mounts of pods not
// removed), removes the pods' cgroups and then Dir.
func (c *Containerd) removeDir(t testing.TB) {
	t.Helper()
	mounts, cgroupMounts := mountsUnder(c.Dir)
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(mounts[i], unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mounts[i], err)
		}
	}
	for _, m := range cgroupMounts {
		removeCgroupTree(t, filepath.Join(m, c.CgroupRoot))
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		t.Errorf("remove %s: %v", c.Dir, err)
	}
}

// mountsUnder returns the mount points under dir (in mount order) and every cgroup
// filesystem mount point whose root is the hierarchy's root.
func mountsUnder(dir string) (under, cgroups []string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		mp := unescapeOctal(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			under = append(under, mp)
		}
		if t := fields[sep+1]; (t == "cgroup" || t == "cgroup2") && fields[3] == "/" {
			cgroups = append(cgroups, mp)
		}
	}
	return under, cgroups
}

func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroupTree removes an empty cgroup directory tree, deepest first.
func removeCgroupTree(t testing.TB, root string) {
	t.Helper()
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
			t.Errorf("remove cgroup %s: %v", dirs[i], err)
		}
	}
}
