// Package systemd_test checks what `make install` puts on a robot: the
// files and their paths, that the installed example config passes `garssld
// check`, that systemd 252 accepts the unit, that its hardening keeps
// `systemd-analyze security` exposure at or below 2.0, and that the binary
// runs under MemoryDenyWriteExecute.
package systemd_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/garssl/garssld/internal/testmedia"
)

// maxExposure is the highest overall exposure `systemd-analyze security`
// may give the unit (Debian's mosquitto unit scores 9.6, node_exporter's
// upstream example 4.6).
const maxExposure = 2.0

// installed runs `make install` once per PREFIX for the whole package.
var installed sync.Map // prefix → *installResult

type installResult struct {
	once   sync.Once
	root   string
	output string
	err    error
}

// makeInstall installs into a fresh DESTDIR with PREFIX=prefix ("" for the
// Makefile's default) and returns the DESTDIR.
func makeInstall(t *testing.T, prefix string) (root, output string) {
	t.Helper()
	v, _ := installed.LoadOrStore(prefix, &installResult{})
	r := v.(*installResult)
	r.once.Do(func() {
		// Not t.TempDir: the result outlives the first test that uses it.
		dir, err := os.MkdirTemp("", "garssl-install")
		if err != nil {
			r.err = err
			return
		}
		r.root = filepath.Join(dir, "root")
		args := []string{"-C", "..", "install", "DESTDIR=" + r.root, "BIN=" + filepath.Join(dir, "bin")}
		if prefix != "" {
			args = append(args, "PREFIX="+prefix)
		}
		out, err := exec.Command("make", args...).CombinedOutput()
		r.output = string(out)
		if err != nil {
			r.err = fmt.Errorf("make %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.root, r.output
}

func TestMain(m *testing.M) {
	if os.Getenv(mdweEnv) != "" {
		execUnderMDWE(os.Args[1:])
	}
	code := m.Run()
	installed.Range(func(_, v any) bool {
		if r := v.(*installResult); r.root != "" {
			os.RemoveAll(filepath.Dir(r.root))
		}
		return true
	})
	os.Exit(code)
}

func TestMakeInstall(t *testing.T) {
	for _, tt := range []struct{ name, prefix, bindir, unitdir, sysusersdir, docdir string }{
		{"PREFIX=/usr", "/usr", "/usr/bin", "/usr/lib/systemd/system", "/usr/lib/sysusers.d", "/usr/share/doc/garssld"},
		{"default PREFIX", "", "/usr/local/bin", "/usr/local/lib/systemd/system", "/usr/local/lib/sysusers.d", "/usr/local/share/doc/garssld"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root, _ := makeInstall(t, tt.prefix)
			for path, mode := range map[string]fs.FileMode{
				tt.bindir + "/garssld":               0o755,
				tt.bindir + "/omnisim":               0o755,
				tt.unitdir + "/garssld.service":      0o644,
				tt.sysusersdir + "/garssld.conf":     0o644,
				tt.docdir + "/README.md":             0o644,
				tt.docdir + "/garssld.reference.hcl": 0o644,
				"/etc/garssl/garssld.hcl":            0o644, // no secrets in it: they go to /etc/credstore
			} {
				fi, err := os.Stat(filepath.Join(root, path))
				if err != nil {
					t.Errorf("not installed: %v", err)
					continue
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), mode)
				}
			}

			unit := readFile(t, filepath.Join(root, tt.unitdir, "garssld.service"))
			wantExec := "ExecStart=" + tt.bindir + "/garssld run --config /etc/garssl/garssld.hcl"
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(wantExec) + `$`).MatchString(unit) {
				t.Errorf("the installed unit lacks %q:\n%s", wantExec, directives(unit))
			}
			if want := "Documentation=file:" + tt.docdir + "/README.md"; !strings.Contains(unit, want) {
				t.Errorf("the installed unit lacks %q", want)
			}
			if tt.bindir != "/usr/local/bin" && strings.Contains(unit, "/usr/local/") {
				t.Errorf("the unit installed with PREFIX=%s still names /usr/local", tt.prefix)
			}
			// systemd-sysusers finds the installed file and makes the
			// unit's user from it.
			if !strings.Contains(unit, "\nUser=garssl\n") {
				t.Error("the unit does not run as garssl")
			}
			if out, err := exec.Command("systemd-sysusers", "--root="+root, "garssld.conf").CombinedOutput(); err != nil {
				t.Errorf("systemd-sysusers --root=%s garssld.conf: %v\n%s", root, err, out)
			}
			if passwd := readFile(t, filepath.Join(root, "etc/passwd")); !regexp.MustCompile(`(?m)^garssl:x:\d+:\d+:[^:]*:/var/lib/garssl:/usr/sbin/nologin$`).MatchString(passwd) {
				t.Errorf("systemd-sysusers made no garssl user with home /var/lib/garssl:\n%s", passwd)
			}

			// The config a fresh install gets passes check, as installed.
			bin := filepath.Join(root, tt.bindir, "garssld")
			cfg := filepath.Join(root, "etc/garssl/garssld.hcl")
			cmd := exec.Command(bin, "check", "--config", cfg)
			cmd.Env = append(os.Environ(), "CREDENTIALS_DIRECTORY=")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok (1 streams)") {
				t.Errorf("garssld check on the installed config: %v\n%s", err, out)
			}

			verifyUnit(t, root, "garssld.service")
			score, report := exposure(t, root, "garssld.service")
			if score > maxExposure {
				t.Errorf("exposure %.1f, want at most %.1f", score, maxExposure)
			}
			// systemd itself read the device rules that cameras and
			// microphones need (and ProtectClock's rtc).
			if !strings.Contains(report, "char-alsa:rw char-video4linux:rw") {
				t.Errorf("systemd-analyze does not see the camera and microphone device rules:\n%s", report)
			}
		})
	}
}

