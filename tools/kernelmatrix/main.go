// Command kernelmatrix runs nettune's privileged lab tests on several Linux kernels: it takes
// Debian's kernel packages for each series, boots them under qemu with an initramfs holding
// busybox, the needed modules and the statically linked test binaries, and reports per kernel
// which tests passed, failed or skipped (with the skip reason). See docs/kernel-matrix.md.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

type options struct {
	cache        string
	kernels      []string
	suites       []string
	pkgs         []string
	modules      []string
	programs     []string
	qemuArgs     []string
	parallel     int
	accel        string
	run          string
	crashRetries int
	retryFailed  bool
	memory       int
	cpus         int
	timeout      time.Duration
	testTimeout  time.Duration
	aptMaxAge    time.Duration
	install      bool
	doc          string
	goTool       string
}

func main() {
	var o options
	var kernels, suites, pkgs, modules, programs, qemuArgs string
	flag.StringVar(&o.cache, "cache", "/var/cache/nettune-kernels", "directory for apt lists, kernel packages, prepared kernels and the last run's logs")
	flag.StringVar(&kernels, "kernels", "5.10,6.1,6.12,7", "kernel series to test; each takes the newest amd64 build in -suites (\"7\" = newest 7.x)")
	flag.StringVar(&suites, "suites", "bullseye,bullseye-security,bookworm,bookworm-security,trixie-backports", "Debian suites searched for kernel packages")
	flag.StringVar(&pkgs, "pkgs", "", "comma-separated test packages (default: every package whose tests import internal/lab)")
	flag.StringVar(&modules, "modules", "veth,xfrm_user,nfnetlink,nf_tables,nft_ct,nf_conntrack,crc32c_generic,sch_netem,sch_ingress,cls_bpf,act_bpf,act_gact,sch_fq_codel,sch_fq,sch_tbf,sch_htb,sch_prio,sch_sfq,dummy,ifb,macvlan,e1000,virtio_net,virtio_pci,virtio_blk,udp_diag,tcp_diag",
		"modules to load in the guest (with their dependencies) when not built in")
	flag.StringVar(&programs, "programs", "nft", "host programs (names or paths) copied into the guest with their shared libraries")
	flag.StringVar(&qemuArgs, "qemu-args", "-device e1000 -device virtio-net-pci -blockdev null-co,node-name=null0 -device virtio-blk-pci,drive=null0",
		"more qemu arguments: NICs without a backend give real drivers for ethtool ring tests; virtio-blk gives kernel-managed IRQs")
	flag.IntVar(&o.parallel, "parallel", 2, "kernels booted at the same time")
	flag.StringVar(&o.accel, "accel", "auto", "qemu -accel value; auto: kvm when /dev/kvm opens and a kernel boots under it, else single-threaded tcg")
	flag.StringVar(&o.run, "run", "", "passed as -test.run")
	flag.IntVar(&o.crashRetries, "crash-retries", 1, "boots of a kernel again after a guest kernel panic; the panic stays in the report")
	flag.BoolVar(&o.retryFailed, "retry-failed", true, "boot a kernel once more to run only its failed tests (at most 3); a test that passes then is reported as flaky")
	flag.IntVar(&o.memory, "memory", 1024, "guest memory in MiB")
	flag.IntVar(&o.cpus, "smp", 2, "guest CPUs")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit per kernel (boot and all test binaries)")
	flag.DurationVar(&o.testTimeout, "test-timeout", 6*time.Minute, "passed as -test.timeout to each test binary")
	flag.DurationVar(&o.aptMaxAge, "apt-max-age", 12*time.Hour, "refresh the kernel package lists when older")
	flag.BoolVar(&o.install, "install", true, "apt-get install missing host tools (qemu-system-x86, busybox-static, xz-utils, zstd)")
	flag.StringVar(&o.doc, "doc", "docs/kernel-matrix.md", "document whose results section is rewritten (empty: none)")
	flag.StringVar(&o.goTool, "go", "go", "go command used to list and build the tests")
	flag.Parse()
	o.kernels, o.suites, o.pkgs = splitList(kernels), splitList(suites), splitList(pkgs)
	o.modules, o.programs, o.qemuArgs = splitList(modules), splitList(programs), strings.Fields(qemuArgs)

	m, err := run(context.Background(), o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernelmatrix:", err)
		os.Exit(2)
	}
	if m.failed() {
		fmt.Println("kernel matrix: FAILED")
		os.Exit(1)
	}
	fmt.Println("kernel matrix: ok")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// stopwatch records phase durations for the report.
type stopwatch struct {
	mu     sync.Mutex
	phases []phase
}

func (s *stopwatch) time(name string, start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phases = append(s.phases, phase{name, time.Since(start)})
}

func run(ctx context.Context, o options, out io.Writer) (matrix, error) {
	start := time.Now()
	var sw stopwatch
	logf := func(format string, args ...any) { fmt.Fprintf(out, "kernelmatrix: "+format+"\n", args...) }

	unlock, err := lockCache(o.cache, logf)
	if err != nil {
		return matrix{}, err
	}
	defer unlock()

	t := time.Now()
	installed, err := ensureTools(hostTools(o.programs), o.install)
	if err != nil {
		return matrix{}, err
	}
	if len(installed) > 0 {
		logf("installed %s", strings.Join(installed, " "))
	}
	progs, err := resolveGuestPrograms(o.programs)
	if err != nil {
		return matrix{}, err
	}
	sw.time("tools", t)

	work := filepath.Join(o.cache, "work")
	if err := os.RemoveAll(work); err != nil {
		return matrix{}, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return matrix{}, err
	}

	// The tests build while the kernels download and unpack: both take tens of seconds cold.
	var bins []testBinary
	var buildErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer sw.time("build tests", time.Now())
		bins, buildErr = selectAndBuild(o, work)
	}()
	kernels, prepErrs, err := fetchKernels(o, &sw, logf)
	wg.Wait()
	if err != nil {
		return matrix{}, err
	}
	if buildErr != nil {
		return matrix{}, buildErr
	}
	m := matrix{Builds: bins, Prepare: prepErrs}
	for _, b := range bins {
		if b.BuildErr != "" {
			logf("build of %s FAILED:\n%s", b.ImportPath, b.BuildErr)
		}
	}
	testsCPIO := filepath.Join(work, "tests.cpio")
	testArgs := func(run string) []string {
		args := []string{"-test.v=test2json", "-test.count=1", "-test.timeout=" + o.testTimeout.String()}
		if run != "" {
			args = append(args, "-test.run="+run)
		}
		return args
	}
	root, err := moduleRoot(o.goTool)
	if err != nil {
		return matrix{}, err
	}
	if err := writeTestsCPIO(testsCPIO, root, bins, testArgs(o.run), progs); err != nil {
		return matrix{}, fmt.Errorf("tests initramfs: %w", err)
	}

	// The second boot for failed tests gets its own initramfs with a narrower -test.run.
	retryCPIO := func(series, pattern string) (string, error) {
		p := filepath.Join(work, "tests-retry-"+series+".cpio")
		return p, writeTestsCPIO(p, root, bins, testArgs(pattern), progs)
	}

	t = time.Now()
	if o.accel == "auto" && len(kernels) > 0 {
		o.accel = chooseAccel(ctx, kernels[0].Vmlinuz, work, logf)
	}
	m.Runs = bootAll(ctx, o, kernels, testsCPIO, retryCPIO, work, bins, func(r kernelRun) {
		logf("kernel %s (%s): %d passed, %d failed, %d skipped, %d unfinished, %d problems in %s",
			r.Kernel.Series, r.Release, r.count(vm.Pass), r.count(vm.Fail), r.count(vm.Skip), r.count(vm.Unfinished), len(r.Problems), secs(r.Elapsed))
		printFailures(out, r)
	})
	sw.time("boot and test", t)
	m.Timing, m.Total, m.FinishedAt = sw.phases, time.Since(start), time.Now()
	fmt.Fprintln(out)
	m.writeText(out)
	logf("logs of this run: %s; cache %s uses %d MiB", work, o.cache, dirSize(o.cache)>>20)
	if o.doc != "" {
		if err := writeDoc(o.doc, m); err != nil {
			return m, fmt.Errorf("write %s: %w", o.doc, err)
		}
	}
	return m, nil
}

