package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Controllers of kube-controller-manager left out: those that need nodes, kubelets, a cloud
// or signing keys, and the Endpoints/EndpointSlice controllers (no pod ever runs here, so
// tests write the EndpointSlices themselves). The rest run: namespace deletion, garbage
// collection, deployments and replica sets, service accounts, ...
const disabledControllers = "-node-ipam-controller,-node-lifecycle-controller,-taint-eviction-controller," +
	"-device-taint-eviction-controller,-persistentvolume-attach-detach-controller," +
	"-persistentvolume-expander-controller,-service-cidr-controller,-endpoints-controller," +
	"-endpointslice-controller,-endpointslice-mirroring-controller," +
	"-certificatesigningrequest-signing-controller"

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory (PKI, etcd data, kubeconfig, logs)")
	parentPID := fs.Int("parent-pid", 0, "stop when this process is gone (0: never)")
	withKCM := fs.Bool("controller-manager", true, "also run kube-controller-manager")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	*dir = abs

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *parentPID > 0 {
		ctx = watchParent(ctx, *parentPID)
	}

	p, err := writePKI(*dir)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdURL, apiPort, peerPort := "http://127.0.0.1:"+strconv.Itoa(ports[0]), ports[1], ports[2]

	etcd, err := startEtcd(filepath.Join(*dir, "etcd"), etcdURL, peerPort)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	kubeconfig := filepath.Join(*dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, p); err != nil {
		return err
	}

	proxy, egressPath, err := startEgressProxy(*dir, server, p)
	if err != nil {
		return fmt.Errorf("egress proxy: %w", err)
	}
	defer proxy.close()

	apiserver, err := startChild(self, filepath.Join(*dir, "kube-apiserver.log"), "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+p.serverCert,
		"--tls-private-key-file="+p.serverKey,
		"--client-ca-file="+p.caCert,
		"--requestheader-client-ca-file="+p.proxyCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+p.proxyCert,
		"--proxy-client-key-file="+p.proxyKey,
		"--service-account-key-file="+p.serviceAccountPub,
		"--service-account-signing-key-file="+p.serviceAccountKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--egress-selector-config-file="+egressPath,
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	defer apiserver.stop()

	if err := waitReady(ctx, server, p, apiserver); err != nil {
		return err
	}

	if *withKCM {
		kcm, err := startChild(self, filepath.Join(*dir, "kube-controller-manager.log"), "kube-controller-manager",
			"--kubeconfig="+kubeconfig,
			"--authentication-kubeconfig="+kubeconfig,
			"--authorization-kubeconfig="+kubeconfig,
			"--leader-elect=false",
			"--use-service-account-credentials=false",
			"--bind-address=127.0.0.1",
			"--secure-port=0",
			"--controllers=*,"+disabledControllers,
			"--root-ca-file="+p.caCert,
			"--service-account-private-key-file="+p.serviceAccountKey,
			"--concurrent-gc-syncs=5",
			"--namespace-sync-period=10s",
			"--v=1",
		)
		if err != nil {
			return err
		}
		defer kcm.stop()
	}

	env := fmt.Sprintf("KUBECONFIG=%s\nTESTCLUSTER_SERVER=%s\nTESTCLUSTER_PID=%d\n", kubeconfig, server, os.Getpid())
	if err := os.WriteFile(filepath.Join(*dir, "env"), []byte(env), 0o600); err != nil {
		return err
	}
	fmt.Printf("ready %s\n", kubeconfig)

	select {
	case <-ctx.Done():
	case <-apiserver.exited:
		return fmt.Errorf("kube-apiserver exited; see %s", apiserver.log)
	}
	return nil
}

// watchParent cancels the context once the given process is gone, so a test process
// that dies without stopping us does not leave a control plane behind.
func watchParent(parent context.Context, pid int) context.Context {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if syscall.Kill(pid, 0) != nil || os.Getppid() != pid {
					cancel()
					return
				}
			}
		}
	}()
	return ctx
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func startEtcd(dataDir, clientURL string, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "testcluster"
	cfg.Dir = dataDir
	client, err := url.Parse(clientURL)
	if err != nil {
		return nil, err
	}
	peer, err := url.Parse("http://127.0.0.1:" + strconv.Itoa(peerPort))
	if err != nil {
		return nil, err
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{filepath.Join(filepath.Dir(dataDir), "etcd.log")}
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("not ready after 60s")
	}
}

type child struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startChild(self, logPath, name string, args ...string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{name}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The kernel ends the child if this process dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	return c, nil
}

// stop sends SIGTERM to the child by its PID and SIGKILL after 10 s.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

func waitReady(ctx context.Context, server string, p *pki, apiserver *child) error {
	pair, err := tls.X509KeyPair(p.admin.cert, p.admin.key)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.admin.ca)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots}},
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-apiserver.exited:
			return fmt.Errorf("kube-apiserver exited before it was ready; see %s", apiserver.log)
		case <-time.After(250 * time.Millisecond):
		}
		resp, err := client.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("kube-apiserver not ready after 3 min; see %s", apiserver.log)
}

func writeKubeconfig(path, server string, p *pki) error {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	var sb strings.Builder
	fmt.Fprintf(&sb, `apiVersion: v1
kind: Config
clusters:
- name: testcluster
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: testcluster
  context:
    cluster: testcluster
    user: admin
current-context: testcluster
`, server, b64(p.admin.ca), b64(p.admin.cert), b64(p.admin.key))
	return os.WriteFile(path, []byte(sb.String()), 0o600)
}