func TestMakeInstallKeepsAnEditedConfig(t *testing.T) {
	root, _ := makeInstall(t, "/usr")
	cfg := filepath.Join(root, "etc/garssl/garssld.hcl")
	edited := "# the operator's own\nhttp {\n  listen = \"127.0.0.1:9999\"\n}\n"
	if err := os.WriteFile(cfg, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("make", "-C", "..", "install", "DESTDIR="+root, "PREFIX=/usr",
		"BIN="+filepath.Join(filepath.Dir(root), "bin")).CombinedOutput()
	if err != nil {
		t.Fatalf("second make install: %v\n%s", err, out)
	}
	if got := readFile(t, cfg); got != edited {
		t.Errorf("make install replaced the operator's config with:\n%s", got)
	}
	if !strings.Contains(string(out), "kept the existing") {
		t.Errorf("make install did not say it kept the config:\n%s", out)
	}
}

// TestUnitKeepsWhatGarssldNeeds pins the directives a lower exposure score
// would not defend: removing a device rule scores better and breaks every
// camera.
func TestUnitKeepsWhatGarssldNeeds(t *testing.T) {
	got := unitDirectives(t, readFile(t, "garssld.service"))
	for key, want := range map[string][]string{
		"Type":                     {"notify"}, // systemd 252 has no notify-reload
		"NotifyAccess":             {"main"},
		"ExecReload":               {"/bin/kill -HUP $MAINPID"},
		"Restart":                  {"on-failure"},
		"RestartPreventExitStatus": {"2"},
		"WatchdogSec":              {"30s"},
		"TimeoutStopSec":           {"30s"}, // above shutdown_timeout (10 s) plus the MQTT flush
		"User":                     {"garssl"},
		"SupplementaryGroups":      {"audio video"},
		"StateDirectory":           {"garssl"},
		"ConfigurationDirectory":   {"garssl"},
		"DevicePolicy":             {"closed"},
		"DeviceAllow":              {"char-video4linux rw", "char-alsa rw"},
		"RestrictAddressFamilies":  {"AF_UNIX AF_INET AF_INET6"},
		"LoadCredential":           {"garssl.mllm.key", "garssl.mqtt.pass", "garssl.mqtt-client.key"},
		"Wants":                    {"network-online.target", "modprobe@videodev.service modprobe@snd.service"},
		"After":                    {"network-online.target", "modprobe@videodev.service modprobe@snd.service sound.target"},
		"PrivateDevices":           nil, // it would hide /dev/video* and /dev/snd
		"IPAddressDeny":            nil, // cameras, broker and model server may be anywhere
		"ProcSubset":               nil, // ALSA reads /proc/asound; the process collector /proc/stat
	} {
		if strings.Join(got[key], "|") != strings.Join(want, "|") {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
	if !strings.HasPrefix(strings.Join(got["ExecStart"], ""), "/usr/local/bin/garssld run --config /etc/garssl/garssld.hcl") {
		t.Errorf("ExecStart = %q", got["ExecStart"])
	}
}

// unitDirectives maps each directive of a unit file to its values, in order.
func unitDirectives(t *testing.T, unit string) map[string][]string {
	t.Helper()
	d := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q is not key=value", line)
		}
		d[k] = append(d[k], v)
	}
	return d
}

// TestUnitChecksCatchMistakes shows that the checks above can fail: a
// misspelt directive fails verify, a missing binary fails verify, and the
// unit without its hardening scores above the limit.
func TestUnitChecksCatchMistakes(t *testing.T) {
	installedRoot, _ := makeInstall(t, "/usr")
	unit := readFile(t, filepath.Join(installedRoot, "usr/lib/systemd/system/garssld.service"))

	t.Run("misspelt directive", func(t *testing.T) {
		root := stagedRoot(t, strings.Replace(unit, "ProtectHome=yes", "ProtectHomes=yes", 1), true)
		if out, err := runVerify(root, "garssld.service"); err == nil && out == "" {
			t.Error("verify accepted ProtectHomes=")
		} else if !strings.Contains(out, "ProtectHomes") {
			t.Errorf("verify did not name the bad directive:\n%s", out)
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		root := stagedRoot(t, unit, false)
		if out, err := runVerify(root, "garssld.service"); err == nil || !strings.Contains(out, "/usr/bin/garssld") {
			t.Errorf("verify accepted a unit whose ExecStart does not exist (%v):\n%s", err, out)
		}
	})
	t.Run("no hardening", func(t *testing.T) {
		var kept []string
		inHardening := false
		for _, line := range strings.Split(unit, "\n") {
			if strings.HasPrefix(line, "# Cameras (V4L2)") {
				inHardening = true
			}
			if strings.HasPrefix(line, "[Install]") {
				inHardening = false
			}
			if !inHardening {
				kept = append(kept, line)
			}
		}
		root := stagedRoot(t, strings.Join(kept, "\n"), true)
		if score, _ := exposure(t, root, "garssld.service"); score <= maxExposure {
			t.Errorf("the unit without hardening scores %.1f, within the limit: the check cannot fail", score)
		}
	})
}

// stagedRoot makes a root holding unit as /usr/lib/systemd/system/garssld.service
// and, if withBinary, a stand-in /usr/bin/garssld.
func stagedRoot(t *testing.T, unit string, withBinary bool) string {
	t.Helper()
	root := t.TempDir()
	unitDir := filepath.Join(root, "usr/lib/systemd/system")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unitDir, "garssld.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if withBinary {
		copyFile(t, "/bin/true", filepath.Join(root, "usr/bin/garssld"), 0o755)
	}
	return root
}

// verifyUnit runs systemd-analyze verify on name inside root and requires
// that it passes without a single warning.
func verifyUnit(t *testing.T, root, name string) {
	t.Helper()
	out, err := runVerify(root, name)
	if err != nil || out != "" {
		t.Errorf("systemd-analyze verify --root=%s %s: %v\n%s", root, name, err, out)
	}
}

// runVerify runs `systemd-analyze verify --root=ROOT NAME`. systemd is
// not PID 1 here and the unit is not installed on the host, so the unit
// is checked inside root, as an image would be; verify loads the unit's
// dependencies (sysinit.target, modprobe@.service, …) and checks that
// every Exec path exists in root, so the host's units and /bin/kill
// (ExecReload) are added to root first, without replacing anything
// installed there.
func runVerify(root, name string) (string, error) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return "", fmt.Errorf("systemd-analyze is missing: install the systemd package (make deps): %w", err)
	}
	if err := addHostUnits(root); err != nil {
		return "", err
	}
	cmd := exec.Command(analyze, "verify", "--root="+root, name)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