func moduleRoot(goTool string) (string, error) {
	out, err := exec.Command(goTool, "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run kernelmatrix inside the nettune module (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

func selectAndBuild(o options, work string) ([]testBinary, error) {
	patterns := o.pkgs
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	all, err := listPackages(o.goTool, patterns)
	if err != nil {
		return nil, err
	}
	pkgs := all
	if len(o.pkgs) == 0 {
		pkgs = labPackages(all)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no test packages selected")
	}
	return buildTests(o.goTool, pkgs, work), nil
}

// fetchKernels resolves, downloads and prepares each kernel series. A series that cannot be
// prepared is reported, not fatal; failing to reach the package lists at all is.
func fetchKernels(o options, sw *stopwatch, logf func(string, ...any)) ([]kernel, []string, error) {
	t := time.Now()
	apt := newKernelApt(o.cache, o.suites)
	updated, err := apt.update(o.aptMaxAge)
	if err != nil {
		return nil, nil, fmt.Errorf("kernel package lists: %w", err)
	}
	if updated {
		logf("refreshed kernel package lists (%s)", strings.Join(o.suites, " "))
	}
	sw.time("apt lists", t)
	var kernels []kernel
	var problems []string
	var fetchTook, prepTook time.Duration
	for _, series := range o.kernels {
		t := time.Now()
		k, err := apt.resolve(series)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: PROBLEM %v", series, err))
			continue
		}
		seriesDir := filepath.Join(o.cache, "kernels", series)
		debs, fetched, err := apt.download(k, filepath.Join(seriesDir, "debs"))
		fetchTook += time.Since(t)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: PROBLEM %v", series, err))
			continue
		}
		if fetched {
			logf("downloaded %s", strings.Join(k.Packages, " "))
		}
		t = time.Now()
		kr, fresh, err := prepareKernel(k, debs, o.modules, filepath.Join(seriesDir, k.ABI))
		prepTook += time.Since(t)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: PROBLEM %v", series, err))
			continue
		}
		if fresh {
			logf("prepared %s (%s)", kr.Release, kr.Version)
		}
		pruneSeries(seriesDir, k.ABI)
		kernels = append(kernels, kr)
	}
	sw.mu.Lock()
	sw.phases = append(sw.phases, phase{"resolve and download", fetchTook}, phase{"unpack kernels", prepTook})
	sw.mu.Unlock()
	return kernels, problems, nil
}

