package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// Credentials of the provider fakes; "SECRET" marks what must never be
// printed.
const (
	coinbarClientID = "cb-client-SECRET"
	coinbarSecret   = "cb-signing-SECRET"
	muvinaiKey      = "mv-key-SECRET"
	webhookToken    = "hook-SECRET"
)

// provider is the configuration of the provider called name.
func (c serveConfig) provider(name string) providerConfig {
	for _, p := range c.providers {
		if p.Name == name {
			return p
		}
	}
	return providerConfig{}
}

// binDir holds the paybridge and paysim binaries, built once (without
// -race, to save time) for the tests that run them as processes.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary returns the path of a built command: "paybridge" or "paysim".
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "paybridge-bin-"); buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), ".", "../paysim").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// testEnv is the environment of a child process: this process's, without
// any PAYBRIDGE_ variable, plus extra.
func testEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// proc is a running paybridge (or paysim) process.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *testkit.SyncBuffer
	done           chan struct{}
	exit           int
}

// start runs the named binary with args and env; the process is killed
// at cleanup if the test left it running.
func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(binary(t, name), args...), stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var exitErr *exec.ExitError
		switch {
		case errors.As(err, &exitErr):
			p.exit = exitErr.ExitCode()
		case err != nil:
			p.exit = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit status once the process has ended.
func (p *proc) wait(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exit
	case <-time.After(within):
		p.t.Fatalf("%s did not exit within %s\nstdout:\n%s\nstderr:\n%s", p.cmd.Args, within, p.stdout, p.stderr)
		return 0
	}
}

// stop sends SIGTERM and returns the exit status.
func (p *proc) stop() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	return p.wait(40 * time.Second)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// run runs paybridge to its end and returns its output and exit status.
func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := start(t, "paybridge", env, args...)
	code = p.wait(30 * time.Second)
	return p.stdout.String(), p.stderr.String(), code
}

// logLine is one JSON log line of serve, with the fields tests read.
type logLine struct {
	Msg   string `json:"msg"`
	Addr  string `json:"addr"`
	URL   string `json:"url"`
	HTTP  string `json:"http"`
	Admin string `json:"admin"`
	NATS  string `json:"nats"`
}

// logged returns the first JSON log line with the message msg.
func (p *proc) logged(msg string) (logLine, bool) {
	for _, line := range p.stderr.Lines() {
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == msg {
			return l, true
		}
	}
	return logLine{}, false
}

// serveProc is a running `paybridge serve`.
type serveProc struct {
	*proc
	httpURL  string // http://host:port of --http-listen
	adminURL string // http://host:port of --admin-listen
	natsURL  string
}

