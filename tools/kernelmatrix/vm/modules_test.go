package vm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// elfObject builds a minimal ELF64 relocatable object whose only section (besides the
// section name table) is named section and holds data — what debug/elf needs to find it.
func elfObject(section string, data []byte) []byte {
	shstr := []byte("\x00" + section + "\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	dataOff := ehsize
	strOff := dataOff + len(data)
	shOff := (strOff + len(shstr) + 7) &^ 7
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	b.Write(make([]byte, 8))
	le := binary.LittleEndian
	w := func(v any) { _ = binary.Write(&b, le, v) }
	w(uint16(1))  // ET_REL
	w(uint16(62)) // EM_X86_64
	w(uint32(1))
	w(uint64(0)) // entry
	w(uint64(0)) // phoff
	w(uint64(shOff))
	w(uint32(0))
	w(uint16(ehsize))
	w(uint16(0)) // phentsize
	w(uint16(0)) // phnum
	w(uint16(shentsize))
	w(uint16(3)) // shnum
	w(uint16(2)) // shstrndx
	b.Write(data)
	b.Write(shstr)
	b.Write(make([]byte, shOff-b.Len()))
	sh := func(name, typ uint32, off, size int) {
		w(name)
		w(typ)
		w(uint64(0)) // flags
		w(uint64(0)) // addr
		w(uint64(off))
		w(uint64(size))
		w(uint32(0)) // link
		w(uint32(0)) // info
		w(uint64(1)) // addralign
		w(uint64(0)) // entsize
	}
	sh(0, 0, 0, 0)
	sh(1, 1, dataOff, len(data))                        // PROGBITS
	sh(uint32(1+len(section)+1), 3, strOff, len(shstr)) // STRTAB
	return b.Bytes()
}

func fakeModule(modinfo string) []byte { return elfObject(".modinfo", []byte(modinfo)) }

func TestReadModinfo(t *testing.T) {
	cases := []struct {
		modinfo string
		want    Modinfo
	}{
		{"license=GPL\x00depends=failover,net-failover\x00vermagic=6.1\x00", Modinfo{Depends: []string{"failover", "net_failover"}}},
		{"license=GPL\x00depends=\x00", Modinfo{}},
		{"license=GPL\x00", Modinfo{}},
		// libcrc32c (5.10–6.12) and crc32c_generic.
		{"softdep=pre: crc32c\x00license=GPL\x00depends=\x00", Modinfo{SoftPre: []string{"crc32c"}}},
		{"alias=crypto-crc32c\x00alias=crc32c\x00depends=\x00", Modinfo{Aliases: []string{"crypto-crc32c", "crc32c"}}},
		{"softdep=pre: a b post: c pre: d\x00", Modinfo{SoftPre: []string{"a", "b", "d"}}},
	}
	for _, c := range cases {
		got, err := ReadModinfo(fakeModule(c.modinfo))
		if err != nil {
			t.Fatalf("%q: %v", c.modinfo, err)
		}
		if !slices.Equal(got.Depends, c.want.Depends) || !slices.Equal(got.SoftPre, c.want.SoftPre) || !slices.Equal(got.Aliases, c.want.Aliases) {
			t.Errorf("%q: %+v, want %+v", c.modinfo, got, c.want)
		}
	}
	if _, err := ReadModinfo(elfObject(".text", []byte{0xc3})); !errors.Is(err, ErrNoModinfo) {
		t.Errorf("object without .modinfo: %v, want ErrNoModinfo", err)
	}
	if _, err := ReadModinfo([]byte("not elf")); err == nil {
		t.Error("garbage must fail")
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/net/sched/sch_fq_codel.ko.xz": "sch_fq_codel",
		"sch-fq-codel":                        "sch_fq_codel",
		"veth.ko":                             "veth",
		"virtio_net.ko.zst":                   "virtio_net",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

// moduleTree writes a module directory the way a kernel package ships it.
func moduleTree(t *testing.T, mods map[string]string, builtin string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, modinfo := range mods {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		plain := p
		if filepath.Ext(p) == ".xz" {
			plain = p[:len(p)-3]
		}
		if err := os.WriteFile(plain, fakeModule(modinfo), 0o644); err != nil {
			t.Fatal(err)
		}
		if plain != p {
			if out, err := exec.Command("xz", plain).CombinedOutput(); err != nil {
				t.Fatalf("xz: %v: %s", err, out)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(builtin), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestResolveOrdersDependenciesFirst(t *testing.T) {
	dir := moduleTree(t, map[string]string{
		"kernel/drivers/net/virtio_net.ko":   "depends=net_failover\x00",
		"kernel/drivers/net/net_failover.ko": "depends=failover\x00",
		"kernel/net/core/failover.ko.xz":     "depends=\x00",
		"kernel/drivers/net/veth.ko":         "\x00",
	}, "kernel/net/sched/sch_fq_codel.ko\n")
	tree, err := OpenModuleTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tree.Resolve([]string{"virtio-net", "veth", "sch_fq_codel", "netdevsim", "failover"})
	if err != nil {
		t.Fatal(err)
	}
	var load []string
	for _, m := range r.Load {
		load = append(load, m.Name)
		if _, err := ReadModinfo(m.Image); err != nil {
			t.Errorf("%s: image is not the decompressed module: %v", m.Name, err)
		}
	}
	if want := []string{"failover", "veth", "net_failover", "virtio_net"}; !slices.Equal(load, want) {
		t.Errorf("load order %v, want %v", load, want)
	}
	if !slices.Equal(r.Builtin, []string{"sch_fq_codel"}) || !slices.Equal(r.Missing, []string{"netdevsim"}) {
		t.Errorf("builtin %v missing %v", r.Builtin, r.Missing)
	}
}

func TestResolveErrors(t *testing.T) {
	dir := moduleTree(t, map[string]string{
		"kernel/a.ko": "depends=b\x00",
		"kernel/b.ko": "depends=a\x00",
		"kernel/c.ko": "depends=gone\x00",
	}, "")
	tree, err := OpenModuleTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Resolve([]string{"a"}); err == nil {
		t.Error("a dependency cycle must fail")
	}
	if _, err := tree.Resolve([]string{"c"}); err == nil {
		t.Error("a missing dependency must fail")
	}
	if _, err := OpenModuleTree(t.TempDir()); err == nil {
		t.Error("a directory without modules must fail")
	}
}

func TestResolveSoftDependencies(t *testing.T) {
	dir := moduleTree(t, map[string]string{
		// btrfs sorts before crc32c_generic: only the soft dependency puts the crc32c
		// provider first.
		"kernel/fs/btrfs.ko":               "depends=libcrc32c\x00softdep=pre: xxhash_generic nothing post: zstd\x00",
		"kernel/lib/libcrc32c.ko.xz":       "softdep=pre: crc32c\x00depends=\x00",
		"kernel/crypto/crc32c_generic.ko":  "alias=crypto-crc32c\x00alias=crc32c\x00depends=\x00",
		"kernel/crypto/xxhash_generic.ko":  "depends=\x00",
		"kernel/lib/zstd.ko":               "depends=\x00",
		"kernel/arch/x86/crc32c-intel.ko":  "alias=crc32c\x00depends=\x00",
		"kernel/net/sctp/unrelated_mod.ko": "depends=\x00",
	}, "")
	tree, err := OpenModuleTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tree.Resolve([]string{"btrfs", "crc32c_generic"})
	if err != nil {
		t.Fatal(err)
	}
	var load []string
	for _, m := range r.Load {
		load = append(load, m.Name)
	}
	// xxhash_generic is pulled in by name; crc32c_intel also answers to "crc32c" but is not
	// in the set (an alias is looked up among the wanted modules and their dependencies
	// only); "nothing" does not exist; post-dependencies are not loaded.
	if want := []string{"crc32c_generic", "libcrc32c", "xxhash_generic", "btrfs"}; !slices.Equal(load, want) {
		t.Errorf("load order %v, want %v", load, want)
	}
}