var exposureLine = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9]+\.[0-9]+)`)

// exposure runs `systemd-analyze security --offline=yes` on name inside
// root and returns the overall exposure and the report. --threshold
// (tenths) makes systemd-analyze itself fail above the limit too.
func exposure(t *testing.T, root, name string) (float64, string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is missing: install the systemd package (make deps): %v", err)
	}
	if err := addHostUnits(root); err != nil {
		t.Fatal(err)
	}
	threshold := strconv.Itoa(int(maxExposure * 10))
	cmd := exec.Command(analyze, "security", "--offline=yes", "--root="+root, "--threshold="+threshold, "--no-pager", name)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=")
	out, runErr := cmd.CombinedOutput()
	m := exposureLine.FindStringSubmatch(string(out))
	if m == nil || m[1] != name {
		t.Fatalf("systemd-analyze security printed no exposure for %s (%v):\n%s", name, runErr, out)
	}
	score, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security --offline=yes --root=%s --threshold=%s %s: exposure %.1f", root, threshold, name, score)
	if (runErr == nil) != (score <= maxExposure) {
		t.Errorf("systemd-analyze exit %v disagrees with exposure %.1f and threshold %s", runErr, score, threshold)
	}
	if score > maxExposure {
		t.Logf("failing items:\n%s", failingItems(string(out)))
	}
	return score, string(out)
}

// failingItems keeps the ✗ lines of a security report.
func failingItems(report string) string {
	var b strings.Builder
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, "✗") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// addHostUnits copies the host's units and /usr/bin/kill into root where
// root has none by those names, and makes /bin point at usr/bin as on
// merged-/usr Debian 12.
func addHostUnits(root string) error {
	const hostUnits = "/usr/lib/systemd/system"
	dst := filepath.Join(root, hostUnits)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(hostUnits)
	if err != nil {
		return fmt.Errorf("the host's systemd units: %w", err)
	}
	for _, e := range entries {
		to := filepath.Join(dst, e.Name())
		if _, err := os.Lstat(to); err == nil {
			continue
		}
		from := filepath.Join(hostUnits, e.Name())
		if err := copyEntry(from, to); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(root, "bin")); errors.Is(err, fs.ErrNotExist) {
		if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/kill")); errors.Is(err, fs.ErrNotExist) {
		return copyEntry("/usr/bin/kill", filepath.Join(root, "usr/bin/kill"))
	}
	return nil
}

// copyEntry copies a regular file or a symlink; directories (*.wants) are
// copied recursively.
func copyEntry(from, to string) error {
	fi, err := os.Lstat(from)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		return os.Symlink(target, to)
	case fi.IsDir():
		return os.CopyFS(to, os.DirFS(from))
	default:
		b, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	}
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// directives drops the comments of a unit, for messages.
func directives(unit string) string {
	var b strings.Builder
	for _, line := range strings.Split(unit, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// mdweEnv makes the test binary a launcher that turns on the kernel's
// Memory-Deny-Write-Execute and execs its arguments.
const mdweEnv = "GARSSL_TEST_EXEC_UNDER_MDWE"

// execUnderMDWE sets PR_SET_MDWE(PR_MDWE_REFUSE_EXEC_GAIN), which, like
// systemd's MemoryDenyWriteExecute=, refuses writable executable
// mappings and making memory executable later; it survives execve. Exit
// code 3 means the kernel lacks it (before Linux 6.3).
func execUnderMDWE(argv []string) {
	const prSetMDWE, mdweRefuseExecGain = 65, 1
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetMDWE, mdweRefuseExecGain, 0, 0, 0, 0); e != 0 {
		fmt.Fprintf(os.Stderr, "prctl(PR_SET_MDWE): %v\n", e)
		os.Exit(3)
	}
	if m, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE|syscall.PROT_EXEC, syscall.MAP_PRIVATE|syscall.MAP_ANON); err == nil {
		syscall.Munmap(m)
		fmt.Fprintln(os.Stderr, "PR_SET_MDWE is not in effect: a writable executable mapping succeeded")
		os.Exit(4)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, mdweEnv+"=") {
			env = append(env, kv)
		}
	}
	err := syscall.Exec(argv[0], argv, env)
	fmt.Fprintf(os.Stderr, "exec %s: %v\n", argv[0], err)
	os.Exit(5)
}

// TestRunsUnderMemoryDenyWriteExecute decodes, scales and encodes a clip
// with the installed binary under the kernel's W^X enforcement, so that
// the unit's MemoryDenyWriteExecute=yes cannot break cgo and FFmpeg.
func TestRunsUnderMemoryDenyWriteExecute(t *testing.T) {
	root, _ := makeInstall(t, "/usr")
	bin := filepath.Join(root, "usr/bin/garssld")
	dir := t.TempDir()
	clip := testmedia.File(t, dir, "clip.mp4", testmedia.Args(testmedia.TestPattern(640, 360, 25, 4),
		testmedia.Sine(0.5, 440, 48000, 2, 4), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"})...)
	out := filepath.Join(dir, "out")

	underMDWE := func(args ...string) (string, int) {
		cmd := exec.Command(os.Args[0], append([]string{bin}, args...)...)
		cmd.Env = append(os.Environ(), mdweEnv+"=1")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return buf.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return buf.String(), 0
	}

	text, code := underMDWE("version")
	if code == 3 {
		t.Skipf("this kernel lacks PR_SET_MDWE (Linux 6.3+), so MemoryDenyWriteExecute compatibility is not checked here: %s", text)
	}
	if code != 0 || !strings.Contains(text, "libavcodec") {
		t.Fatalf("garssld version under MDWE: exit %d\n%s", code, text)
	}
	text, code = underMDWE("dump", "--input", clip, "--out", out)
	if code != 0 {
		t.Fatalf("garssld dump under MDWE: exit %d\n%s", code, text)
	}
	for _, name := range []string{"w000001.jpg", "w000001.wav", "w000001.json"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("dump under MDWE wrote no %s: %v\n%s", name, err, text)
		}
	}
}