// pruneSeries removes prepared kernels of older builds in a series directory.
func pruneSeries(dir, keep string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() && e.Name() != keep && e.Name() != "debs" {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// chooseAccel returns kvm only when a kernel prints under it within 30 s (vm.KVMBoots).
func chooseAccel(ctx context.Context, kernel, work string, logf func(string, ...any)) string {
	if vm.Accel() != "kvm" {
		return vm.TCG
	}
	ok, err := vm.KVMBoots(ctx, kernel, work, 30*time.Second)
	switch {
	case err != nil:
		logf("%v; using %s", err, vm.TCG)
	case !ok:
		logf("/dev/kvm opens but a kernel printed nothing under it in 30s; using %s", vm.TCG)
	default:
		return "kvm"
	}
	return vm.TCG
}

// bootAll boots the kernels, o.parallel at a time (the tests spend much of their time
// waiting, so two guests share two host cores well), and returns the runs in kernel order.
// done is called as each kernel finishes, one call at a time.
func bootAll(ctx context.Context, o options, kernels []kernel, testsCPIO string, retryCPIO func(series, pattern string) (string, error),
	work string, bins []testBinary, done func(kernelRun)) []kernelRun {
	runs := make([]kernelRun, len(kernels))
	mode := o.accel
	sem := make(chan struct{}, max(o.parallel, 1))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, k := range kernels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			runs[i] = bootUntilClean(ctx, o.crashRetries, work, k.Series, func() kernelRun {
				return bootKernel(ctx, o, k, mode, testsCPIO, work, bins)
			})
			runs[i] = retryFailures(o.retryFailed, work, runs[i], func(pattern string) kernelRun {
				cpio, err := retryCPIO(k.Series, pattern)
				if err != nil {
					return kernelRun{Problems: []string{"tests initramfs: " + err.Error()}}
				}
				defer os.Remove(cpio)
				return bootKernel(ctx, o, k, mode, cpio, work, bins)
			})
			mu.Lock()
			done(runs[i])
			mu.Unlock()
		}()
	}
	wg.Wait()
	return runs
}

// bootUntilClean boots a kernel (boot) again after a guest kernel panic, up to retries
// times, keeping each crashed boot's logs in work. Emulated guests have panicked in code
// nettune does not drive (docs/kernel-matrix.md); a clean second boot supplies the results
// and the crash stays in the report. A panic on every boot fails the run.
func bootUntilClean(ctx context.Context, retries int, work, series string, boot func() kernelRun) kernelRun {
	var crashes []guestCrash
	for n := 1; ; n++ {
		r := boot()
		if r.crash != nil {
			c := *r.crash
			c.Boot = n
			crashes = append(crashes, c)
		}
		if r.crash == nil || n > retries || ctx.Err() != nil {
			r.Crashes = crashes
			if r.crash != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("guest kernel panicked on every boot (%d)", n))
			}
			return r
		}
		kept := filepath.Join(work, fmt.Sprintf("console-%s-crash%d.log", series, n))
		if err := os.Rename(r.consoleLog, kept); err != nil {
			kept = fmt.Sprintf("%s (not kept: %v)", r.consoleLog, err)
		}
		crashes[len(crashes)-1].Console = kept
		_ = os.Rename(r.guestLog, filepath.Join(work, fmt.Sprintf("tests-%s-crash%d.log", series, n)))
	}
}

