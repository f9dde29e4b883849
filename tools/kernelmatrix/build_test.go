package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLabPackages(t *testing.T) {
	// listFormat lines: path|dir|TestGoFiles|XTestGoFiles|TestImports,XTestImports
	list := `github.com/nettune/nettune/bpf|/m/bpf|3|0|github.com/nettune/nettune/internal/lab,testing,
github.com/nettune/nettune/policy|/m/policy|2|0|testing,
github.com/nettune/nettune/internal/lab|/m/internal/lab|4|0|net,testing,
github.com/nettune/nettune/tools/kernelmatrix/vm|/m/tools/kernelmatrix/vm|3|0|testing,
github.com/nettune/nettune/cmd/internal/cli|/m/cmd/internal/cli|0|2|,github.com/nettune/nettune/internal/lab
github.com/nettune/nettune/model|/m/model|0|0|,
`
	var got []string
	for _, p := range labPackages(parsePackageList(list)) {
		got = append(got, shortPkg(p.ImportPath))
	}
	want := []string{"bpf", "internal/lab", "cmd/internal/cli"}
	if !slices.Equal(got, want) {
		t.Errorf("lab packages %v, want %v", got, want)
	}
}

func TestFindKernelFiles(t *testing.T) {
	layouts := map[string][]string{
		// linux-image-6.1.0-56-amd64: one package, /boot and /lib/modules.
		"6.1": {"boot/vmlinuz-6.1.0-56-amd64", "lib/modules/6.1.0-56-amd64/modules.builtin"},
		// 7.x split packaging: linux-binary, linux-modules and linux-base under /usr/lib/modules.
		"7.3": {"usr/lib/modules/7.3.4+deb13-amd64/vmlinuz", "usr/lib/modules/7.3.4+deb13-amd64/modules.builtin"},
	}
	for name, files := range layouts {
		root := t.TempDir()
		for _, f := range files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		image, modDir, err := findKernelFiles(root)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if image != filepath.Join(root, files[0]) || modDir != filepath.Dir(filepath.Join(root, files[1])) {
			t.Errorf("%s: image %s, modules %s", name, image, modDir)
		}
	}
	if _, _, err := findKernelFiles(t.TempDir()); err == nil {
		t.Error("an empty tree must fail")
	}
}
