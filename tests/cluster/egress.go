package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ForwardAnnotation on a Service names the 127.0.0.1 port that stands for it. There is no
// kube-proxy here, so a ClusterIP leads nowhere; the API server's "cluster" egress (webhooks
// and other in-cluster calls by Service) goes through this process's HTTP CONNECT proxy,
// which sends a connection for <clusterIP>:<port> to the annotated loopback port. TLS is
// end to end (the API server still verifies the webhook's certificate against the Service's
// DNS name), so a chart's webhook configurations work unchanged.
const ForwardAnnotation = "testcluster.awslbc.test/forward-to-port"

const egressConfig = `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`

// egressProxy listens on a Unix socket and answers CONNECT requests.
type egressProxy struct {
	listener net.Listener
	sockDir  string
	server   string
	client   *http.Client
	log      *os.File
}

func startEgressProxy(dir, server string, p *pki) (*egressProxy, string, error) {
	// A short path: a Unix socket's name is limited to 108 bytes.
	sockDir, err := os.MkdirTemp("", "testcluster-egress-")
	if err != nil {
		return nil, "", err
	}
	sock := filepath.Join(sockDir, "proxy.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, "", err
	}
	pair, err := tls.X509KeyPair(p.admin.cert, p.admin.key)
	if err != nil {
		return nil, "", err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.admin.ca)
	logFile, err := os.Create(filepath.Join(dir, "egress-proxy.log"))
	if err != nil {
		return nil, "", err
	}
	e := &egressProxy{
		listener: l,
		sockDir:  sockDir,
		server:   server,
		log:      logFile,
		client: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots}},
		},
	}
	configPath := filepath.Join(dir, "egress-selector.yaml")
	if err := os.WriteFile(configPath, []byte(fmt.Sprintf(egressConfig, sock)), 0o600); err != nil {
		return nil, "", err
	}
	go e.serve()
	return e, configPath, nil
}

func (e *egressProxy) close() {
	e.listener.Close()
	e.log.Close()
	os.RemoveAll(e.sockDir)
}

func (e *egressProxy) serve() {
	for {
		conn, err := e.listener.Accept()
		if err != nil {
			return
		}
		go e.handle(conn)
	}
}

func (e *egressProxy) handle(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	reader := bufio.NewReader(conn)
	req, err := http.ReadRequest(reader)
	if err != nil || req.Method != http.MethodConnect {
		fmt.Fprintf(conn, "HTTP/1.1 400 Bad Request\r\n\r\n")
		return
	}
	target, err := e.resolve(req.Host)
	if err != nil {
		fmt.Fprintf(e.log, "%s CONNECT %s: %v\n", time.Now().Format(time.RFC3339), req.Host, err)
		fmt.Fprintf(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	upstream, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		fmt.Fprintf(e.log, "%s CONNECT %s -> %s: %v\n", time.Now().Format(time.RFC3339), req.Host, target, err)
		fmt.Fprintf(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer upstream.Close()
	fmt.Fprintf(e.log, "%s CONNECT %s -> %s\n", time.Now().Format(time.RFC3339), req.Host, target)
	fmt.Fprintf(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	_ = conn.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, reader); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, upstream); done <- struct{}{} }()
	<-done
}

// resolve finds the Service whose ClusterIP is the CONNECT host and returns the loopback
// address its annotation names.
func (e *egressProxy) resolve(hostPort string) (string, error) {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", err
	}
	resp, err := e.client.Get(e.server + "/api/v1/services")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			Metadata struct {
				Name        string            `json:"name"`
				Namespace   string            `json:"namespace"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec struct {
				ClusterIP string `json:"clusterIP"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return "", err
	}
	for _, svc := range list.Items {
		if svc.Spec.ClusterIP != host {
			continue
		}
		port := strings.TrimSpace(svc.Metadata.Annotations[ForwardAnnotation])
		if port == "" {
			return "", fmt.Errorf("service %s/%s has no %s annotation", svc.Metadata.Namespace, svc.Metadata.Name, ForwardAnnotation)
		}
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	return "", fmt.Errorf("no service has cluster IP %s", host)
}