// startServe runs serve with JSON logs and free HTTP ports, and returns
// once it has logged that it is ready and /readyz answers 200.
func startServe(t *testing.T, env []string, args ...string) *serveProc {
	t.Helper()
	args = append([]string{"serve", "--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}, args...)
	s := &serveProc{proc: start(t, "paybridge", env, args...)}
	var ready logLine
	testkit.WaitFor(t, 20*time.Second, "serve to log that it is ready", func() bool {
		if s.exited() {
			t.Fatalf("serve exited with %d before it was ready:\n%s", s.exit, s.stderr)
		}
		var ok bool
		ready, ok = s.logged("paybridge ready")
		return ok
	})
	s.httpURL, s.adminURL, s.natsURL = "http://"+ready.HTTP, "http://"+ready.Admin, ready.NATS
	testkit.WaitFor(t, 10*time.Second, "/readyz to answer 200", func() bool {
		code, _ := httpGet(t, s.httpURL+"/readyz")
		return code == http.StatusOK
	})
	return s
}

// httpGet returns the status and body of a GET, or 0 when nothing answers.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// httpPost posts a JSON body and returns the status and response body.
func httpPost(t *testing.T, url, body string) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// natsServer is a test NATS server with JetStream; start(port) after
// shutdown brings it back on the same port and store.
type natsServer struct {
	t        *testing.T
	storeDir string
	auth     func(*natsserver.Options) // sets the server's authentication; nil: none
	srv      *natsserver.Server
	url      string // without credentials
}

func startNATS(t *testing.T) *natsServer { return startNATSWith(t, nil) }

// startNATSWith starts a server on a free port whose authentication auth
// sets.
func startNATSWith(t *testing.T, auth func(*natsserver.Options)) *natsServer {
	t.Helper()
	n := &natsServer{t: t, storeDir: t.TempDir(), auth: auth}
	n.start(-1)
	t.Cleanup(n.shutdown)
	return n
}

func (n *natsServer) start(port int) {
	n.t.Helper()
	s, err := natsserver.NewServer(n.options(port))
	if err != nil {
		n.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		n.t.Fatalf("NATS server on port %d not ready within 10s", port)
	}
	n.srv, n.url = s, s.ClientURL()
}

// options are the server's options now, for start and ReloadOptions.
func (n *natsServer) options(port int) *natsserver.Options {
	opts := &natsserver.Options{ServerName: "test", Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: n.storeDir, NoSigs: true, NoLog: true}
	if n.auth != nil {
		n.auth(opts)
	}
	return opts
}

// port is the port the server listens on.
func (n *natsServer) port() int { return n.srv.Addr().(*net.TCPAddr).Port }

// urlWith is the server's URL carrying userinfo, such as "user:pass" or a
// token.
func (n *natsServer) urlWith(userinfo string) string {
	return strings.Replace(n.url, "nats://", "nats://"+userinfo+"@", 1)
}

func (n *natsServer) shutdown() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

// fakes are both providers' fake APIs over real HTTP.
type fakes struct {
	coinbar        *coinbar.Fake
	muvinai        *muvinai.Fake
	cbURL, mvURL   string
	coinbarKeyFile string // holds coinbarClientID and a newline
}

func startFakes(t *testing.T) *fakes {
	t.Helper()
	f := &fakes{}
	var err error
	if f.coinbar, err = coinbar.NewFake(coinbarClientID, coinbarSecret); err != nil {
		t.Fatal(err)
	}
	if f.muvinai, err = muvinai.NewFake(muvinaiKey); err != nil {
		t.Fatal(err)
	}
	cb, mv := httptest.NewServer(f.coinbar), httptest.NewServer(f.muvinai)
	t.Cleanup(cb.Close)
	t.Cleanup(mv.Close)
	f.cbURL, f.mvURL = cb.URL, mv.URL
	f.coinbarKeyFile = filepath.Join(t.TempDir(), "coinbar-key")
	if err := os.WriteFile(f.coinbarKeyFile, []byte(coinbarClientID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// serveEnv configures both providers of serve: the CoinbarPay key from a
// file, the other secrets from variables.
func (f *fakes) serveEnv() []string {
	return testEnv(
		"PAYBRIDGE_COINBAR_API_KEY_FILE="+f.coinbarKeyFile,
		"PAYBRIDGE_COINBAR_SECRET_KEY="+coinbarSecret,
		"PAYBRIDGE_MUVINAI_API_KEY="+muvinaiKey,
		"PAYBRIDGE_MUVINAI_WEBHOOK_TOKEN="+webhookToken,
		"PAYBRIDGE_COINBAR_BASE_URL="+f.cbURL,
		"PAYBRIDGE_MUVINAI_BASE_URL="+f.mvURL,
	)
}

// firstLine is the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// scanLines calls f with each line of s.
func scanLines(s string, f func(string)) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f(sc.Text())
	}
}

// noSecrets fails the test if any output shows a credential.
func noSecrets(t *testing.T, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		if strings.Contains(out, "SECRET") {
			t.Errorf("a secret was printed:\n%s", out)
		}
	}
}

// background is a context for calls that need one in tests.
func background(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
