package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// authority is a CA key pair that signs the serving and client certificates.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newAuthority(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, pem: pemBlock("CERTIFICATE", der)}, nil
}

// issue signs a leaf certificate; serving ones get 127.0.0.1 and localhost as SANs.
func (a *authority) issue(cn string, orgs []string, serving bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if serving {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", keyDER), nil
}

// pki holds the paths of every file the control plane is started with.
type pki struct {
	caCert, serverCert, serverKey        string
	adminCert, adminKey                  string
	proxyCA, proxyCert, proxyKey         string
	serviceAccountKey, serviceAccountPub string
	admin                                struct{ cert, key, ca []byte }
}

func writePKI(dir string) (*pki, error) {
	p := &pki{}
	ca, err := newAuthority("testcluster-ca")
	if err != nil {
		return nil, err
	}
	proxy, err := newAuthority("testcluster-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	serverCert, serverKey, err := ca.issue("kube-apiserver", nil, true)
	if err != nil {
		return nil, err
	}
	adminCert, adminKey, err := ca.issue("testcluster-admin", []string{"system:masters"}, false)
	if err != nil {
		return nil, err
	}
	proxyCert, proxyKey, err := proxy.issue("front-proxy-client", nil, false)
	if err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	files := []struct {
		path *string
		name string
		data []byte
	}{
		{&p.caCert, "ca.crt", ca.pem},
		{&p.serverCert, "apiserver.crt", serverCert},
		{&p.serverKey, "apiserver.key", serverKey},
		{&p.adminCert, "admin.crt", adminCert},
		{&p.adminKey, "admin.key", adminKey},
		{&p.proxyCA, "front-proxy-ca.crt", proxy.pem},
		{&p.proxyCert, "front-proxy-client.crt", proxyCert},
		{&p.proxyKey, "front-proxy-client.key", proxyKey},
		{&p.serviceAccountKey, "sa.key", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey))},
		{&p.serviceAccountPub, "sa.pub", pemBlock("PUBLIC KEY", saPub)},
	}
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, err
	}
	for _, f := range files {
		*f.path = filepath.Join(pkiDir, f.name)
		if err := os.WriteFile(*f.path, f.data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	p.admin.cert, p.admin.key, p.admin.ca = adminCert, adminKey, ca.pem
	return p, nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
