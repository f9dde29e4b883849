// Package ctrtest runs a real containerd (Debian's containerd, runc and CNI plugins) for one
// test, with its CRI plugin, so tests can make Kubernetes-style pod sandboxes and containers
// through the CRI API without a kubelet, a registry or a network. It is imported only from
// _test.go files.
//
// Everything the daemon writes is under one temporary directory: root, state, gRPC socket,
// config, runc's state, CNI config and IPAM state, the pods' network namespace mounts
// (netns_mounts_under_state_dir) and the kubelet-style log trees (PodLogDir, ContainerLogDir).
// Two things cannot be moved: containerd 1.6's runc shim puts its socket under
// /run/containerd/s/ (named by a hash of this daemon's socket path, removed when the shim
// exits), and runc makes the pods' cgroups under the cgroup mounts, below a parent unique to
// the run (CgroupRoot), which cleanup removes.
//
// The daemon runs in a network namespace of its own: CNI plugins run as its children, so the
// bridge, the pods' host-side veths and their 198.19.254.0/24 addresses are made there and
// the host's networking is never touched.
//
// The programs come from the repository's .cache/ctrtest, where `make tools-test` unpacks
// Debian's containerd, runc, containernetworking-plugins and busybox-static without installing
// them (no containerd.service is installed or started); a program missing there is taken from
// the host (PATH, /usr/lib/cni, /bin/busybox).
//
// The images are built by the test from the static busybox with go-containerregistry and
// imported with ctr; the same image is the sandbox ("pause") image, whose default command is
// `sleep inf`.
//
// Start skips the test, saying why, when it cannot run: not root, a program or CNI plugin
// missing, or busybox not statically linked.
package ctrtest