// bootKernel boots one kernel with the tests and turns what the guest wrote into results.
func bootKernel(ctx context.Context, o options, k kernel, mode, testsCPIO, work string, bins []testBinary) kernelRun {
	r := kernelRun{Kernel: k, Mode: mode}
	initrd := filepath.Join(work, "initrd-"+k.Series+".cpio")
	defer os.Remove(initrd)
	if err := concatFiles(initrd, testsCPIO, k.ModulesCPIO); err != nil {
		r.Problems = append(r.Problems, "initramfs: "+err.Error())
		return r
	}
	m := vm.Machine{Kernel: k.Vmlinuz, Initrd: initrd, MemoryMiB: o.memory, CPUs: o.cpus, Extra: o.qemuArgs,
		Accel: mode, Timeout: o.timeout,
		ConsoleLog: filepath.Join(work, "console-"+k.Series+".log"),
		GuestLog:   filepath.Join(work, "tests-"+k.Series+".log")}
	r.consoleLog, r.guestLog = m.ConsoleLog, m.GuestLog
	ex, err := m.Run(ctx)
	r.Elapsed = ex.Elapsed
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	f, err := os.Open(m.GuestLog)
	if err != nil {
		r.Problems = append(r.Problems, "no test output: "+err.Error())
		return r
	}
	g, err := vm.ParseGuestLog(f)
	f.Close()
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	r.Release, r.Notes = g.Release, g.Notes
	for _, b := range bins {
		if b.Path != "" {
			r.collect(ctx, o.goTool, b.ImportPath, g)
		}
	}
	switch {
	case ex.TimedOut:
		r.Problems = append(r.Problems, fmt.Sprintf("VM timed out after %s; console: %s", o.timeout, tail(m.ConsoleLog, 3)))
	case !ex.Reported:
		console, _ := os.ReadFile(m.ConsoleLog)
		if oops := parseOops(string(console)); oops != nil {
			r.crash = &guestCrash{During: r.unfinished(), Oops: oops, Console: m.ConsoleLog}
			break // bootUntilClean decides whether it is a problem
		}
		r.Problems = append(r.Problems, "VM ended without reporting (kernel panic?); console: "+tail(m.ConsoleLog, 5))
	case ex.Status != 0 && len(r.Problems) == 0 && r.count(vm.Fail) == 0:
		r.Problems = append(r.Problems, fmt.Sprintf("guest reported status %d without a failing test", ex.Status))
	case len(r.Results) == 0:
		r.Problems = append(r.Problems, "no test ran (check -run and -pkgs)")
	}
	return r
}

// collect adds one package's results from the guest log, and a problem when its binary did
// not run to completion or exited non-zero without a failing test to show for it.
func (r *kernelRun) collect(ctx context.Context, goTool, pkg string, g vm.GuestLog) {
	var run *vm.PackageRun
	for i := range g.Packages {
		if g.Packages[i].ImportPath == pkg {
			run = &g.Packages[i]
		}
	}
	if run == nil {
		r.Problems = append(r.Problems, shortPkg(pkg)+": test binary never started")
		return
	}
	r.PkgTimes = append(r.PkgTimes, pkgTime{pkg, run.Seconds})
	events, err := vm.Test2JSON(ctx, goTool, pkg, run.Output)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return
	}
	res, err := vm.ParseEvents(bytes.NewReader(events))
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return
	}
	failed := 0
	for _, t := range res {
		if t.Outcome == vm.Fail || t.Outcome == vm.Unfinished {
			failed++
		}
	}
	switch {
	case !run.Finished:
		r.Problems = append(r.Problems, fmt.Sprintf("%s: test binary did not finish: %s", shortPkg(pkg), lastLines(string(run.Output), 3)))
	case run.Exit != 0 && failed == 0:
		r.Problems = append(r.Problems, fmt.Sprintf("%s: test binary exited %d: %s", shortPkg(pkg), run.Exit, lastLines(string(run.Output), 3)))
	}
	r.Results = append(r.Results, res...)
}

func printFailures(w io.Writer, r kernelRun) {
	for _, t := range r.Results {
		if t.Outcome == vm.Fail || t.Outcome == vm.Unfinished {
			fmt.Fprintf(w, "--- %s %s %s on %s:\n%s\n", strings.ToUpper(string(t.Outcome)), shortPkg(t.Package), t.Test, r.Kernel.Series, t.Output)
		}
	}
	for _, f := range r.Flakes {
		fmt.Fprintf(w, "--- FLAKY %s %s on %s: failed on the first boot, passed on a second boot:\n%s\n", shortPkg(f.Key.Pkg), f.Key.Test, r.Kernel.Series, f.Output)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "--- PROBLEM on %s: %s\n", r.Kernel.Series, p)
	}
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLines(strings.ReplaceAll(string(data), "\r", ""), n)
}

// dirSize adds up the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func concatFiles(dst string, srcs ...string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		in, err := os.Open(s)
		if err != nil {
			out.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}
